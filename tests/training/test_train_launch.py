"""launch/train.py end to end: SIGKILL mid-run and resume gives the same losses step for step
as an uninterrupted run; the export works with launch/codec.py; bad flags are one-line errors."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from script_helpers import run_in_process
from train_helpers import (ROOT, kill_after_checkpoint, launch_env, logged_losses, run_to_end,
                           small_flags)

TOTAL, EVERY = 12, 4


def _cmd(workdir, *extra):
  return [sys.executable, os.path.join(ROOT, "launch", "train.py"),
          "--config=configs/encodec.py:tiny", f"--workdir={workdir}", "--progress=false",
          *small_flags(), f"--config.total_steps={TOTAL}",
          f"--config.checkpoint_every_steps={EVERY}", "--config.eval.num_batches=0", *extra]


def test_killed_run_resumes_with_identical_losses(tmp_path, xla_cache_dir):
  env = launch_env(xla_cache_dir)
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  run_to_end(_cmd(straight), env)
  kill_after_checkpoint(_cmd(killed), killed, env, EVERY, TOTAL)
  assert not (killed / "export").exists()

  resumed = run_to_end(_cmd(killed), env)
  assert f"resumed from {killed / 'checkpoints'}/" in resumed.stderr
  a, b = logged_losses(straight), logged_losses(killed)
  assert sorted(a) == list(range(1, TOTAL + 1))
  assert sorted(b) == sorted(a)
  for step in a:
    assert a[step] == b[step], step  # exactly, not approximately
  assert a[1]["loss"] != a[TOTAL]["loss"]

  # The export carries its run's curves; the exported generator is a codec checkpoint for
  # launch/codec.py.
  assert (killed / "export" / "metrics.jsonl").read_text() == \
      (killed / "metrics.jsonl").read_text()
  wav, npz, out = tmp_path / "in.wav", tmp_path / "codes.npz", tmp_path / "out.wav"
  sf.write(wav, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000), 16000)
  for args in (["encode", str(wav), str(npz)], ["decode", str(npz), str(out)]):
    run = run_in_process(os.path.join(ROOT, "launch", "codec.py"), *args, "--checkpoint",
                         str(killed / "export"))
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
    (["--config=configs/encodec.py:tiny", "--num_processes=2", "--process_id=2"],
     "--process_id=2 is out of range for --num_processes=2"),
])
def test_bad_flags_are_one_line_errors(tmp_path, xla_cache_dir, args, message):
  workdir = [] if "--workdir" in message else [f"--workdir={tmp_path}"]
  run = subprocess.run([sys.executable, os.path.join(ROOT, "launch", "train.py"), *args,
                        *workdir, "--progress=false"], cwd=ROOT, env=launch_env(xla_cache_dir),
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 2, run.stderr[-3000:]
  lines = [l for l in run.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and message in lines[0], run.stderr[-3000:]
  assert "Traceback" not in run.stderr
