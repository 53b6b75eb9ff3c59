"""Fast-compiling initialisers: right moments, deterministic, key- and sharding-independent."""
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

import soundgen_jax  # noqa: F401
from soundgen_jax.nn import init
from soundgen_jax.parallel import sharding


def test_moments_and_range():
  u = np.asarray(init.uniform(jax.random.key(0), (512, 512), -3.0, 3.0))
  assert -3.0 <= u.min() and u.max() < 3.0
  assert abs(u.mean()) < 0.02 and abs(u.std() - 6 / np.sqrt(12)) < 0.01
  n = np.asarray(init.normal(jax.random.key(1), (512, 512), stddev=2.0))
  assert np.isfinite(n).all()
  assert abs(n.mean()) < 0.02 and abs(n.std() - 2.0) < 0.02
  # Tails as a normal's: about 4.55% beyond two standard deviations.
  assert abs(np.mean(np.abs(n) > 4.0) - 0.0455) < 0.003
  # Neighbouring elements are uncorrelated.
  assert abs(np.corrcoef(n.ravel()[:-1], n.ravel()[1:])[0, 1]) < 0.01


def test_deterministic_and_key_dependent():
  a = init.uniform(jax.random.key(0), (1000,))
  np.testing.assert_array_equal(a, init.uniform(jax.random.key(0), (1000,)))
  b = init.uniform(jax.random.fold_in(jax.random.key(0), 1), (1000,))
  assert np.mean(np.asarray(a) == np.asarray(b)) < 0.01


def test_same_values_when_sharded():
  mesh = sharding.make_mesh(data=2, fsdp=2, model=2)
  out = NamedSharding(mesh, P(("data", "fsdp"), "model"))
  draw = lambda: init.normal(jax.random.key(5), (64, 32))
  sharded = jax.jit(draw, out_shardings=out)()
  assert len(sharded.sharding.device_set) == 8
  np.testing.assert_array_equal(np.asarray(sharded), np.asarray(draw()))


def test_untrained_codec_keeps_the_signal_scale():
  """From-scratch convs keep the variance (LeCun), so an untrained SEANet passes its input on
  at about its own scale; PyTorch's default conv init shrinks it ~3x per conv (output ~4e-4
  of the input for tiny), which costs the tiny recipe hundreds of steps."""
  from flax import nnx
  from configs import encodec as encodec_configs
  from soundgen_jax.codecs.codec import Codec, CodecConfig
  from soundgen_jax.parallel import sharding
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  model = sharding.sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
  x = 0.3 * jax.random.normal(jax.random.key(0), (2, 1, 40 * cfg.hop_length))

  @nnx.jit  # one compile, not one per op
  def autoencode(model, x):
    latents = model.encoder(jax.numpy.swapaxes(x, 1, 2))
    return latents, model.decoder(latents)
  latents, y = autoencode(model, x)
  assert 0.3 < float(latents.std()) / 0.3 < 3.0
  assert 0.05 < float(y.std()) / 0.3 < 2.0
