"""Positional encodings shared by the LM and SoundStorm: sinusoidal (MusicGen's layout) and
rotary (applied to queries and keys inside attention)."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def sinusoidal(positions: jax.Array, dim: int, max_period: float = 10000.0) -> jax.Array:
  """[..., dim] float32 embeddings of integer positions, MusicGen's `cat([cos, sin])` layout.

  The frequencies are exp(-i * ln(max_period) / (dim/2 - 1)) (tensor2tensor's spacing, as in
  `transformers`' MusicGen, not audiocraft's dim/2), so converted weights see the same inputs.
  """
  half = dim // 2
  freqs = jnp.exp(-jnp.arange(half, dtype=jnp.float32) * (math.log(max_period) / (half - 1)))
  angles = positions.astype(jnp.float32)[..., None] * freqs
  emb = jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)
  if dim % 2:
    emb = jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, 1)])
  return emb


def rotary(x: jax.Array, positions: jax.Array, base: float = 10000.0) -> jax.Array:
  """Rotates pairs (x[..., i], x[..., i + d/2]) of x [B, T, H, d] by position * base^(-2i/d)
  (the rotate-half form of RoFormer / LLaMA); positions [T] or [B, T]."""
  d = x.shape[-1]
  inv = base ** (-jnp.arange(0, d // 2, dtype=jnp.float32) * 2.0 / d)
  angles = positions.astype(jnp.float32)[..., None] * inv          # [(B,) T, d/2]
  if angles.ndim == 2:
    angles = angles[None]
  cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)
