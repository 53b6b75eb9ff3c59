"""launch/train.py end to end: SIGKILL mid-run and resume gives the same losses step for step
as an uninterrupted run; the export works with launch/codec.py; bad flags are one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from soundgen_jax.training import metrics
from train_helpers import small_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOTAL, EVERY = 24, 4


def _env(cache_dir):
  env = dict(os.environ)
  env.update(XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", TF_CPP_MIN_LOG_LEVEL="3")
  env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
  return env


def _cmd(workdir, *extra):
  return [sys.executable, os.path.join(ROOT, "launch", "train.py"),
          "--config=configs/encodec.py:tiny", f"--workdir={workdir}", "--progress=false",
          *small_flags(), f"--config.total_steps={TOTAL}",
          f"--config.checkpoint_every_steps={EVERY}", "--config.eval.num_batches=0", *extra]


def _losses(workdir):
  """step -> every logged number but the timing."""
  out = {}
  for r in metrics.read_metrics(workdir):
    out[r["step"]] = {k: v for k, v in r.items() if k != "steps_per_sec"}
  return out


def test_killed_run_resumes_with_identical_losses(tmp_path, xla_cache_dir):
  env = _env(xla_cache_dir)
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  done = subprocess.run(_cmd(straight), cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]

  proc = subprocess.Popen(_cmd(killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  first = killed / "checkpoints" / str(2 * EVERY)
  deadline = time.time() + 300
  while not first.is_dir() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  _, err = proc.communicate()
  assert proc.returncode == -signal.SIGKILL, err[-3000:]
  steps = sorted(int(p) for p in os.listdir(killed / "checkpoints") if p.isdigit())
  assert steps and steps[-1] < TOTAL, steps  # killed mid-run, after a checkpoint
  assert not (killed / "export").exists()

  resumed = subprocess.run(_cmd(killed), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"resumed from {killed / 'checkpoints'}/" in resumed.stderr
  a, b = _losses(straight), _losses(killed)
  assert sorted(a) == list(range(1, TOTAL + 1))
  assert sorted(b) == sorted(a)
  for step in a:
    assert a[step] == b[step], step  # exactly, not approximately
  assert a[1]["loss"] != a[TOTAL]["loss"]

  # The exported generator is a codec checkpoint for launch/codec.py.
  wav, npz, out = tmp_path / "in.wav", tmp_path / "codes.npz", tmp_path / "out.wav"
  sf.write(wav, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000), 16000)
  codec = [sys.executable, os.path.join(ROOT, "launch", "codec.py")]
  for args in (["encode", str(wav), str(npz)], ["decode", str(npz), str(out)]):
    run = subprocess.run(codec + args + ["--checkpoint", str(killed / "export")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
  codes = np.load(npz)["codes"]
  assert codes.shape == (4, 50)  # 4 levels at 3.2 kbps, 100 frames/s
  assert sf.info(out).frames == 8000


@pytest.mark.parametrize("args,message", [
    (["--config=configs/encodec.py:huge"], "unknown encodec variant 'huge'"),
    (["--config=configs/encodec.py:tiny", "--config.no_such_field=1"], "no_such_field"),
    (["--config=configs/encodec.py:tiny", "--config.batch_size=many"], "batch_size"),
    (["--config=configs/encodec.py:tiny", "--config.quantizer_dropout=maybe"],
     "quantizer_dropout"),
    (["--config=configs/encodec.py:tiny", "--config.data.task=nowhere"], "nowhere"),
    (["--config=configs/encodec.py:tiny"], "--workdir is required"),
])
def test_bad_flags_are_one_line_errors(tmp_path, xla_cache_dir, args, message):
  workdir = [] if "--workdir" in message else [f"--workdir={tmp_path}"]
  run = subprocess.run([sys.executable, os.path.join(ROOT, "launch", "train.py"), *args,
                        *workdir, "--progress=false"], cwd=ROOT, env=_env(xla_cache_dir),
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 2, run.stderr[-3000:]
  lines = [l for l in run.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and message in lines[0], run.stderr[-3000:]
  assert "Traceback" not in run.stderr
