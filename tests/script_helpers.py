"""Shared by the tests of command-line scripts (launch/, scripts/)."""
import contextlib
import io
import os
import runpy
import subprocess
import sys
from unittest import mock

from flax import nnx

from configs import encodec as encodec_configs
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.parallel.sharding import sharded_init
from soundgen_jax.training import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_in_process(path: str, *args: str) -> subprocess.CompletedProcess:
  """Runs a script as __main__ in this process (shares compiled code, keeps the suite fast)."""
  stdout, stderr = io.StringIO(), io.StringIO()
  code = 0
  with mock.patch.object(sys, "argv", [os.path.basename(path), *args]), \
      contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
      runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
      code = e.code or 0
  return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(result, *words):
  """A command that failed on bad input as the CLIs should: exit 2, one `error:` line naming
  `words`, no traceback."""
  assert result.returncode == 2, (result.returncode, result.stderr)
  assert "Traceback" not in result.stderr
  lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error:")]
  assert len(lines) == 1, result.stderr
  for w in words:
    assert w in lines[0], lines[0]


def save_random_codec(directory: str) -> Codec:
  """A randomly initialised tiny codec saved as a checkpoint folder; returns the model."""
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  model = sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
  checkpoints.save_model(directory, model, {"family": "codec", "model": cfg.to_dict()})
  return model
