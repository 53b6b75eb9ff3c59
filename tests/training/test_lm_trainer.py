"""The audio LM trainer: an 8-device mesh step equals one device; condition dropout; a run of
launch/train.py killed with SIGKILL resumes with identical losses and exports a model folder
that generation loads."""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from soundgen_jax.lm import pretrained
from soundgen_jax.parallel import sharding
from soundgen_jax.training import lm_trainer, train_state
from soundgen_jax.training import trainer as trainer_lib
from lm_train_helpers import small_lm_config, small_lm_flags
from train_helpers import ROOT, kill_after_checkpoint, launch_env, logged_losses, run_to_end


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def _batch(n=8, seconds=0.2, rate=16000):
  rng = np.random.default_rng(0)
  t = np.arange(int(seconds * rate)) / rate
  audio = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000, (n, 1, 1)) * t).astype(np.float32)
  captions = np.array([f"a sine at {i} hundred hertz" for i in range(n)], object)
  return {"audio": audio, "caption": captions, "valid": np.ones((n,), bool)}


def test_step_on_8_device_mesh_matches_one_device():
  config = small_lm_config(**{"mesh.data": 2, "mesh.fsdp": 2, "mesh.model": 2,
                              "condition_dropout": 0.5, "optimizer.eps": 1e-3})
  trainer = lm_trainer.LMTrainer(config)
  mesh8 = trainer_lib.make_mesh(config)
  mesh1 = sharding.make_mesh(1, 1, 1, devices=jax.devices()[:1])
  abstract, sh8 = trainer_lib.state_shardings(trainer, mesh8)
  sh1 = sharding.state_shardings(abstract, mesh1)
  specs = {s.spec for s in jax.tree.leaves(sh8)}
  assert any("model" in str(s) and "fsdp" in str(s) for s in specs), specs
  state8 = trainer_lib.init_sharded(trainer, sh8)
  state1 = jax.device_put(jax.tree.map(jnp.copy, state8), sh1)
  before = train_state.to_flat(jax.device_get(state8.params))
  batch = trainer.prepare_batch(_batch())
  assert batch["codes"].shape == (8, 4, 20) and batch["text"].shape == (8, 8, 384)
  outs = {}
  for name, mesh, sh, state in (("one", mesh1, sh1, state1), ("eight", mesh8, sh8, state8)):
    b = trainer_lib.to_global(batch, mesh)
    step = trainer_lib.jit_train_step(trainer, sh, trainer_lib.batch_shardings_of(b, mesh), mesh)
    new_state, m, finite = step(state, b)
    assert bool(finite)
    outs[name] = jax.device_get((new_state.params, m))
  (p1, m1), (p8, m8) = outs["one"], outs["eight"]
  for key in ("loss", "ce/q0", "ce/q3", "accuracy/q1"):
    assert _rel(m8[key], m1[key]) < 1e-5, (key, m8[key], m1[key])
  assert abs(float(m1["loss"]) - np.log(256)) < 1.0  # an untrained LM: near-uniform
  after1, after8 = train_state.to_flat(p1), train_state.to_flat(p8)
  moved = 0
  for k in after1:
    d1 = after1[k] - before[k]
    assert _rel(after8[k] - before[k], d1) < 1e-2, k
    moved += float(np.abs(d1).max()) > 0
  assert moved == len(after1)


def test_condition_dropout_nulls_whole_examples():
  config = small_lm_config(condition_dropout=1.0)
  trainer = lm_trainer.LMTrainer(config)
  state = trainer.init_state()
  batch = {k: jnp.asarray(v) for k, v in trainer.prepare_batch(_batch()).items()}
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
