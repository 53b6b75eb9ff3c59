"""SoundStorm (Borsos et al. 2023): a bidirectional Conformer that predicts masked RVQ tokens.

  codes [B, Q, T] (mask token = codebook_size) -> Q embedding tables (V + 1 rows each) summed
  per frame + the frame's conditioning-token embedding (upsampled to the frame rate)
  -> Conformer over the T frames (frame mask) -> Q heads -> logits [B, Q, T, V]

Summing a frame's Q embeddings keeps attention over frames, whatever Q is. Optional text
conditioning (MAGNeT-style): a cross-attention residual after every block's self-attention, to
text states projected to the model width as in lm/model.py.

`None` for the conditioning tokens or the text means the null condition (classifier-free
guidance's unconditional branch): every frame gets the null conditioning row, and the
cross-attention is skipped, which equals attending to a fully masked text.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import layers
from soundgen_jax.nn.conformer import Conformer, ConformerConfig
from soundgen_jax.parallel import sharding


@dataclasses.dataclass(frozen=True)
class SoundStormConfig(layers.DictConfig):
  """Every size of SoundStorm; defaults are the paper's (~315M parameters, see the tests)."""
  num_levels: int = 12              # Q RVQ levels (SoundStream 6 kbps: 12 x 1024 at 50 Hz)
  codebook_size: int = 1024         # V codes per level (index V is that level's mask token)
  dim: int = 1024                   # residual width
  num_heads: int = 16               # attention heads
  num_layers: int = 12              # Conformer blocks
  ffn_dim: int = 4096               # feed-forward width
  conv_kernel: int = 5              # depthwise conv kernel (frames)
  cond_vocab: int = 1024            # conditioning token vocabulary (AudioLM's semantic; 0: none)
  cond_upsample: int = 2            # frames per conditioning token (25 Hz semantic -> 50 Hz)
  text_dim: int = 0                 # width of text states to cross-attend to (0: no text)
  norm_eps: float = 1e-5            # LayerNorm epsilon
  dropout: float = 0.0              # dropout in training
  rotary_base: float = 10000.0      # rotary frequency base
  dtype: str = "float32"            # compute dtype
  param_dtype: str = "float32"      # parameter dtype
  remat: bool = False               # rematerialise blocks in the backward pass
  scan_layers: bool = False         # scan over one stacked block (fast compiles of deep models)

  def __post_init__(self):
    for name in ("num_levels", "codebook_size", "dim", "num_heads", "num_layers", "ffn_dim",
                 "conv_kernel", "cond_upsample"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
    for name in ("cond_vocab", "text_dim"):
      if int(getattr(self, name)) < 0:
        raise ValueError(f"{name} must be >= 0 (0: none), got {getattr(self, name)}")

  @property
  def mask_token(self) -> int:
    return self.codebook_size

  @property
  def null_cond(self) -> int:
    """The conditioning row for no condition (CFG) and for frames past the tokens' end."""
    return self.cond_vocab

  def conformer(self) -> ConformerConfig:
    return ConformerConfig(
        dim=self.dim, num_heads=self.num_heads, num_layers=self.num_layers,
        ffn_dim=self.ffn_dim, conv_kernel=self.conv_kernel, cross_attention=self.text_dim > 0,
        context_dim=self.dim, norm_eps=self.norm_eps, dropout=self.dropout,
        rotary_base=self.rotary_base, dtype=self.dtype, param_dtype=self.param_dtype,
        remat=self.remat, scan_layers=self.scan_layers)


class SoundStorm(layers.TextConditioned):

  def __init__(self, cfg: SoundStormConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    pdt = jnp.dtype(cfg.param_dtype)
    q, v, d = cfg.num_levels, cfg.codebook_size, cfg.dim
    self.embed = layers.weight(rngs, (q, v + 1, d), ("codebooks", "vocab", "embed"), d, pdt,
                               stddev=0.02)
    if cfg.cond_vocab:
      self.cond_embed = layers.weight(rngs, (cfg.cond_vocab + 1, d), ("vocab", "embed"), d, pdt,
                                      stddev=0.02)
    self.init_text(cfg.text_dim, d, cfg.dtype, pdt, rngs)
    # Each block ends in a LayerNorm (the Conformer's), so the last one is the final norm.
    self.conformer = Conformer(cfg.conformer(), rngs=rngs)
    self.heads = layers.weight(rngs, (q, v, d), ("codebooks", "vocab", "embed"), d, pdt)

  # --- the conditions -----------------------------------------------------------------------

  def upsample_cond(self, cond_tokens: jax.Array | None, batch: int, frames: int) -> jax.Array:
    """[B, T_cond] tokens -> [B, T] ids, each repeated cond_upsample times; a length within one
    token of the frames' is cropped or padded with the null row (the two rates' framings can
    differ by a frame), anything else is a rate mistake."""
    cfg = self.cfg
    if cond_tokens is None:
      return jnp.full((batch, frames), cfg.null_cond, jnp.int32)
    up = cfg.cond_upsample
    have = cond_tokens.shape[1] * up
    if abs(have - frames) >= up:
      raise ValueError(f"{cond_tokens.shape[1]} conditioning tokens x cond_upsample={up} do not "
                       f"cover {frames} frames: check the token rates or cond_upsample")
    ids = jnp.repeat(cond_tokens.astype(jnp.int32), up, axis=1)[:, :frames]
    return jnp.pad(ids, ((0, 0), (0, frames - ids.shape[1])), constant_values=cfg.null_cond)

  def context_kv(self, text: jax.Array, text_mask: jax.Array) -> Any:
    """Every block's cross-attention keys / values: once per generation, not per pass."""
    if not self.cfg.text_dim:
      raise ValueError("this SoundStorm has no text conditioning (text_dim=0): pass no text")
    return self.conformer.context_kv(self.condition(text, text_mask))

  # --- forward ------------------------------------------------------------------------------

  def embed_frames(self, codes: jax.Array, cond_tokens: jax.Array | None = None) -> jax.Array:
    """codes [B, Q, T] (+ conditioning [B, T_cond]) -> [B, T, dim] summed frame embeddings."""
    cfg, dt = self.cfg, jnp.dtype(self.cfg.dtype)
    if codes.ndim != 3 or codes.shape[1] != cfg.num_levels:
      raise ValueError(f"codes must be [B, {cfg.num_levels}, T], got {codes.shape}")
    table = self.embed[...]
    x = sum(jnp.take(table[q], codes[:, q], axis=0) for q in range(cfg.num_levels))
    if cfg.cond_vocab:
      b, t = codes.shape[0], codes.shape[2]
      x = x + jnp.take(self.cond_embed[...], self.upsample_cond(cond_tokens, b, t), axis=0)
    elif cond_tokens is not None:
      raise ValueError("this SoundStorm has no conditioning tokens (cond_vocab=0): pass none")
    return sharding.constrain(x.astype(dt), ("batch", "length", "embed"))

  def logits(self, h: jax.Array) -> jax.Array:
    """[B, T, dim] -> float32 logits [B, Q, T, V]."""
    out = layers.project(h, self.heads[...], jnp.dtype(self.cfg.dtype))  # [B, T, Q, V]
    return jnp.moveaxis(out, 2, 1).astype(jnp.float32)

  def __call__(self, codes: jax.Array, frame_mask: jax.Array | None = None,
               cond_tokens: jax.Array | None = None, text: jax.Array | None = None,
               text_mask: jax.Array | None = None, *, dropout_key: jax.Array | None = None,
               context_kv: Any = None) -> jax.Array:
    """codes [B, Q, T] with mask tokens, frame_mask [B, T] (True = real frame), cond_tokens
    [B, T_cond], text [B, L, text_dim] with text_mask [B, L] -> logits [B, Q, T, V].

    context_kv: `self.context_kv(text, text_mask)` computed once, instead of text (decoding).
    """
    if text is not None:
      if text_mask is None:
        text_mask = jnp.ones(text.shape[:2], bool)
      context_kv = self.context_kv(text, text_mask)
    h = self.conformer(self.embed_frames(codes, cond_tokens), mask=frame_mask,
                       context_kv=context_kv, context_mask=text_mask, dropout_key=dropout_key)
    return self.logits(h)
