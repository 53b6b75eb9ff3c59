"""The audio LM (MusicGen / AudioGen): a decoder-only Transformer over K parallel codebook
streams laid out by a pattern (lm/patterns.py), cross-attending to text states.

  seq [B, K, S] -> K embeddings (codebook_size + 1 rows: the last is the special / start token)
  summed -> + sinusoidal positions -> Transformer -> final norm -> K heads -> logits [B, K, S, V]

The condition states (a frozen text encoder's, [B, L, context_dim]) are projected to the model
width (with a bias, `transformers`' enc_to_dec_proj) when the widths differ, and zeroed where
the text mask is False; cross-attention also masks them.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import layers, positions
from soundgen_jax.nn.transformer import Transformer, TransformerConfig
from soundgen_jax.parallel import sharding

POSITIONS = ("sinusoidal", "rotary", "sinusoidal+rotary")


@dataclasses.dataclass(frozen=True)
class LMConfig(layers.DictConfig):
  """Every size of the LM; defaults are MusicGen-small's."""
  num_codebooks: int = 4            # K parallel streams
  codebook_size: int = 2048         # V codes per codebook (the special token is index V)
  dim: int = 1024                   # residual width
  num_heads: int = 16               # attention heads
  num_layers: int = 24              # Transformer blocks
  ffn_dim: int = 4096               # feed-forward width
  text_dim: int = 768               # width of the text states (0: unconditional model)
  positions: str = "sinusoidal"     # sinusoidal (MusicGen) | rotary | sinusoidal+rotary
  position_scale: float = 1.0       # factor on the sinusoidal positions (audiocraft's 1)
  norm_first: bool = True           # pre-norm blocks
  norm_eps: float = 1e-5            # LayerNorm epsilon
  dropout: float = 0.0              # dropout in training
  dtype: str = "float32"            # compute dtype
  param_dtype: str = "float32"      # parameter dtype
  remat: bool = False               # rematerialise blocks in the backward pass
  scan_layers: bool = False         # scan over one stacked block (fast compiles of deep models)

  def __post_init__(self):
    if self.positions not in POSITIONS:
      raise ValueError(f"positions={self.positions!r}: use one of {POSITIONS}")
    for name in ("num_codebooks", "codebook_size", "dim", "num_heads", "num_layers", "ffn_dim"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

  @property
  def special_token(self) -> int:
    return self.codebook_size

  def transformer(self) -> TransformerConfig:
    return TransformerConfig(
        dim=self.dim, num_heads=self.num_heads, num_layers=self.num_layers,
        ffn_dim=self.ffn_dim, cross_attention=self.text_dim > 0, context_dim=self.dim,
        norm_first=self.norm_first, norm_eps=self.norm_eps, dropout=self.dropout,
        rotary="rotary" in self.positions, dtype=self.dtype, param_dtype=self.param_dtype,
        remat=self.remat, scan_layers=self.scan_layers)


class AudioLM(layers.TextConditioned):

  def __init__(self, cfg: LMConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pdt = jnp.dtype(cfg.param_dtype)
    k, v, d = cfg.num_codebooks, cfg.codebook_size, cfg.dim
    self.embed = layers.weight(rngs, (k, v + 1, d), ("codebooks", "vocab", "embed"), d, pdt,
                               stddev=0.02)
    self.init_text(cfg.text_dim, d, cfg.dtype, pdt, rngs)
    self.decoder = Transformer(cfg.transformer(), rngs=rngs)
    self.norm = layers.LayerNorm(d, cfg.norm_eps, param_dtype=pdt)
    self.heads = layers.weight(rngs, (k, v, d), ("codebooks", "vocab", "embed"), d, pdt)

  # --- the condition ------------------------------------------------------------------------

  def context_kv(self, text: jax.Array, text_mask: jax.Array) -> Any:
    """Every layer's cross-attention keys / values: computed once per generation."""
    if not self.cfg.text_dim:
      return None
    return self.decoder.context_kv(self.condition(text, text_mask))

  # --- forward ------------------------------------------------------------------------------

  def embed_steps(self, seq: jax.Array, start: jax.Array | int = 0) -> jax.Array:
    """seq [B, K, T] (pattern steps start .. start+T-1) -> [B, T, dim] inputs."""
    dt = jnp.dtype(self.cfg.dtype)
    table = self.embed[...]
    x = sum(jnp.take(table[k], seq[:, k], axis=0) for k in range(self.cfg.num_codebooks))
    x = x.astype(dt)
    if "sinusoidal" in self.cfg.positions:
      pos = positions.sinusoidal(start + jnp.arange(seq.shape[-1]), self.cfg.dim)
      x = x + (self.cfg.position_scale * pos).astype(dt)
    return sharding.constrain(x, ("batch", "length", "embed"))

  def logits(self, h: jax.Array) -> jax.Array:
    """[B, T, dim] -> float32 logits [B, K, T, V]."""
    h = self.norm(h)
    out = layers.project(h, self.heads[...], jnp.dtype(self.cfg.dtype))  # [B, T, K, V]
    return jnp.moveaxis(out, 2, 1).astype(jnp.float32)

  def __call__(self, seq: jax.Array, text: jax.Array | None = None,
               text_mask: jax.Array | None = None, *, dropout_key: jax.Array | None = None
               ) -> jax.Array:
    """Training / scoring: seq [B, K, S] -> logits [B, K, S, V]; logits at step s predict
    the tokens of step s + 1."""
    kv = self._kv(seq.shape[0], text, text_mask)
    h, _ = self.decoder(self.embed_steps(seq), context_kv=kv, context_mask=text_mask,
                        dropout_key=dropout_key)
    return self.logits(h)

  def _kv(self, batch, text, text_mask):
    if not self.cfg.text_dim:
      return None
    if text is None:
      raise ValueError("this LM is text-conditioned: pass text states and their mask")
    return self.context_kv(text, text_mask)

  def init_cache(self, batch: int, length: int) -> Any:
    return self.decoder.init_cache(batch, length)

  def step(self, seq: jax.Array, context_kv: Any, text_mask: jax.Array | None, cache: Any,
           index: jax.Array | int) -> tuple[jax.Array, Any]:
    """Decoding: steps index .. index+T-1 of seq [B, K, T] through the cache -> (logits
    [B, K, T, V], updated cache)."""
    x = self.embed_steps(seq, index)
    h, cache = self.decoder(x, context_kv=context_kv, context_mask=text_mask, cache=cache,
                            index=index)
    return self.logits(h), cache
