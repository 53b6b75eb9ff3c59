"""The LM's Transformer: blocks of causal self-attention, cross-attention to the condition and
a GELU feed-forward, pre-norm (MusicGen, AudioGen) or post-norm, no projection biases.

`Transformer` stacks `num_layers` blocks (`nn/stack.py`: a list, or one scanned block with
`scan_layers`; `remat` recomputes activations in the backward pass).
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
from soundgen_jax.text.layers import activation as get_activation


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  dim: int = 1024                 # residual width
  num_heads: int = 16             # attention heads
  num_layers: int = 24            # blocks
  ffn_dim: int = 4096             # feed-forward hidden width
  cross_attention: bool = True    # attend to condition states (text); False: unconditional
  context_dim: int = 0            # width of the states cross-attention reads (0: dim)
  norm_first: bool = True         # pre-norm (MusicGen) or post-norm
  norm_eps: float = 1e-5          # LayerNorm epsilon
  activation: str = "gelu"        # feed-forward activation (exact GELU, as PyTorch's)
  dropout: float = 0.0            # residual and feed-forward dropout in training
  rotary: bool = False            # rotary positions in self-attention
  rotary_base: float = 10000.0    # rotary frequency base
  dtype: str = "float32"          # compute dtype (bfloat16 on accelerators)
  param_dtype: str = "float32"    # parameter dtype
  remat: bool = False             # recompute block activations in the backward pass
  scan_layers: bool = False       # one scanned block instead of a list


class Block(nnx.Module):

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    dt, pdt = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
    d = cfg.dim
    self.self_attn_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.self_attn = Attention(d, cfg.num_heads, rotary=cfg.rotary, rotary_base=cfg.rotary_base,
                               dtype=dt, param_dtype=pdt, rngs=rngs)
    if cfg.cross_attention:
      self.cross_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
      self.cross_attn = Attention(d, cfg.num_heads, cross=True, context_dim=cfg.context_dim,
                                  dtype=dt, param_dtype=pdt, rngs=rngs)
    self.ffn_norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.fc1 = layers.weight(rngs, (cfg.ffn_dim, d), ("mlp", "embed"), d, pdt)
    self.fc2 = layers.weight(rngs, (d, cfg.ffn_dim), ("embed", "mlp"), cfg.ffn_dim, pdt)

  def context_kv(self, context: jax.Array) -> KVCache:
    return self.cross_attn.context_kv(context)

  def __call__(self, x, *, context_kv=None, context_mask=None, mask=None, cache=None, index=0,
               dropout_key=None):
    cfg, dt = self.cfg, jnp.dtype(self.cfg.dtype)
    keys = [None] * 4 if dropout_key is None else list(jax.random.split(dropout_key, 4))

    def residual(x, fn, norm, key):
      if cfg.norm_first:
        y, extra = fn(norm(x))
        return x + layers.dropout(y, cfg.dropout, key), extra
      y, extra = fn(x)
      return norm(x + layers.dropout(y, cfg.dropout, key)), extra

    x, cache = residual(x, lambda h: self.self_attn(h, mask=mask, causal=True, cache=cache,
                                                    index=index),
                        self.self_attn_norm, keys[0])
    if cfg.cross_attention:
      x, _ = residual(x, lambda h: (self.cross_attn.attend_context(h, context_kv, context_mask),
                                    None), self.cross_norm, keys[1])
    act = get_activation(cfg.activation)

    def ffn(h):
      h = act(layers.project(h, self.fc1[...], dt))
      return layers.project(layers.dropout(h, cfg.dropout, keys[3]), self.fc2[...], dt), None

    x, _ = residual(x, ffn, self.ffn_norm, keys[2])
    return x, cache


class Transformer(Stack):
  """num_layers blocks; per-layer caches and condition keys / values as `Stack` passes them."""

  def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    super().__init__(lambda r: Block(cfg, rngs=r), cfg.num_layers, scan=cfg.scan_layers,
                     remat=cfg.remat, rngs=rngs)

  def init_cache(self, batch: int, length: int) -> Any:
    cfg = self.cfg
    one = KVCache.zeros(batch, length, cfg.num_heads, cfg.dim // cfg.num_heads,
                        jnp.dtype(cfg.dtype))
    if cfg.scan_layers:
      return jax.tree.map(lambda a: jnp.broadcast_to(a, (cfg.num_layers,) + a.shape), one)
    return [one] * cfg.num_layers

  def __call__(self, x, *, context_kv=None, context_mask=None, mask=None, cache=None, index=0,
               dropout_key=None):
    """x [B, T, dim] -> (y [B, T, dim], updated caches or None)."""
    def run(blk, h, kv, c, k):
      return blk(h, context_kv=kv, context_mask=context_mask, mask=mask, cache=c, index=index,
                 dropout_key=k)

    x, caches = self.run(run, x, context_kv, cache, self.dropout_keys(dropout_key))
    return x, (caches if cache is not None else None)
