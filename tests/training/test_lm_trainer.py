"""The audio LM trainer: an 8-device mesh step equals one device; condition dropout; a run of
launch/train.py killed with SIGKILL resumes with identical losses and exports a model folder
that generation loads."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from soundgen_jax.lm import pretrained
from soundgen_jax.training import lm_trainer
from lm_train_helpers import small_lm_config, small_lm_flags
from train_helpers import (ROOT, assert_every_update_matches, captioned_sines,
                           kill_after_checkpoint, launch_env, logged_losses, rel_error,
                           run_to_end, step_on_one_and_eight_devices)


def test_step_on_8_device_mesh_matches_one_device():
  config = small_lm_config(**{"mesh.data": 2, "mesh.fsdp": 2, "mesh.model": 2,
                              "condition_dropout": 0.5, "optimizer.eps": 1e-3})
  trainer = lm_trainer.LMTrainer(config)
  batch = trainer.prepare_batch(captioned_sines())
  assert batch["codes"].shape == (8, 4, 20) and batch["text"].shape == (8, 8, 384)
  before, outs = step_on_one_and_eight_devices(trainer, config, batch)
  (p1, _, m1), (p8, _, m8) = outs["one"], outs["eight"]
  for key in ("loss", "ce/q0", "ce/q3", "accuracy/q1"):
    assert rel_error(m8[key], m1[key]) < 1e-5, (key, m8[key], m1[key])
  assert abs(float(m1["loss"]) - np.log(256)) < 1.0  # an untrained LM: near-uniform
  assert_every_update_matches(before, p1, p8)


def test_condition_dropout_nulls_whole_examples():
  config = small_lm_config(condition_dropout=1.0)
  trainer = lm_trainer.LMTrainer(config)
  state = trainer.init_state()
  batch = {k: jnp.asarray(v) for k, v in trainer.prepare_batch(captioned_sines()).items()}
  lm = state.model("lm")
  null = dict(batch, text=jnp.zeros_like(batch["text"]),
              text_mask=jnp.zeros_like(batch["text_mask"]))
  key = jax.random.key(1)
  dropped = trainer._losses(lm, batch, condition_key=key)  # pylint: disable=protected-access
  nulled = trainer._losses(lm, null)  # pylint: disable=protected-access
  kept = trainer._losses(lm, batch)  # pylint: disable=protected-access
  np.testing.assert_allclose(dropped[0], nulled[0], rtol=1e-6)
  assert np.abs(np.asarray(kept[0]) - np.asarray(nulled[0])).max() > 1e-4


TOTAL, EVERY = 12, 4


def _cmd(workdir):
  return [sys.executable, os.path.join(ROOT, "launch", "train.py"),
          "--config=configs/audiogen.py:tiny", f"--workdir={workdir}", "--progress=false",
          *small_lm_flags(total_steps=TOTAL, checkpoint_every_steps=EVERY,
                          **{"eval.num_batches": 0})]


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
  assert a[TOTAL]["loss"] < a[1]["loss"]
  # The export is a model folder the generation code loads.
  model = pretrained.load(str(killed / "export"))
  assert model.config.dim == 32 and model.pattern.name == "delay"
  assert model.sample_rate == 16000 and model.conditioner is not None
