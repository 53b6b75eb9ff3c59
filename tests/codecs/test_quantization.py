"""Residual vector quantizer: inference codes, and the training behaviour (k-means init, EMA,
dead codes, commitment, straight-through, quantizer dropout)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from soundgen_jax.codecs.codec import CodecConfig
from soundgen_jax.codecs.quantization import ResidualVectorQuantizer, nearest


def _rvq(q=3, n=16, d=4, **kw):
  return ResidualVectorQuantizer(num_quantizers=q, codebook_size=n, dim=d, rngs=nnx.Rngs(0), **kw)


@nnx.jit
def _train(rvq, x):
  return rvq(x, train=True)


def _clustered(key, b=4, t=64, d=4, centers=8):
  """Data around a few well-separated centres, so k-means has a right answer."""
  k1, k2, k3 = jax.random.split(key, 3)
  mu = 10.0 * jax.random.normal(k1, (centers, d))
  which = jax.random.randint(k2, (b, t), 0, centers)
  return mu[which] + 0.01 * jax.random.normal(k3, (b, t, d)), mu


def test_encode_decode_is_residual_greedy():
  rvq = _rvq()
  x = jax.random.normal(jax.random.key(1), (2, 5, 4))
  codes = rvq.encode(x)
  assert codes.shape == (2, 3, 5) and codes.dtype == jnp.int32
  # Level 0 is the nearest neighbour of x; the decode is the sum of the chosen vectors.
  np.testing.assert_array_equal(codes[:, 0], nearest(x.reshape(-1, 4), rvq.embed[0]).reshape(2, 5))
  expected = sum(rvq.embed[q][codes[:, q]] for q in range(3))
  np.testing.assert_allclose(rvq.decode(codes), expected, rtol=1e-6)
  np.testing.assert_array_equal(rvq.encode(x, n_q=2), codes[:, :2])
  # Each added level brings the reconstruction closer.
  errs = [float(jnp.mean((rvq.decode(codes[:, :k]) - x) ** 2)) for k in (1, 2, 3)]
  assert errs[0] > errs[1] > errs[2]


def test_kmeans_init_on_first_training_batch():
  rvq = _rvq(q=1, n=16)
  x, mu = _clustered(jax.random.key(0))
  before = np.array(rvq.embed[0])
  err_before = float(jnp.mean((rvq(x).quantized - x) ** 2))
  out = _train(rvq, x)
  assert float(rvq.initialized[0]) == 1.0
  assert not np.allclose(before, rvq.embed[0])
  # k-means fitted the data: the level-0 reconstruction error collapses.
  err = float(jnp.mean((out.quantized - x) ** 2))
  assert err < 0.1 * err_before, (err, err_before)
  # A second batch does not re-run k-means (the codebook only moves by EMA).
  embed = np.array(rvq.embed[0])
  _train(rvq, x)
  assert np.abs(np.array(rvq.embed[0]) - embed).max() < 0.5


def test_ema_moves_codes_towards_data():
  rvq = _rvq(q=1, n=4, d=2, decay=0.5, dead_code_threshold=0.0)
  rvq.initialized[...] = jnp.ones((1,))
  rvq.embed[...] = jnp.array([[[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0], [100.0, -100.0]]])
  rvq.embed_sum[...] = rvq.embed[...]
  x = jnp.full((1, 8, 2), 1.0)  # all points go to code 0
  for _ in range(10):
    _train(rvq, x)
  np.testing.assert_allclose(rvq.embed[0, 0], [1.0, 1.0], atol=0.05)


def test_dead_codes_are_replaced_by_batch_vectors():
  rvq = _rvq(q=1, n=8, d=2, dead_code_threshold=2.0)
  rvq.initialized[...] = jnp.ones((1,))
  far = 1e3 * jnp.arange(1, 9, dtype=jnp.float32)[:, None] * jnp.ones((1, 2))
  rvq.embed[...] = far[None]
  rvq.embed_sum[...] = far[None]
  rvq.cluster_size[...] = jnp.full((1, 8), 0.1)
  x = jax.random.normal(jax.random.key(3), (2, 16, 2))
  _train(rvq, x)
  # Every code was unused, so each one now is one of the batch vectors.
  flat = np.array(x.reshape(-1, 2))
  for code in np.array(rvq.embed[0]):
    assert np.min(np.abs(flat - code).sum(-1)) < 1e-5


def test_commitment_and_straight_through():
  rvq = _rvq(q=2)
  x = jax.random.normal(jax.random.key(2), (2, 6, 4))

  def loss(rvq, x):
    out = rvq(x, train=True)
    return jnp.sum(out.quantized * 3.0), out

  grad, out = nnx.grad(loss, argnums=1, has_aux=True)(rvq, x)
  np.testing.assert_allclose(grad, 3.0 * np.ones_like(x))  # identity through the quantizer
  assert float(out.commitment_loss) > 0
  # Commitment pulls the encoder output towards its code: its gradient is x - q.
  g = jax.grad(lambda x: rvq(x, train=False).commitment_loss)(x)
  assert float(jnp.abs(g).sum()) > 0


def test_quantizer_dropout_per_example():
  rvq = _rvq(q=3)
  x = jax.random.normal(jax.random.key(4), (3, 5, 4))
  out = rvq(x, n_active=jnp.array([1, 2, 3]))
  codes = rvq.encode(x)
  for b, k in enumerate([1, 2, 3]):
    np.testing.assert_allclose(out.quantized[b], rvq.decode(codes[b:b + 1, :k])[0], rtol=1e-5,
                               atol=1e-6)


def test_training_step_is_jittable():
  rvq = _rvq(q=2, n=8)

  @nnx.jit
  def step(rvq, x, n_active):
    return rvq(x, n_active, train=True).commitment_loss

  x, _ = _clustered(jax.random.key(5))
  loss = step(rvq, x, jnp.array([1, 2, 2, 1]))
  assert np.isfinite(float(loss))
  assert np.all(np.array(rvq.initialized) == 1.0)


@pytest.mark.parametrize("bandwidth,expected", [(1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32)])
def test_bandwidth_selects_codebooks(bandwidth, expected):
  assert CodecConfig().num_quantizers_for(bandwidth) == expected


def test_unknown_bandwidth_is_a_clear_error():
  with pytest.raises(ValueError, match="not one of"):
    CodecConfig().num_quantizers_for(5.0)
