"""BERT encoder in Flax NNX (BERT, MiniLM, sentence-transformers' all-MiniLM-L6-v2).

Word + absolute position + token-type embeddings, then post-norm blocks (attention, GELU
feed-forward, each followed by residual + LayerNorm). No pooler: conditioning uses the token
hidden states. No dropout: the encoder is only run frozen.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.text import layers


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The fields of Hugging Face's `BertConfig` that the encoder uses (same names, defaults)."""
  vocab_size: int = 30522  # wordpiece vocabulary
  hidden_size: int = 768  # width of the residual stream (384 for MiniLM)
  num_hidden_layers: int = 12  # blocks (6 for MiniLM-L6)
  num_attention_heads: int = 12  # heads; head width = hidden_size / heads
  intermediate_size: int = 3072  # feed-forward hidden width
  hidden_act: str = "gelu"  # feed-forward activation (HF name; 'gelu' is the erf form)
  max_position_embeddings: int = 512  # longest input
  type_vocab_size: int = 2  # token types (segments); we always use type 0
  layer_norm_eps: float = 1e-12  # LayerNorm epsilon
  position_embedding_type: str = "absolute"  # the only kind supported

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "BertConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    cfg = cls(**{k: v for k, v in d.items() if k in names})
    if cfg.position_embedding_type != "absolute":
      raise ValueError(f"position_embedding_type {cfg.position_embedding_type!r} is not "
                       "supported; only 'absolute'")
    if cfg.hidden_size % cfg.num_attention_heads:
      raise ValueError(f"hidden_size {cfg.hidden_size} is not a multiple of "
                       f"num_attention_heads {cfg.num_attention_heads}")
    layers.activation(cfg.hidden_act)  # fails early on an unknown activation
    return cfg

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def _zeros(key, shape, dtype=jnp.float32):
  del key
  return jnp.zeros(shape, dtype)


class LayerNorm(nnx.Module):
  """LayerNorm with two-pass statistics in float32 (as PyTorch computes them)."""

  def __init__(self, dim: int, eps: float):
    self.eps = eps
    self.scale = nnx.Param(jnp.ones((dim,), jnp.float32), out_sharding=("embed",))
    self.bias = nnx.Param(jnp.zeros((dim,), jnp.float32), out_sharding=("embed",))

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    x = x - jnp.mean(x, axis=-1, keepdims=True)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
    return x * self.scale[...] + self.bias[...]


class BertBlock(nnx.Module):
  """x = LN(x + attention(x)); x = LN(x + ff(x))."""

  def __init__(self, cfg: BertConfig, *, dtype: Any, rngs: nnx.Rngs):
    d, f, h = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads
    k = d // h
    self.dtype = dtype
    self.act = cfg.hidden_act
    for name in ("q", "k", "v"):
      setattr(self, name, layers.param(rngs, (d, h, k), ("embed", "heads", "kv")))
      setattr(self, name + "_bias", layers.param(rngs, (h, k), ("heads", "kv"), _zeros))
    self.o = layers.param(rngs, (h, k, d), ("heads", "kv", "embed"))
    self.o_bias = layers.param(rngs, (d,), ("embed",), _zeros)
    self.attn_norm = LayerNorm(d, cfg.layer_norm_eps)
    self.wi = layers.param(rngs, (d, f), ("embed", "mlp"))
    self.wi_bias = layers.param(rngs, (f,), ("mlp",), _zeros)
    self.wo = layers.param(rngs, (f, d), ("mlp", "embed"))
    self.wo_bias = layers.param(rngs, (d,), ("embed",), _zeros)
    self.ff_norm = LayerNorm(d, cfg.layer_norm_eps)

  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    dt = self.dtype
    y = x.astype(dt)
    q, k, v = (jnp.einsum("bld,dhk->blhk", y, w[...].astype(dt)) + b[...].astype(dt)
               for w, b in ((self.q, self.q_bias), (self.k, self.k_bias), (self.v, self.v_bias)))
    y = layers.attention(q * (q.shape[-1] ** -0.5), k, v, mask)
    y = jnp.einsum("blhk,hkd->bld", y, self.o[...].astype(dt)) + self.o_bias[...].astype(dt)
    x = self.attn_norm(x + y.astype(jnp.float32))

    y = x.astype(dt) @ self.wi[...].astype(dt) + self.wi_bias[...].astype(dt)
    y = layers.activation(self.act)(y)
    y = y @ self.wo[...].astype(dt) + self.wo_bias[...].astype(dt)
    return self.ff_norm(x + y.astype(jnp.float32))


class BertEncoder(nnx.Module):
  """ids [B, L] int, mask [B, L] bool -> (hidden [B, L, hidden_size] float32, mask)."""

  def __init__(self, config: BertConfig, *, dtype: Any = jnp.float32, rngs: nnx.Rngs):
    d = config.hidden_size
    self.config = config
    self.word_embed = layers.param(rngs, (config.vocab_size, d), ("vocab", "embed"))
    self.pos_embed = layers.param(rngs, (config.max_position_embeddings, d), ("length", "embed"))
    self.type_embed = layers.param(rngs, (config.type_vocab_size, d), (None, "embed"))
    self.embed_norm = LayerNorm(d, config.layer_norm_eps)
    self.layers = nnx.List([BertBlock(config, dtype=dtype, rngs=rngs)
                            for _ in range(config.num_hidden_layers)])

  def __call__(self, ids: jax.Array, mask: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    length = ids.shape[1]
    if length > self.config.max_position_embeddings:
      raise ValueError(f"{length} tokens; this BERT takes at most "
                       f"{self.config.max_position_embeddings}")
    mask = ids != 0 if mask is None else mask.astype(bool)  # [PAD] is 0
    x = (self.word_embed[...][ids] + self.pos_embed[...][:length][None]
         + self.type_embed[...][0])  # one segment: token type 0 everywhere
    x = self.embed_norm(x)
    for block in self.layers:
      x = block(x, mask)
    return x, mask


def mean_pool(hidden: jax.Array, mask: jax.Array) -> jax.Array:
  """Sentence embedding as sentence-transformers makes it: the mean of unmasked tokens."""
  m = mask[..., None].astype(hidden.dtype)
  return (hidden * m).sum(1) / jnp.maximum(m.sum(1), 1e-9)
