"""layers.project's hand-written weight gradient (XLA:CPU's faster layout) is autodiff's, and its
two-row path for a decode step's CFG batch (tests/nn/test_cpu_kernels.py) the plain product."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soundgen_jax.nn import layers


@pytest.mark.parametrize("x_shape,w_shape", [((2, 5, 8), (32, 8)),       # x narrower than y
                                             ((2, 5, 32), (8, 32)),      # y narrower
                                             ((3, 16), (2, 4, 3, 16)),   # output-first heads
                                             ((2, 1, 16), (3, 4, 16)),   # CFG decode: two rows
                                             ((1, 1, 16), (24, 16))])
def test_project_gradients_are_autodiffs(x_shape, w_shape):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
  w = jnp.asarray(rng.normal(size=w_shape), jnp.float32)
  y = jnp.asarray(rng.normal(size=x_shape[:-1] + w_shape[:-1]), jnp.float32)

  def plain(x, w):
    return jnp.einsum("...i,oi->...o", x, w.reshape(-1, w.shape[-1])).reshape(y.shape)

  ours = jax.grad(lambda x, w: jnp.sum(layers.project(x, w) * y), argnums=(0, 1))(x, w)
  want = jax.grad(lambda x, w: jnp.sum(plain(x, w) * y), argnums=(0, 1))(x, w)
  for a, b in zip(ours, want):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(layers.project(x, w), plain(x, w), rtol=1e-5, atol=1e-5)


def test_two_row_product_in_bfloat16_accumulates_in_float32():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 1, 512)), jnp.bfloat16)
  w = jnp.asarray(rng.normal(size=(64, 512)), jnp.bfloat16)
  want = np.asarray(x, np.float32) @ np.asarray(w, np.float32).T
  got = layers.project(x, w)
  assert got.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=1e-2, atol=0.1)

