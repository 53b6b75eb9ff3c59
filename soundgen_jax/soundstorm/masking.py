"""SoundStorm's training mask, drawn per example, and the loss over the masked tokens.

Per example b with T_b real frames (a prefix of the T frames): a prompt boundary
t ~ U{0, T_b - 1}, a level q ~ U{first_level, Q - 1}, u ~ U[0, pi / 2]. Level q's tokens at
frames t..T_b - 1 are masked each with probability cos(u) (at least one), every finer level is
masked at all of those frames, the prompt (frames < t) and the coarser levels are kept, and the
loss is on level q's masked tokens only. Layout is [batch, level, time]."""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Masking(NamedTuple):
  inputs_masked: jax.Array  # bool [B, Q, T]: input token replaced by that level's mask token
  loss_mask: jax.Array      # bool [B, Q, T]: the tokens the loss is computed on
  level: jax.Array          # int32 [B]: the level q drawn
  prompt_end: jax.Array     # int32 [B]: the boundary t drawn (frames < t are the prompt)


def _below(uniform: jax.Array, n) -> jax.Array:
  """U{0, n - 1} from U[0, 1); the clip covers float32 rounding u * n up to n."""
  n = jnp.asarray(n, jnp.int32)
  return jnp.minimum(jnp.floor(uniform * n).astype(jnp.int32), n - 1)


def draw(key: jax.Array, frame_mask: jax.Array, num_levels: int,
         first_level: int | jax.Array = 0) -> Masking:
  """Draws one mask per example. `frame_mask` bool [B, T] marks real frames (a prefix per
  example); levels below `first_level` (static or traced) are given by the conditioning and
  never masked."""
  if isinstance(first_level, int) and not 0 <= first_level < num_levels:
    raise ValueError(f"first_level must be in [0, {num_levels}), got {first_level}")
  frame_mask = jnp.asarray(frame_mask, bool)
  batch, frames = frame_mask.shape
  # All the randomness from one uniform draw (each threefry in an executable costs about a
  # second of CPU compile time): per example t, q, u, the fallback frame, then one per frame.
  uniform = jax.random.uniform(key, (batch, 4 + frames))
  # max(., 1) keeps the ranges valid for an all-padding row; that row masks nothing.
  length = jnp.maximum(jnp.sum(frame_mask, axis=-1, dtype=jnp.int32), 1)
  prompt_end = _below(uniform[:, 0], length)
  level = first_level + _below(uniform[:, 1], num_levels - first_level)
  u = uniform[:, 2] * (math.pi / 2)
  time = jnp.arange(frames)[None]
  after = (time >= prompt_end[:, None]) & frame_mask                       # [B, T]
  chosen = (uniform[:, 4:] < jnp.cos(u)[:, None]) & after
  # An empty draw would give a 0 / 0 loss: mask one frame of [t, T_b) picked uniformly instead.
  fallback = prompt_end + _below(uniform[:, 3], length - prompt_end)
  empty = ~jnp.any(chosen, axis=-1)
  chosen |= empty[:, None] & (time == fallback[:, None]) & frame_mask
  levels = jnp.arange(num_levels)[None, :, None]
  is_q = levels == level[:, None, None]
  finer = levels > level[:, None, None]
  inputs_masked = jnp.where(is_q, chosen[:, None], finer & after[:, None])
  loss_mask = is_q & chosen[:, None]
  return Masking(inputs_masked, loss_mask, level, prompt_end)


def apply(codes: jax.Array, masking: Masking, mask_token: int | jax.Array) -> jax.Array:
  """codes [B, Q, T] with the masked inputs set to the mask token: an int, or one per level
  ([Q]) since each level has its own embedding table (usually its codebook size)."""
  token = jnp.asarray(mask_token, codes.dtype)
  if token.ndim == 1:
    token = token[None, :, None]
  return jnp.where(masking.inputs_masked, token, codes)


def masked_cross_entropy(logits: jax.Array, targets: jax.Array, loss_mask: jax.Array):
  """(mean cross-entropy, accuracy, count) over the tokens where loss_mask is True.
  logits [B, Q, T, V], targets int [B, Q, T]. Finite when nothing is masked (count 0), and
  whatever the logits hold at unmasked positions."""
  logits = logits.astype(jnp.float32)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  picked = jnp.take_along_axis(log_probs, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
  # where, not multiply: 0 * inf or 0 * nan from an unmasked position would poison the sum.
  nll = jnp.where(loss_mask, -picked, 0.0)
  hit = jnp.where(loss_mask, jnp.argmax(logits, axis=-1) == targets, False)
  count = jnp.sum(loss_mask, dtype=jnp.int32)
  denom = jnp.maximum(count, 1).astype(jnp.float32)
  return jnp.sum(nll) / denom, jnp.sum(hit, dtype=jnp.float32) / denom, count
