"""The XLA:CPU decode kernels (soundgen_jax/nn/cpu_kernels.cc) against XLA's own products. They
must build here: a missing C++ compiler fails these tests rather than testing the fallback."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from soundgen_jax.nn import attention, cpu_kernels, layers


def _calls(fn, *args) -> str:
  return jax.jit(fn).lower(*args).as_text("hlo")


def test_kernels_build():
  assert cpu_kernels.available(), "the C++ kernels did not build: is a C++ compiler installed?"


@pytest.mark.parametrize("out_dim,in_dim", [(3, 5),          # under one vector of 16 lanes
                                            (37, 100),       # rows and lanes left over
                                            (1030, 1030)])   # over 256 KiB: split over threads
def test_two_row_kernel_is_the_product(out_dim, in_dim):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 1, in_dim)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(out_dim, in_dim)), jnp.float32)
  assert "soundgen_two_row_matvec" in _calls(layers.project, x, w)
  want = np.einsum("bti,oi->bto", np.asarray(x, np.float64), np.asarray(w, np.float64))
  np.testing.assert_allclose(layers.project(x, w), want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("heads,head_dim,window", [(2, 8, 7), (3, 20, 33)])
def test_cached_attention_is_the_causal_forward(heads, head_dim, window):
  """Token by token through the kernel's cache path = one causal forward over the sequence
  (XLA's attention), up to a full window."""
  attn = attention.Attention(heads * head_dim, heads, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (2, window, heads * head_dim))
  want, _ = attn(x, causal=True)

  @jax.jit
  def step(x_t, cache, index):
    return attn(x_t, causal=True, cache=cache, index=index)

  cache = attention.KVCache.zeros(2, window, heads, head_dim, jnp.float32)
  assert "soundgen_cached_attention" in _calls(step, x[:, :1], cache, 0)
  outs = []
  for t in range(window):
    y, cache = step(x[:, t:t + 1], cache, t)
    outs.append(y)
  np.testing.assert_allclose(jnp.concatenate(outs, axis=1), want, rtol=1e-5, atol=1e-5)


def test_cached_attention_gradient_is_xlas():
  """The kernel's custom VJP: gradients through a decode step equal XLA's attention's."""
  attn = attention.Attention(16, 2, rngs=nnx.Rngs(0))
  cache = attention.KVCache(*jax.random.normal(jax.random.key(2), (2, 1, 2, 8, 9)))
  cache = attention.KVCache(cache.k, jnp.swapaxes(cache.v, -1, -2))
  x = jax.random.normal(jax.random.key(3), (1, 1, 16))

  def loss(x, cache, use_kernel):
    if not use_kernel:  # the XLA path: a padding mask of all True keeps the kernel out
      return jnp.sum(attn(x, causal=True, cache=cache, index=4, mask=jnp.ones((1, 9), bool))[0])
    return jnp.sum(attn(x, causal=True, cache=cache, index=4)[0])

  assert "soundgen_cached_attention" in _calls(lambda x, c: loss(x, c, True), x, cache)
  got = jax.grad(loss, argnums=(0, 1))(x, cache, True)
  want = jax.grad(loss, argnums=(0, 1))(x, cache, False)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("w_bytes", [4 * 64 * 48, 4 * 1024 * 300])  # per-row dots; mult + sum
def test_without_the_kernels_decoding_uses_xlas_products(w_bytes, monkeypatch):
  """bfloat16 or no C++ compiler: the same numbers from XLA's two-row forms, no custom call."""
  monkeypatch.setattr(cpu_kernels, "usable", lambda *arrays: False)
  out_dim = w_bytes // 4 // 48 if w_bytes < layers.PER_ROW_MAX_BYTES else 1024
  in_dim = w_bytes // 4 // out_dim
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, 1, in_dim)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(out_dim, in_dim)), jnp.float32)
  assert "custom_call" not in _calls(layers.project, x, w)
  want = np.einsum("bti,oi->bto", np.asarray(x, np.float64), np.asarray(w, np.float64))
  np.testing.assert_allclose(layers.project(x, w), want, rtol=1e-5, atol=1e-4)
