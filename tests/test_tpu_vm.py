"""launch/tpu_vm.sh with DRY_RUN=1: the gcloud commands it would run for a v4-8 and a v4-32."""
import os
import shlex
import stat
import subprocess
import time

import pytest

from script_helpers import ROOT

SCRIPT = os.path.join(ROOT, "launch", "tpu_vm.sh")
BASE = {"DRY_RUN": "1", "PROJECT": "my-project", "ZONE": "us-central2-b", "NAME": "ss-test",
        "WORKDIR": "gs://my-bucket/runs/soundstorm"}


def _run(*args, **env):
  full = {"PATH": os.environ["PATH"], **BASE, **env}
  return subprocess.run(["bash", SCRIPT, *args], env=full, capture_output=True, text=True,
                        timeout=60)


def _commands(*args, **env):
  r = _run(*args, **env)
  assert r.returncode == 0, r.stderr
  return [shlex.split(line) for line in r.stdout.splitlines() if not line.startswith("#")]


def _find(commands, *words):
  found = [c for c in commands if all(w in c for w in words)]
  assert len(found) == 1, (words, commands)
  return found[0]


def _flag(command, name):
  values = [w.split("=", 1)[1] for w in command if w.startswith(f"--{name}=")]
  assert len(values) == 1, (name, command)
  return values[0]


@pytest.mark.parametrize("accelerator,hosts", [("v4-8", 1), ("v4-32", 4)])
def test_all_prints_create_setup_train_logs_delete(accelerator, hosts):
  commands = _commands("all", "--", "--config.total_steps=1000",
                       ACCELERATOR_TYPE=accelerator, CONFIG="configs/soundstorm.py")
  assert all(c[0] in ("gcloud", "git") for c in commands), commands
  create = _find(commands, "queued-resources", "create")
  assert create[5] == "ss-test" and _flag(create, "node-id") == "ss-test"
  assert _flag(create, "accelerator-type") == accelerator
  assert _flag(create, "runtime-version") == "tpu-ubuntu2204-base"
  assert "--spot" in create and _flag(create, "project") == "my-project"
  assert _flag(_find(commands, "describe"), "format") == "value(state.state)"
  _find(commands, "scp", "--worker=all")
  setup, train = [c for c in commands if "ssh" in c and "--worker=all" in c]
  assert "pip install" in _flag(setup, "command") and ".venv" in _flag(setup, "command")
  remote = _flag(train, "command")
  assert "launch/train.py --config=configs/soundstorm.py" in remote
  assert "gcsfuse" in remote and " my-bucket " in remote  # the gs:// bucket, mounted
  assert "--config.total_steps=1000" in remote
  assert ("JAX_NUM_PROCESSES=4" in remote) == (hosts > 1)
  assert _flag(_find(commands, "ssh", "--worker=0"), "command").startswith("tail")
  delete = _find(commands, "queued-resources", "delete")
  assert "--force" in delete and delete[5] == "ss-test"
  # Order: create, wait, copy, setup, train, logs, delete.
  assert commands.index(create) < commands.index(setup) < commands.index(train) < \
      commands.index(delete) == len(commands) - 1
  assert _run("hosts", ACCELERATOR_TYPE=accelerator).stdout.strip() == str(hosts)


def test_direct_workdir_best_effort_and_repo():
  commands = _commands("all", "--provisioning=best-effort", "--workdir-mode=direct",
                       "--repo=https://example.com/soundgen_jax.git", "--ref=v1",
                       ACCELERATOR_TYPE="v4-32")
  create = _find(commands, "queued-resources", "create")
  assert create[:2] == ["gcloud", "alpha"] and "--best-effort" in create
  assert not any("scp" in c for c in commands)  # cloned on the workers instead
  setup = _flag(commands[2], "command")
  assert "git clone -q https://example.com/soundgen_jax.git" in setup and "checkout -q v1" in setup
  train = _flag(commands[3], "command")
  assert "--workdir=gs://my-bucket/runs/soundstorm" in train and "gcsfuse" not in train


def test_bad_settings_end_in_one_line():
  for args, env, message in [(("train",), {"WORKDIR": "runs/local"}, "WORKDIR=gs://"),
                             (("create",), {"ACCELERATOR_TYPE": "v4"}, "GENERATION-SIZE"),
                             (("create", "--provisioning=cheap"), {}, "PROVISIONING"),
                             (("create", "--colour=red"), {}, "unknown flag"),
                             (("create",), {"PROJECT": ""}, "PROJECT")]:
    r = _run(*args, **env)
    assert r.returncode == 2 and r.stdout == "", (args, r)
    assert r.stderr.startswith("error: ") and message in r.stderr, (args, r.stderr)
    assert len(r.stderr.splitlines()) == 1


def _executable(path, text):
  with open(path, "w") as f:
    f.write("#!/bin/bash\n" + text)
  os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)


def test_train_command_starts_train_py_with_these_arguments(tmp_path):
  """The remote command, run by a shell on a stand-in worker (train.py and gcsfuse faked),
  starts launch/train.py with exactly the flags asked for, through both levels of quoting."""
  odd = "--config.data.manifest=/data/it's a file.jsonl"
  commands = _commands("train", "--", "--config.total_steps=7", odd, ACCELERATOR_TYPE="v4-32")
  remote = _flag(commands[0], "command")
  home, bin_dir = tmp_path / "home", tmp_path / "bin"
  (home / "soundgen_jax" / ".venv" / "bin").mkdir(parents=True)
  bin_dir.mkdir()
  _executable(home / "soundgen_jax" / ".venv" / "bin" / "python",
              'printf "%s\\n" "JAX_NUM_PROCESSES=$JAX_NUM_PROCESSES" "$@" > "$HOME/argv"\n')
  _executable(bin_dir / "gcsfuse", 'echo "$@" > "$HOME/gcsfuse"\n')
  _executable(bin_dir / "mountpoint", "exit 1\n")
  env = {"HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
  r = subprocess.run(["bash", "-c", remote], cwd=home, env=env, capture_output=True, text=True,
                     timeout=30)
  assert r.returncode == 0 and "started, pid" in r.stdout, r
  deadline = time.time() + 30
  while not (home / "train.rc").exists() and time.time() < deadline:
    time.sleep(0.1)
  assert (home / "train.rc").read_text().strip() == "0"
  argv = (home / "argv").read_text().splitlines()
  assert argv == ["JAX_NUM_PROCESSES=4", "launch/train.py", "--config=configs/soundstorm.py",
                  f"--workdir={home}/gcs/my-bucket/runs/soundstorm", "--progress=false",
                  "--config.total_steps=7", odd]
  assert (home / "gcsfuse").read_text().split()[-2:] == ["my-bucket", f"{home}/gcs/my-bucket"]
