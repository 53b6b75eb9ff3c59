"""The Conformer (Gulati et al. 2020) as SoundStorm uses it: bidirectional, rotary positions,
padding-aware.

  block: x + 1/2 FFN(x) -> x + MHSA(LN(x)) [-> x + CrossAttn(LN(x), context)] -> x + Conv(x)
         -> x + 1/2 FFN(x) -> LN
  FFN:   LN -> Linear(dim, ffn_dim) -> swish -> Linear(ffn_dim, dim)   (the macaron half-steps)
  Conv:  LN -> pointwise to 2 dim -> GLU -> depthwise (kernel k, 'same') -> LN -> swish
         -> pointwise

With `mask` [B, T] (True = a real frame) nothing in a padded frame reaches a real one: attention
masks padded keys, and the conv module zeroes padded frames before its depthwise conv (the only
other place frames mix). The optional cross-attention residual (MAGNeT-style text conditioning)
sits right after the self-attention.

`Conformer` stacks blocks like nn/transformer.py's `Transformer`: a Python list, or with
`scan_layers` one block whose parameters carry a leading 'layers' axis, run by `jax.lax.scan`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import layers
from soundgen_jax.nn.attention import Attention, KVCache
from soundgen_jax.nn.stack import Stack
from soundgen_jax.parallel import sharding


@dataclasses.dataclass(frozen=True)
class ConformerConfig:
  """Defaults are SoundStorm's (12 layers, 16 heads, width 1024, FFN 4096, kernel 5)."""
  dim: int = 1024                 # residual width
  num_heads: int = 16             # attention heads
  num_layers: int = 12            # blocks
  ffn_dim: int = 4096             # feed-forward hidden width (both macaron halves)
  conv_kernel: int = 5            # depthwise conv kernel (frames)
  cross_attention: bool = False   # a cross-attention residual after self-attention (text)
  context_dim: int = 0            # width of the states cross-attention reads (0: dim)
  norm_eps: float = 1e-5          # LayerNorm epsilon
  dropout: float = 0.0            # residual, feed-forward and conv dropout in training
  rotary_base: float = 10000.0    # rotary frequency base
  dtype: str = "float32"          # compute dtype (bfloat16 on accelerators)
  param_dtype: str = "float32"    # parameter dtype
  remat: bool = False             # recompute block activations in the backward pass
  scan_layers: bool = False       # one scanned block instead of a list

  def __post_init__(self):
    for name in ("dim", "num_heads", "num_layers", "ffn_dim", "conv_kernel"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class FeedForward(nnx.Module):
  """LN -> Linear -> swish -> Linear, with biases (the Conformer's)."""

  def __init__(self, cfg: ConformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pdt, d, f = jnp.dtype(cfg.param_dtype), cfg.dim, cfg.ffn_dim
    self.norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.fc1 = layers.weight(rngs, (f, d), ("mlp", "embed"), d, pdt)
    self.fc1_bias = layers.zeros((f,), ("mlp",), pdt)
    self.fc2 = layers.weight(rngs, (d, f), ("embed", "mlp"), f, pdt)
    self.fc2_bias = layers.zeros((d,), ("embed",), pdt)

  def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
    dt = jnp.dtype(self.cfg.dtype)
    h = layers.project(self.norm(x), self.fc1[...], dt) + self.fc1_bias[...].astype(dt)
    h = layers.dropout(jax.nn.silu(h), self.cfg.dropout, dropout_key)
    return layers.project(h, self.fc2[...], dt) + self.fc2_bias[...].astype(dt)


def depthwise_same(x: jax.Array, w: jax.Array) -> jax.Array:
  """Depthwise conv of x [B, T, C] with w [C, k], zero 'same' padding (PyTorch's split for
  even k: the extra frame on the right). A sum of k shifted products: exact, and for k = 5 as
  cheap as a grouped convolution."""
  k, t = w.shape[-1], x.shape[1]
  left = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
  w = w.astype(x.dtype)
  return sum(xp[:, i:i + t] * w[:, i] for i in range(k))


class ConvModule(nnx.Module):
  """LN -> pointwise to 2 dim -> GLU -> depthwise -> LN -> swish -> pointwise."""

  def __init__(self, cfg: ConformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pdt, d, k = jnp.dtype(cfg.param_dtype), cfg.dim, cfg.conv_kernel
    self.norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    # GLU's value and gate halves on their own leading axis, so they split cleanly when the
    # hidden channels are sharded.
    self.pointwise_in = layers.weight(rngs, (2, d, d), (None, "mlp", "embed"), d, pdt)
    self.pointwise_in_bias = layers.zeros((2, d), (None, "mlp"), pdt)
    self.depthwise = layers.weight(rngs, (d, k), ("mlp", "conv_kernel"), k, pdt)
    self.depthwise_bias = layers.zeros((d,), ("mlp",), pdt)
    # LayerNorm over each frame's channels, not the paper's BatchNorm: batch statistics would
    # mix padded frames (and other examples) into real ones, and differ between training and
    # decoding.
    self.conv_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.pointwise_out = layers.weight(rngs, (d, d), ("embed", "mlp"), d, pdt)
    self.pointwise_out_bias = layers.zeros((d,), ("embed",), pdt)

  def __call__(self, x: jax.Array, mask: jax.Array | None = None,
               dropout_key: jax.Array | None = None) -> jax.Array:
    """x [B, T, dim], mask [B, T] (True = real frame) -> [B, T, dim]."""
    dt = jnp.dtype(self.cfg.dtype)
    h = layers.project(self.norm(x), self.pointwise_in[...], dt)     # [B, T, 2, dim]
    h = h + self.pointwise_in_bias[...].astype(dt)
    h = h[:, :, 0] * jax.nn.sigmoid(h[:, :, 1])
    if mask is not None:
      # The depthwise conv is the one place besides attention where frames mix: padded frames
      # must be zero here (`where`, not a product, so NaN / Inf junk cannot leak either).
      h = jnp.where(mask[:, :, None], h, 0).astype(dt)
    h = depthwise_same(h, self.depthwise[...]) + self.depthwise_bias[...].astype(dt)
    h = jax.nn.silu(self.conv_norm(h))
    h = layers.dropout(h, self.cfg.dropout, dropout_key)
    return layers.project(h, self.pointwise_out[...], dt) + self.pointwise_out_bias[...].astype(dt)


class ConformerBlock(nnx.Module):

  def __init__(self, cfg: ConformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    dt, pdt, d = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype), cfg.dim
    self.ffn1 = FeedForward(cfg, rngs=rngs)
    self.attn_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.attn = Attention(d, cfg.num_heads, rotary=True, rotary_base=cfg.rotary_base, dtype=dt,
                          param_dtype=pdt, rngs=rngs)
    if cfg.cross_attention:
      self.cross_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
      self.cross_attn = Attention(d, cfg.num_heads, cross=True, context_dim=cfg.context_dim,
                                  dtype=dt, param_dtype=pdt, rngs=rngs)
    self.conv = ConvModule(cfg, rngs=rngs)
    self.ffn2 = FeedForward(cfg, rngs=rngs)
    self.norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)

  def context_kv(self, context: jax.Array) -> KVCache:
    return self.cross_attn.context_kv(context)

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None,
               context_kv: KVCache | None = None, context_mask: jax.Array | None = None,
               dropout_key: jax.Array | None = None) -> jax.Array:
    """x [B, T, dim] -> [B, T, dim]. Without context_kv the cross-attention is skipped, which
    equals attending to a fully masked (null) context: its states are zero and it has no
    biases."""
    rate = self.cfg.dropout
    keys = [None] * 8 if dropout_key is None else list(jax.random.split(dropout_key, 8))
    drop = lambda y, i: layers.dropout(y, rate, keys[i])
    names = ("batch", "length", "embed")
    x = x + 0.5 * drop(self.ffn1(x, keys[0]), 1)
    y, _ = self.attn(self.attn_norm(x), mask=mask, causal=False)
    x = sharding.constrain(x + drop(y, 2), names)
    if self.cfg.cross_attention and context_kv is not None:
      y = self.cross_attn.attend_context(self.cross_norm(x), context_kv, context_mask)
      x = x + drop(y, 3)
    x = x + drop(self.conv(x, mask, keys[4]), 5)
    x = x + 0.5 * drop(self.ffn2(x, keys[6]), 7)
    return sharding.constrain(self.norm(x), names)


class Conformer(Stack):
  """num_layers Conformer blocks (`nn/stack.py`: a list, or one scanned block)."""

  def __init__(self, cfg: ConformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    super().__init__(lambda r: ConformerBlock(cfg, rngs=r), cfg.num_layers,
                     scan=cfg.scan_layers, remat=cfg.remat, rngs=rngs)

  def __call__(self, x: jax.Array, *, mask: jax.Array | None = None, context_kv: Any = None,
               context_mask: jax.Array | None = None, dropout_key: jax.Array | None = None
               ) -> jax.Array:
    """x [B, T, dim], mask [B, T] (True = real frame) -> [B, T, dim]."""
    if mask is not None:
      # Padded inputs may be anything (a NaN from an out-of-range id's gather included).
      x = jnp.where(mask[:, :, None], x, 0).astype(x.dtype)
    def run(blk, h, kv, k):
      return blk(h, mask=mask, context_kv=kv, context_mask=context_mask, dropout_key=k), None

    return self.run(run, x, context_kv, self.dropout_keys(dropout_key))[0]
