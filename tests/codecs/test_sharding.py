"""The codec on an 8-device CPU mesh (data x fsdp x model = 2 x 2 x 2) matches one device."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from configs import encodec as encodec_configs
from soundgen_jax.codecs import inference
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.parallel import sharding


def test_codec_on_mesh_matches_single_device():
  assert jax.device_count() == 8, "tests/conftest.py sets 8 host devices"
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  build = lambda: Codec(cfg, rngs=nnx.Rngs(0))
  mesh = sharding.make_mesh(data=2, fsdp=2, model=2)
  sharded = sharding.sharded_init(build, mesh)
  single = sharding.sharded_init(build)

  # Parameters really are spread over the mesh.
  kernel = sharded.encoder.layers[1].block[1].kernel_v[...]
  assert len(kernel.sharding.device_set) == 8
  assert not kernel.sharding.is_fully_replicated

  rng = np.random.default_rng(0)
  audio = (0.3 * rng.standard_normal((4, 1, 16000))).astype(np.float32)
  batch = jax.device_put(audio, sharding.batch_sharding(mesh, 3))
  with jax.set_mesh(mesh):
    enc_mesh = inference.encode(sharded, batch)
    out_mesh = inference.decode(sharded, enc_mesh.codes, num_samples=audio.shape[-1])
  enc = inference.encode(single, audio)
  out = inference.decode(single, enc.codes, num_samples=audio.shape[-1])
  assert np.mean(enc_mesh.codes == enc.codes) >= 0.999
  np.testing.assert_allclose(out_mesh, out, atol=1e-5 * np.abs(out).max())

  # The training forward (EMA codebook updates included) agrees as well. Codebooks start as
  # initialised: k-means on random data has near-ties that float reduction order can flip.
  n_active = np.array([1, 2, 3, 4])
  for model in (sharded, single):
    model.quantizer.initialized[...] = jnp.ones_like(model.quantizer.initialized[...])

  @nnx.jit
  def train_forward(model, x):
    return model(x, n_active, train=True).audio

  with jax.set_mesh(mesh):
    y_mesh = train_forward(sharded, batch)
  y = train_forward(single, audio)
  np.testing.assert_allclose(np.asarray(y_mesh), np.asarray(y), atol=1e-4 * np.abs(y).max())
  np.testing.assert_allclose(np.asarray(sharded.quantizer.embed[...]),
                             np.asarray(single.quantizer.embed[...]), atol=1e-4)


def test_constrain_pins_activations_only_under_a_traced_mesh():
  mesh = sharding.make_mesh(2, 2, 2)
  x = jnp.ones((8, 6, 4))
  names = ("batch", "length", None)
  assert sharding.constrain(x, names) is x  # no mesh: inference and single-device code

  def f(x):
    with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
      return sharding.constrain(x * 2, names)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  y = jax.jit(f)(jax.device_put(x, replicated))
  assert y.sharding.spec == jax.sharding.PartitionSpec(("data", "fsdp"))
  # A dimension the mesh does not divide stays whole instead of failing.
  z = jax.jit(f)(jax.device_put(jnp.ones((3, 6, 4)), replicated))
  assert z.sharding.is_fully_replicated
