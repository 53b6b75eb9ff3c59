"""The SoundStorm trainer: an 8-device mesh step equals one device; a launch/train.py run
killed with SIGKILL resumes with identical losses and exports a folder that generation loads."""
import os
import sys

import numpy as np

from configs import soundstorm as soundstorm_configs
from soundgen_jax import api
from soundgen_jax.training import soundstorm_trainer
from train_helpers import (ROOT, assert_every_update_matches, captioned_sines,
                           kill_after_checkpoint, launch_env, logged_losses, rel_error,
                           run_to_end, step_on_one_and_eight_devices, with_overrides)

SMALL = {"model.dim": 32, "model.num_heads": 2, "model.num_layers": 1, "model.ffn_dim": 64,
         "data.crop_seconds": 0.2, "text.max_length": 8, "batch_size": 8,
         "eval.batch_size": 8, "eval.num_batches": 1, "log_every_steps": 1,
         "eval_every_steps": 0, "optimizer.warmup_steps": 0, "optimizer.schedule": "constant",
         "optimizer.weight_decay": 0.0}


def _config(**overrides):
  return with_overrides(soundstorm_configs.get_config("tiny"), {**SMALL, **overrides})


def test_step_on_8_device_mesh_matches_one_device():
  config = _config(**{"mesh.data": 2, "mesh.fsdp": 2, "mesh.model": 2, "optimizer.eps": 1e-3})
  trainer = soundstorm_trainer.SoundStormTrainer(config)
  batch = trainer.prepare_batch(captioned_sines())
  assert batch["codes"].shape == (8, 4, 20) and batch["text"].shape == (8, 8, 384)
  before, outs = step_on_one_and_eight_devices(trainer, config, batch)
  (p1, _, m1), (p8, _, m8) = outs["one"], outs["eight"]
  for key in ("loss", "accuracy", "masked_tokens"):
    assert rel_error(m8[key], m1[key]) < 1e-5, (key, m8[key], m1[key])
  assert abs(float(m1["loss"]) - np.log(256)) < 1.0  # untrained: near-uniform
  assert 8 <= float(m1["masked_tokens"]) <= 8 * 20   # one level's tokens, >= 1 per example
  assert_every_update_matches(before, p1, p8)


TOTAL, EVERY = 12, 4


def _cmd(workdir):
  flags = {**SMALL, "total_steps": TOTAL, "checkpoint_every_steps": EVERY,
           "eval.num_batches": 0}
  return [sys.executable, os.path.join(ROOT, "launch", "train.py"),
          "--config=configs/soundstorm.py:tiny", f"--workdir={workdir}", "--progress=false",
          *[f"--config.{k}={v}" for k, v in flags.items()]]


def test_killed_run_resumes_with_identical_losses(tmp_path, xla_cache_dir):
  env = launch_env(xla_cache_dir)
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  run_to_end(_cmd(straight), env)
  kill_after_checkpoint(_cmd(killed), killed, env, EVERY, TOTAL)
  resumed = run_to_end(_cmd(killed), env)
  assert "resumed from" in resumed.stderr
  a, b = logged_losses(straight), logged_losses(killed)
  assert sorted(a) == sorted(b) == list(range(1, TOTAL + 1))
  for step in a:
    assert a[step] == b[step], step
  # The export is a SoundStorm folder the generation API loads.
  storm = api.SoundStorm.get_pretrained(str(killed / "export"))
  assert storm.model.config.dim == 32 and storm.sample_rate == 16000
  assert storm.steps_for(0) == (16, 1, 1, 1) and storm.max_duration == 0.2
