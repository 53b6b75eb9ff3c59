"""Multi-head attention shared by the audio LM (causal self + cross attention, KV cache) and
SoundStorm's Conformer (bidirectional, rotary, padding mask).

Layouts: activations [B, T, dim]; heads [B, T, H, d]. Weights are stored output-first (see
`layers.project`): self-attention's fused q/k/v [3, H, d, dim], cross-attention's q [H, d, dim]
and fused k/v [2, H, d, context_dim], the output [dim, H * d].

Decoding keeps a `KVCache` preallocated for the whole window (in the layouts its matmuls read
without a transpose): each call writes its keys and values at `index` and attends over every
filled position. Cross-attention keys and values of the condition are computed once
(`context_kv`) and passed to every step.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import cpu_kernels, layers, positions as positions_lib


class KVCache(NamedTuple):
  """Keys [B, H, d, L] and values [B, H, L, d]: the layouts the two attention matmuls read as
  they are. In the [B, L, H, d] layout XLA:CPU transposed every layer's whole cache at every
  decode step (more bytes than the weights at MusicGen-small's window)."""
  k: jax.Array
  v: jax.Array

  @classmethod
  def zeros(cls, batch: int, length: int, heads: int, head_dim: int, dtype) -> "KVCache":
    return cls(jnp.zeros((batch, heads, head_dim, length), dtype),
               jnp.zeros((batch, heads, length, head_dim), dtype))

  @classmethod
  def from_heads(cls, k: jax.Array, v: jax.Array) -> "KVCache":
    """From keys / values [B, S, H, d]."""
    return cls(jnp.transpose(k, (0, 2, 3, 1)), jnp.transpose(v, (0, 2, 1, 3)))

  def write(self, k: jax.Array, v: jax.Array, index) -> "KVCache":
    """The cache with keys / values [B, T, H, d] written at positions index..index+T-1."""
    new = KVCache.from_heads(k.astype(self.k.dtype), v.astype(self.v.dtype))
    return KVCache(jax.lax.dynamic_update_slice(self.k, new.k, (0, 0, 0, index)),
                   jax.lax.dynamic_update_slice(self.v, new.v, (0, 0, index, 0)))


def dot_product(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None) -> jax.Array:
  """softmax(q k^T / sqrt(d)) v over keys where mask [B, 1|H, T, S] is True; q, k, v
  [B, T|S, H, d]. `jax.nn.dot_product_attention`, so accelerators get their fused kernels. A
  fully masked row gets a large negative logit everywhere (uniform weights), never NaN."""
  return jax.nn.dot_product_attention(q, k, v, mask=mask)


def attend(q: jax.Array, kv: KVCache, mask: jax.Array | None) -> jax.Array:
  """The same over a KVCache (decoding, the condition's keys): q [B, T, H, d] -> [B, T, H, d];
  the softmax in float32, a fully masked row (the null condition of CFG) uniform."""
  scale = q.shape[-1] ** -0.5
  logits = jnp.einsum("bthd,bhds->bhts", q * jnp.asarray(scale, q.dtype), kv.k.astype(q.dtype),
                      preferred_element_type=jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
  return jnp.einsum("bhts,bhsd->bthd", weights, kv.v.astype(q.dtype))


@jax.custom_vjp
def _attend_filled(q: jax.Array, kv: KVCache, length) -> jax.Array:
  """One decode step's query over cache positions [0, length): on XLA:CPU `cpu_kernels`'
  kernel, which reads only those positions (XLA's attention reads the whole window); its
  gradient is XLA's masked attention's."""
  return cpu_kernels.cached_attention(q, kv.k, kv.v, length)


def _attend_filled_fwd(q, kv, length):
  return _attend_filled(q, kv, length), (q, kv, length)


def _attend_filled_bwd(residuals, dy):
  q, kv, length = residuals
  filled = (jnp.arange(kv.v.shape[2]) < length)[None, None, None]
  _, vjp = jax.vjp(lambda q, kv: attend(q, kv, filled), q, kv)
  return (*vjp(dy), None)


_attend_filled.defvjp(_attend_filled_fwd, _attend_filled_bwd)


class Attention(nnx.Module):
  """Self-attention (causal or not, optional rotary, optional KV cache) or cross-attention."""

  def __init__(self, dim: int, num_heads: int, *, cross: bool = False, context_dim: int = 0,
               rotary: bool = False, rotary_base: float = 10000.0, dtype=jnp.float32,
               param_dtype=jnp.float32, rngs: nnx.Rngs):
    if dim % num_heads:
      raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
    self.num_heads, self.head_dim = num_heads, dim // num_heads
    self.cross, self.rotary, self.rotary_base = cross, rotary, rotary_base
    self.dtype = dtype
    h, d = num_heads, self.head_dim
    if cross:
      c = context_dim or dim
      self.q = layers.weight(rngs, (h, d, dim), ("heads", "kv", "embed"), dim, param_dtype)
      self.kv = layers.weight(rngs, (2, h, d, c), (None, "heads", "kv", "embed"), c,
                              param_dtype)
    else:
      self.qkv = layers.weight(rngs, (3, h, d, dim), (None, "heads", "kv", "embed"), dim,
                               param_dtype)
    self.out = layers.weight(rngs, (dim, h * d), ("embed", "heads"), dim, param_dtype)

  def context_kv(self, context: jax.Array) -> KVCache:
    """Cross-attention keys and values of the condition states [B, S, context_dim]."""
    kv = layers.project(context, self.kv[...], self.dtype)  # [B, S, 2, H, d]
    return KVCache.from_heads(kv[:, :, 0], kv[:, :, 1])

  def _output(self, o: jax.Array) -> jax.Array:
    b, t = o.shape[:2]
    return layers.project(o.reshape(b, t, -1), self.out[...], self.dtype)

  def attend_context(self, x: jax.Array, context: KVCache, context_mask: jax.Array | None
                     ) -> jax.Array:
    """Cross-attention of x [B, T, dim] to precomputed keys / values (mask [B, S])."""
    q = layers.project(x, self.q[...], self.dtype)
    mask = None if context_mask is None else context_mask[:, None, None, :]
    return self._output(attend(q, context, mask))

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None, causal: bool = False,
               positions: jax.Array | None = None, cache: KVCache | None = None,
               index: jax.Array | int = 0) -> tuple[jax.Array, KVCache | None]:
    """Self-attention of x [B, T, dim].

    mask: [B, T] (or [B, L] with a cache) bool, the keys that exist (padding is False).
    positions: [T] or [B, T] for rotary (default: index + arange(T)).
    cache / index: decoding; x's keys and values are written at positions index..index+T-1 of
    the cache, and queries attend to every cache position up to their own. Returns (output,
    the updated cache or None).
    """
    if self.cross:
      raise ValueError("a cross-attention layer is called with attend_context")
    b, t = x.shape[:2]
    qkv = layers.project(x, self.qkv[...], self.dtype)  # [B, T, 3, H, d]
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    if self.rotary:
      pos = index + jnp.arange(t) if positions is None else positions
      q = positions_lib.rotary(q, pos, self.rotary_base)
      k = positions_lib.rotary(k, pos, self.rotary_base)
    q_pos = index + jnp.arange(t)
    if cache is not None:
      cache = cache.write(k, v, index)
      if t == 1 and causal and mask is None and cpu_kernels.usable(q, *cache):  # decode step
        return self._output(_attend_filled(q, cache, index + 1)), cache
      k_pos = jnp.arange(cache.v.shape[2])
      allowed = k_pos[None, :] <= (q_pos[:, None] if causal else index + t - 1)
    else:
      k_pos = jnp.arange(t)
      allowed = (k_pos[None, :] <= q_pos[:, None]) if causal else None
    full = None if allowed is None else allowed[None, None]
    if mask is not None:
      keys = mask[:, None, None, :]
      full = keys if full is None else full & keys
    if cache is not None:
      return self._output(attend(q, cache, full)), cache
    return self._output(dot_product(q, k, v, full)), cache
