"""The codec GAN trainer on the shared loop: mesh equivalence, configs, dropout (the NaN stop is the shared loop's: test_trainer_loop.py)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from configs import encodec, soundstream
from soundgen_jax.parallel import sharding
from soundgen_jax.training import codec_trainer, train_state
from soundgen_jax.training import trainer as trainer_lib
from train_helpers import SineIterator, tiny_config


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def test_step_on_8_device_mesh_matches_one_device():
  # Adam's first step is lr * g / (|g| + eps): for |g| near eps it turns summation-order noise
  # (different on 8 devices) into parameter changes of order lr. A larger eps keeps the update a
  # smooth function of the gradient, so equal gradients show as equal parameters.
  config = tiny_config(**{"mesh.data": 2, "mesh.fsdp": 2, "mesh.model": 2,
                          "optimizer.generator.eps": 1e-3, "optimizer.discriminator.eps": 1e-3})
  trainer = codec_trainer.CodecTrainer(config)
  mesh8 = sharding.mesh_from_config(config.mesh)
  mesh1 = sharding.make_mesh(1, 1, 1, devices=jax.devices()[:1])
  abstract, sh8 = sharding.abstract_shardings(trainer.init_state, mesh8)
  sh1 = sharding.state_shardings(abstract, mesh1)
  state8 = sharding.init_sharded(trainer.init_state, sh8)
  state1 = jax.device_put(jax.tree.map(jnp.copy, state8), sh1)
  # Something is really split: a conv kernel over fsdp x model, the batch over data x fsdp.
  specs = {s.spec for s in jax.tree.leaves(sh8)}
  assert any("model" in str(s) and "fsdp" in str(s) for s in specs), specs

  before = train_state.to_flat(jax.device_get(state8.params))
  batch = trainer.prepare_batch(
      next(SineIterator(config.data, split="train", batch_size=8, seed=0)))
  outs = {}
  for name, mesh, sh, state in (("one", mesh1, sh1, state1), ("eight", mesh8, sh8, state8)):
    b = sharding.to_global(batch, mesh)
    step = trainer_lib.jit_train_step(trainer, sh, sharding.batch_shardings(b, mesh), mesh)
    new_state, m, finite = step(state, b)
    assert bool(finite)
    outs[name] = jax.device_get((new_state.params, new_state.variables, m))
  assert b["audio"].sharding.spec == P(("data", "fsdp"), None, None)
  (p1, v1, m1), (p8, v8, m8) = outs["one"], outs["eight"]
  for key in ("loss", "l_t", "l_f", "l_g", "l_feat", "d_loss", "commitment"):
    assert _rel(m8[key], m1[key]) < 1e-5, (key, m8[key], m1[key])
  # Gradients of the hinge loss sum many terms of both signs through the discriminator, so
  # their norms agree less closely than the losses and the updated parameters.
  for key in ("grad_norm/generator", "grad_norm/discriminator"):
    assert _rel(m8[key], m1[key]) < 1e-3, (key, m8[key], m1[key])
  for model in p1:  # updated parameters, relative over each model
    flat1, flat8 = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(p[model])])
                    for p in (p1, p8))
    assert _rel(flat8, flat1) < 1e-5, model
  # Each parameter's own update, so one wrong gradient cannot hide in a whole model's norm (it
  # did: Shardy mis-partitioned the last encoder conv's kernel gradient, 100% off, while the
  # whole generator agreed to 1e-5). Updates far below lr (gradients far below eps) carry the
  # summation-order noise: seen up to 2.5e-3 (the discriminator's first convs; 3.4e-3 in the
  # generator with PyTorch-scaled conv init), the same with GSPMD.
  after1, after8 = train_state.to_flat(p1), train_state.to_flat(p8)
  for k in after1:
    assert _rel(after8[k] - before[k], after1[k] - before[k]) < 1e-2, k
  flat1, flat8 = train_state.to_flat(v1), train_state.to_flat(v8)  # EMA codebooks
  assert flat8.keys() == flat1.keys()
  for k in flat1:
    if np.issubdtype(np.asarray(flat1[k]).dtype, np.floating):
      assert _rel(flat8[k], flat1[k]) < 1e-5, k
  # The step changed the parameters (the comparison above is not of two untouched copies).
  assert all(_rel(after1[k], before[k]) > 1e-6 for k in before if k.endswith("kernel_v.value"))


def test_train_state_flat_round_trip():
  state = {"a": {"k": jax.random.key(3), "w": jnp.arange(3.0)}, "b": [jnp.ones((2,), jnp.int32)]}
  flat = train_state.to_flat(state)
  assert set(flat) == {"a.k", "a.w", "b.0"}
  assert flat["a.k"].dtype == jnp.uint32
  back = train_state.from_flat(jax.eval_shape(lambda: state), flat)
  assert jnp.array_equal(jax.random.key_data(back["a"]["k"]), jax.random.key_data(state["a"]["k"]))
  np.testing.assert_array_equal(back["a"]["w"], state["a"]["w"])
  with pytest.raises(KeyError, match="a.w"):
    train_state.from_flat(jax.eval_shape(lambda: state), {"a.k": flat["a.k"], "b.0": flat["b.0"]})


@pytest.mark.parametrize("mode", ["bandwidths", "levels", "off"])
def test_quantizer_dropout(mode):
  config = encodec.get_config("tiny")
  config.quantizer_dropout = mode
  trainer = codec_trainer.CodecTrainer(config)
  n = np.asarray(trainer.n_active(jax.random.key(0), 4096))
  q = config.model.num_quantizers
  if mode == "bandwidths":  # one level count per bandwidth (0.8 / 1.6 / 3.2 kbps: 1, 2, 4)
    assert set(n.tolist()) == {1, 2, 4}
  elif mode == "levels":
    assert set(n.tolist()) == set(range(1, q + 1))
  else:
    assert set(n.tolist()) == {q}


@pytest.mark.parametrize("module,variant", [
    (encodec, "tiny"), (encodec, "base"), (encodec, "24khz"), (encodec, "48khz"),
    (encodec, "32khz"), (soundstream, "tiny"), (soundstream, "base")])
def test_every_variant_builds_a_trainer(module, variant):
  config = module.get_config(variant)
  trainer = codec_trainer.CodecTrainer(config)
  assert config.data.sample_rate == config.model.sample_rate
  assert set(trainer.optimizers()) == {"generator", "discriminator"}
  assert config.optimizer.generator.b1 == 0.5 and config.optimizer.generator.b2 == 0.9
  abstract = jax.eval_shape(trainer.init_state)
  disc = type(abstract.graphdefs["discriminator"]).__name__
  assert disc  # built abstractly: every shape is consistent
  if module is soundstream:
    assert config.discriminator.kind == "soundstream" and config.quantizer_dropout == "levels"


def test_every_config_field_has_a_comment():
  for path in ("configs/encodec.py",):
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", path)).read()
    body = src[src.index("def trainer_config"):src.index("def get_config")]
    for line in body.splitlines():
      if line.strip().startswith(("config.", "o.")) and " = " in line \
          and "ConfigDict()" not in line:
        assert "#" in line, line


@pytest.mark.parametrize("field,value,match", [
    ("quantizer_dropout", "sometimes", "quantizer_dropout"),
    ("discriminator.kind", "mpd", "discriminator.kind"),
    ("discriminator.update_every", 0, "update_every"),
    ("ema_decay", 1.0, "ema_decay"),
    ("eval.bandwidths", (5.0,), "eval.bandwidths"),
    ("optimizer.generator.schedule", "linear", "schedule"),
    ("model.codebook_size", 100, "codebook_size"),
])
def test_bad_config_values_are_config_errors(field, value, match):
  config = encodec.get_config("tiny")
  *parents, leaf = field.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = value
  with pytest.raises(trainer_lib.ConfigError, match=match):
    codec_trainer.CodecTrainer(config)


def test_no_adversarial_losses_trains_without_a_discriminator():
  config = encodec.get_config("tiny")
  config.loss.adversarial = config.loss.feature = 0.0
  trainer = codec_trainer.CodecTrainer(config)
  assert set(trainer.optimizers()) == {"generator"}
  assert set(jax.eval_shape(trainer.init_state).params) == {"generator"}


def test_tiny_warms_up_on_reconstruction_losses_then_trains_the_gan():
  config = encodec.get_config("tiny")
  trainer = codec_trainer.CodecTrainer(config)
  start = config.loss.adversarial_start_step
  assert 0 < start < config.total_steps
  assert [trainer.phase(s) for s in (1, start, start + 1)] == ["warmup", "warmup", "gan"]
  assert set(trainer.warmup_balancer.weights) == {"l_t", "l_sisnr", "l_f"}
  assert set(trainer.balancer.weights) == {"l_t", "l_sisnr", "l_f", "l_g", "l_feat"}
  extra = jax.eval_shape(trainer.init_state).extra
  assert set(extra["balancer_warmup"]["norm_sum"]) == {"l_t", "l_sisnr", "l_f"}
  # The published recipes start with the GAN.
  assert codec_trainer.CodecTrainer(encodec.get_config("base")).phase(1) == "gan"
