"""Every launch/ and scripts/ command prints only its own output: no TensorFlow / absl start-up
noise in a user's environment (the suite's TF_CPP_MIN_LOG_LEVEL is taken out)."""
import glob
import os
import re
import subprocess
import sys

from soundgen_jax import startup
from script_helpers import ROOT

# A C++ log line (absl / TSL): "I0000 00:00:1796154600.176309   15988 port.cc:153] ...".
_CPP_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]")
# A command that loads TensorFlow and seqio on the way (the example; the other
# entry points are held to the import order below), and one that fails early (one line).
_COMMANDS = {
    "scripts/evaluate_codec.py --help": 0,
    "launch/train.py": 2,  # no flags
    "launch/train.py --help": 0,
}
# A module-level or function-level import that can load TensorFlow (or jax, which sets
# TF_CPP_MIN_LOG_LEVEL itself).
_LOADS = re.compile(r"^\s*(?:import|from) (?:jax|flax|tensorflow\w*|seqio|orbax|clu)\b|"
                    r"^\s*from soundgen_jax(?:\.(?!cli\b|audio\b|startup\b)\w+| import "
                    r"(?!cli\b|audio\b|startup\b))", re.M)
_CLI = re.compile(r"^\s*from soundgen_jax import cli\b", re.M)


def test_commands_print_no_start_up_noise():
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  # All at once: each is mostly the interpreter importing jax and TensorFlow.
  procs = {c: subprocess.Popen([sys.executable, *c.split()], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
           for c in _COMMANDS}
  for command, proc in procs.items():
    out, err = proc.communicate(timeout=300)
    noise = [line for line in err.splitlines() if startup.is_noise(line) or _CPP_LOG.match(line)]
    assert not noise, f"{command}: {noise}"
    assert proc.returncode == _COMMANDS[command], f"{command}: {err}"
    if proc.returncode == 0:
      assert out.strip() and not err.strip(), f"{command}: {err}"
    else:
      assert re.fullmatch(r"error: [^\n]+\n", err), f"{command}: {err}"


def test_every_entry_point_quiets_tensorflow_first():
  paths = glob.glob(os.path.join(ROOT, "launch", "*.py")) + \
      glob.glob(os.path.join(ROOT, "scripts", "*.py"))
  assert len(paths) >= 10
  for path in paths:
    name = os.path.relpath(path, ROOT)
    with open(path) as f:
      source = f.read()
    first_load = _LOADS.search(source)
    cli = _CLI.search(source)
    assert cli and (not first_load or cli.start() < first_load.start()), \
        f"{name}: import soundgen_jax.cli before anything that loads jax or TensorFlow"
