"""Who a process is, from launch/train.py's flags or the environment; bad values are one line."""
import re

import pytest

from soundgen_jax.parallel import distributed


def test_flags_win_over_the_environment():
  env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4",
         "JAX_PROCESS_ID": "3"}
  assert distributed.resolve(environ=env) == distributed.Processes("10.0.0.1:1234", 4, 3)
  got = distributed.resolve("127.0.0.1:99", 2, 0, environ=env)
  assert got == distributed.Processes("127.0.0.1:99", 2, 0) and got.multi
  alone = distributed.resolve(environ={})
  assert alone == distributed.Processes() and not alone.multi
  assert not distributed.initialize(alone)  # one process: nothing to start


@pytest.mark.parametrize("args,env,message", [
    ((None, 2, 2), {}, "--process_id=2 is out of range for --num_processes=2 (use 0 to 1)"),
    ((None, 2, -1), {}, "--process_id=-1 is out of range"),
    ((None, 0, None), {}, "--num_processes=0: use 1 or more"),
    ((None, None, 1), {}, "--process_id=1 needs --num_processes"),
    (("localhost", 2, 0), {}, "--coordinator_address='localhost': use HOST:PORT"),
    ((None, None, None), {"JAX_NUM_PROCESSES": "two"}, "JAX_NUM_PROCESSES='two' is not a whole"),
])
def test_bad_values_are_one_line_errors(args, env, message):
  with pytest.raises(ValueError, match="^" + re.escape(message)):
    distributed.resolve(*args, environ=env)
