"""launch/train.py on two local processes (launch/local_multihost.sh), for the codec and the
audio LM: 2 processes x 1 device log the same losses as 1 process x 2 devices, each process
reading its own data shard; a SIGTERM stops both after the same step with a checkpoint of it;
with that checkpoint's files truncated, a 1-process rerun sets it aside in one line and
continues from the one before, written by the 2 processes, with the same losses (and the LM's
export loads for generation). One flow per family keeps the launches (and the suite's time)
down."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from soundgen_jax.lm import pretrained
from lm_train_helpers import small_lm_flags
from train_helpers import ROOT, launch_env, logged_losses, run_to_end, small_flags

EVERY, BATCH = 2, 8
TOTAL = {"codec": 8, "lm": 12}  # the LM's steps are quicker than SIGTERM reaches both processes
SCRIPT = os.path.join(ROOT, "launch", "local_multihost.sh")
# The codec smaller still and without its GAN: its train step compiles in half the time (each
# of the two processes compiles it: only process 0 writes jax's compilation cache).
CODEC = ["--config.loss.adversarial=0", "--config.loss.feature=0", "--config.model.ratios=(4, 2)",
         "--config.loss.mel_scales=(6,)"]


def _flags(family, workdir):
  common = [f"--workdir={workdir}", "--progress=false", f"--config.total_steps={TOTAL[family]}",
            f"--config.checkpoint_every_steps={EVERY}", "--config.keep_checkpoints=10",
            "--config.eval.num_batches=0", f"--config.batch_size={BATCH}"]
  if family == "codec":
    return ["--config=configs/encodec.py:tiny", *small_flags(), *CODEC, *common]
  return ["--config=configs/audiogen.py:tiny", *small_lm_flags(), *common]


def _two_devices(env):
  return dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=2")


def _sigterm_after(cmd, workdir, env, logged):
  """Runs `cmd`, SIGTERMs it once `logged` steps are in metrics.jsonl; returns (the step its
  one `preempted` line names, its stderr), having checked it exited 0."""
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  metrics = workdir / "metrics.jsonl"
  deadline = time.time() + 400
  while proc.poll() is None and time.time() < deadline:
    if metrics.exists() and len(metrics.read_text().splitlines()) >= logged:
      break
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-3000:]
  lines = [l for l in err.splitlines() if l.startswith("preempted")]
  assert len(lines) == 1, err[-3000:]
  return int(lines[0].split("checkpoint of step ")[1].split()[0]), err


def _assert_same(a, b, steps):
  """Every logged value within 1e-5 relative; a perplexity through its log, the cross-entropy
  it is exp of (exp turns the losses' last-ulp differences into ~1e-6 relative ones). Two
  processes sum gradients in another order than one: with the tiny LM's rotary positions the
  gradient norm differed by 1.1e-6 relative after 11 steps. A wrong batch or a stale state
  changes the values themselves, not their last digits."""
  for step in steps:
    assert a[step].keys() == b[step].keys(), step
    for k, v in a[step].items():
      w = b[step][k]
      if k.startswith("perplexity"):
        v, w = np.log(v), np.log(w)
      assert abs(w - v) <= 1e-5 * abs(v), (step, k, v, w)


@pytest.mark.parametrize("family", ["codec", "lm"])
def test_two_processes_preempted_damaged_and_resumed_in_one(family, tmp_path, xla_cache_dir):
  env, total = launch_env(xla_cache_dir), TOTAL[family]
  straight, multi = tmp_path / "straight", tmp_path / "multi"
  one = [sys.executable, os.path.join(ROOT, "launch", "train.py")]
  run_to_end(one + _flags(family, straight), _two_devices(env))
  a = logged_losses(straight)
  assert sorted(a) == list(range(1, total + 1))

  # Two processes, SIGTERM to both (the script passes it on) after a random logged step.
  logged = random.randint(2, 4)
  step, _ = _sigterm_after([SCRIPT, "2", *_flags(family, multi)], multi,
                           dict(env, PYTHON=sys.executable), logged)
  assert logged < step < total
  saved = multi / "checkpoints" / str(step)
  assert saved.is_dir()
  b = logged_losses(multi)
  assert sorted(b) == list(range(1, step + 1))
  _assert_same(a, b, b)
  # Each process read its own shard: blocks 0, 2, 4, ... and 1, 3, 5, ... of 4 examples.
  with open(saved / "data" / "metadata") as f:
    shards = json.load(f)["iterator"]
  assert [(s["shard_index"], s["num_shards"]) for s in shards] == [(0, 2), (1, 2)]
  assert [s["position"] for s in shards] == [step * BATCH // 2] * 2

  # Truncate the newest checkpoint's array files; one process with 2 devices resumes from the
  # one before (written by the two) and continues as the straight run did.
  arrays = [os.path.join(r, f) for r, _, fs in os.walk(saved / "state") for f in fs
            if os.path.basename(r) == "d"]
  assert arrays
  for path in arrays:
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  resumed = run_to_end(one + _flags(family, multi), _two_devices(env))
  before = (step - 1) // EVERY * EVERY
  damaged = [l for l in resumed.stderr.splitlines() if "is damaged" in l]
  assert len(damaged) == 1 and damaged[0].startswith(f"checkpoint {step} is damaged"), \
      resumed.stderr[-3000:]
  assert "Traceback" not in resumed.stderr
  assert (multi / "checkpoints" / f"{step}.damaged").is_dir()
  assert f"resumed from {multi / 'checkpoints'}/{before}" in resumed.stderr
  b = logged_losses(multi)
  assert sorted(b) == list(range(1, total + 1))
  _assert_same(a, b, b)
  assert a[1]["loss"] != a[total]["loss"] and np.isfinite(a[total]["loss"])
  if family == "lm":  # the export is a model folder the generation code loads
    model = pretrained.load(str(multi / "export"))
    assert model.config.dim == 32 and model.pattern.name == "delay"
    assert model.sample_rate == 16000 and model.conditioner is not None


def test_local_multihost_fails_when_a_process_fails(tmp_path):
  run = subprocess.run([SCRIPT, "2", "--config=configs/encodec.py:huge", f"--workdir={tmp_path}"],
                       cwd=ROOT, env=dict(launch_env(str(tmp_path)), PYTHON=sys.executable),
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 2, run.stderr[-3000:]
  assert "unknown encodec variant 'huge'" in run.stderr
  bad = subprocess.run([SCRIPT, "two"], cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert bad.returncode == 2 and bad.stderr.startswith("error: usage")
