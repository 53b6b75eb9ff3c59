"""The audio LM trainer: an 8-device mesh step equals one device; condition dropout. (Its runs
of launch/train.py, preempted and resumed on two processes, are test_multiprocess.py's.)"""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.training import lm_trainer
from lm_train_helpers import small_lm_config
from train_helpers import (assert_every_update_matches, captioned_sines, rel_error,
                           step_on_one_and_eight_devices)


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
  losses = nnx.jit(trainer._losses)  # pylint: disable=protected-access  # op by op: 20 s
  dropped = losses(lm, batch, condition_key=jax.random.key(1))
  nulled, kept = losses(lm, null), losses(lm, batch)
  np.testing.assert_allclose(dropped[0], nulled[0], rtol=1e-6)
  assert np.abs(np.asarray(kept[0]) - np.asarray(nulled[0])).max() > 1e-4
