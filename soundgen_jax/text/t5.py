"""T5 encoder in Flax NNX (T5 v1.0, v1.1, FLAN-T5, mT5, ByT5): a frozen text encoder.

Pre-norm blocks with RMS norms (no bias, no mean), unscaled dot-product attention, one table of
bucketed relative-position biases made in the first layer and shared by all layers, a relu
(v1.0) or gated-gelu (v1.1 / FLAN) feed-forward, and a final norm. No dropout: the encoder is
only run frozen, to condition the audio models.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.text import layers


@dataclasses.dataclass(frozen=True)
class T5Config:
  """The encoder's fields of Hugging Face's `T5Config` (same names, same defaults)."""
  vocab_size: int = 32128  # embedding rows (32128 for the T5 / FLAN sentencepiece, 384 ByT5)
  d_model: int = 512  # width of the residual stream
  d_kv: int = 64  # width of one attention head
  d_ff: int = 2048  # width of the feed-forward hidden layer
  num_layers: int = 6  # encoder blocks
  num_heads: int = 8  # attention heads
  relative_attention_num_buckets: int = 32  # relative-position buckets (both directions)
  relative_attention_max_distance: int = 128  # distance from which all positions share a bucket
  feed_forward_proj: str = "relu"  # 'relu' (v1.0), 'gated-gelu' (v1.1, FLAN), 'gated-silu', ...
  layer_norm_epsilon: float = 1e-6  # RMS norm epsilon

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "T5Config":
    """Keeps the encoder's fields of a (Hugging Face or our) config dict, ignores the rest."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @property
  def gated(self) -> bool:
    return self.feed_forward_proj.startswith("gated-")

  @property
  def activation(self) -> str:
    parts = self.feed_forward_proj.split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
      raise ValueError(f"feed_forward_proj {self.feed_forward_proj!r}: use 'ACT' or 'gated-ACT'")
    # T5 v1.1 was trained with the tanh approximation; HF maps the old name to it.
    name = "gelu_new" if self.feed_forward_proj == "gated-gelu" else parts[-1]
    layers.activation(name)  # fails early on an unknown one
    return name


def relative_position_buckets(length: int, num_buckets: int, max_distance: int) -> np.ndarray:
  """Bidirectional T5 buckets of (key - query) positions, [length, length] int32.

  Half the buckets per direction are exact offsets, the rest log-spaced up to `max_distance`.
  Computed in numpy float32 at trace time (lengths are static), like the reference, so the
  log-spaced bucket edges fall on the same side.
  """
  rel = np.arange(length)[None, :] - np.arange(length)[:, None]
  half = num_buckets // 2
  buckets = (rel > 0).astype(np.int32) * half
  rel = np.abs(rel)
  max_exact = half // 2
  scaled = (np.log(np.maximum(rel, 1).astype(np.float32) / max_exact)
            / np.float32(math.log(max_distance / max_exact)) * (half - max_exact))
  large = np.minimum(max_exact + scaled.astype(np.int32), half - 1)
  return (buckets + np.where(rel < max_exact, rel, large)).astype(np.int32)


class RMSNorm(nnx.Module):
  """T5LayerNorm: scale only, no mean subtraction, statistics in float32."""

  def __init__(self, dim: int, eps: float):
    self.eps = eps
    self.scale = nnx.Param(jnp.ones((dim,), jnp.float32), out_sharding=("embed",))

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps) * self.scale[...]


class T5Block(nnx.Module):
  """Pre-norm self-attention + pre-norm feed-forward, both residual."""

  def __init__(self, cfg: T5Config, *, dtype: Any, rngs: nnx.Rngs):
    d, h, k, f = cfg.d_model, cfg.num_heads, cfg.d_kv, cfg.d_ff
    self.dtype = dtype
    self.act = cfg.activation
    self.attn_norm = RMSNorm(d, cfg.layer_norm_epsilon)
    self.q = layers.param(rngs, (d, h, k), ("embed", "heads", "kv"))
    self.k = layers.param(rngs, (d, h, k), ("embed", "heads", "kv"))
    self.v = layers.param(rngs, (d, h, k), ("embed", "heads", "kv"))
    self.o = layers.param(rngs, (h, k, d), ("heads", "kv", "embed"))
    self.ff_norm = RMSNorm(d, cfg.layer_norm_epsilon)
    self.wi = layers.param(rngs, (d, f), ("embed", "mlp"))
    self.wi_gate = layers.param(rngs, (d, f), ("embed", "mlp")) if cfg.gated else None
    self.wo = layers.param(rngs, (f, d), ("mlp", "embed"))

  def __call__(self, x: jax.Array, mask: jax.Array, bias: jax.Array) -> jax.Array:
    dt = self.dtype
    y = self.attn_norm(x).astype(dt)
    q, k, v = (jnp.einsum("bld,dhk->blhk", y, w[...].astype(dt)) for w in (self.q, self.k, self.v))
    y = layers.attention(q, k, v, mask, bias)  # T5 folds 1/sqrt(d_kv) into its init: no scaling
    x = x + jnp.einsum("blhk,hkd->bld", y, self.o[...].astype(dt)).astype(jnp.float32)

    y = self.ff_norm(x).astype(dt)
    hidden = layers.activation(self.act)(y @ self.wi[...].astype(dt))
    if self.wi_gate is not None:  # v1.1: act(x W0) * (x W1); HF names them wi_0, wi_1
      hidden = hidden * (y @ self.wi_gate[...].astype(dt))
    return x + (hidden @ self.wo[...].astype(dt)).astype(jnp.float32)


class T5Encoder(nnx.Module):
  """ids [B, L] int, mask [B, L] bool -> (hidden [B, L, d_model] float32, mask)."""

  def __init__(self, config: T5Config, *, dtype: Any = jnp.float32, rngs: nnx.Rngs):
    self.config = config
    self.dtype = dtype
    self.embed = nnx.Embed(config.vocab_size, config.d_model, rngs=rngs,
                           embedding_init=nnx.with_partitioning(
                               nnx.initializers.normal(1.0), ("vocab", "embed")))
    # [buckets, heads], used by every layer; the buckets table is tiny, so it is replicated.
    self.rel_bias = layers.param(rngs, (config.relative_attention_num_buckets, config.num_heads),
                                 (None, "heads"))
    self.layers = nnx.List([T5Block(config, dtype=dtype, rngs=rngs)
                            for _ in range(config.num_layers)])
    self.final_norm = RMSNorm(config.d_model, config.layer_norm_epsilon)

  def position_bias(self, length: int) -> jax.Array:
    buckets = relative_position_buckets(length, self.config.relative_attention_num_buckets,
                                        self.config.relative_attention_max_distance)
    return jnp.transpose(self.rel_bias[...][buckets], (2, 0, 1))[None]  # [1, H, L, L]

  def __call__(self, ids: jax.Array, mask: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    mask = ids != 0 if mask is None else mask.astype(bool)  # T5's pad id is 0
    x = self.embed.embedding[...][ids]  # T5 does not scale its embeddings
    bias = self.position_bias(ids.shape[1])
    for block in self.layers:
      x = block(x, mask, bias)
    return self.final_norm(x), mask
