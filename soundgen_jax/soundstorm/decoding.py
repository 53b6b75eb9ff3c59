"""SoundStorm decoding: RVQ levels one at a time, coarse to fine; within a level, MaskGIT's
confidence-based iterative decoding with a cosine schedule, the last iteration greedy.

Every level's iterations are one `lax.scan`, so a whole `decode` is one executable per shape
under `jax.jit` (steps are static). Layout is [batch, level, time]; the mask token is the
codebook size V (each level's table has row V for it)."""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

LogitsFn = Callable[[jax.Array], jax.Array]


def _kept_ratios(num_steps: int) -> np.ndarray:
  """cos(pi / 2 * s / n) for s = 0..n in float64, then float32."""
  ratios = np.cos(np.pi / 2 * np.arange(num_steps + 1) / num_steps)
  # cos of a rational multiple of pi is rational in (0, 1) only at 1/2 (Niven), where float64
  # lands a hair off; exact there so N * ratio floors to the true integer.
  ratios[np.isclose(ratios, 0.5, rtol=0.0, atol=1e-9)] = 0.5
  ratios[-1] = 0.0
  return ratios.astype(np.float32)


def schedule(num_unknown, step, num_steps: int) -> jax.Array:
  """How many of `num_unknown` tokens are still masked after iteration `step` (1-based; 0 gives
  num_unknown) of `num_steps`: floor(N cos(pi / 2 * step / num_steps)), capped at N - step so
  that every iteration reveals at least one while any remain, and 0 after the last.
  `num_unknown` and `step` may be traced arrays; `num_steps` is static."""
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}")
  num_unknown = jnp.asarray(num_unknown, jnp.int32)
  step = jnp.clip(jnp.asarray(step, jnp.int32), 0, num_steps)
  ratio = jnp.asarray(_kept_ratios(num_steps))[step]
  kept = jnp.floor(num_unknown.astype(jnp.float32) * ratio).astype(jnp.int32)
  return jnp.maximum(jnp.minimum(kept, num_unknown - step), 0)


def keep_masked(confidence: jax.Array, num_masked: jax.Array) -> jax.Array:
  """bool [..., T]: True at the `num_masked` ([...]) lowest-confidence positions of each row.
  Chosen by rank, so exactly num_masked are True whatever the ties; ties go to the lower
  position index (a stable sort), so the choice is deterministic."""
  order = jnp.argsort(confidence, axis=-1, stable=True)
  rank = jnp.argsort(order, axis=-1, stable=True)  # inverse permutation: each position's rank
  return rank < jnp.asarray(num_masked, jnp.int32)[..., None]


def _steps_by_level(steps_per_level: Sequence[int], num_levels: int,
                    first_level: int) -> list[int]:
  steps = [int(s) for s in steps_per_level]
  if len(steps) == num_levels - first_level:
    pass
  elif len(steps) == num_levels:
    steps = steps[first_level:]
  else:
    raise ValueError(f"steps_per_level needs one entry per decoded level "
                     f"({num_levels - first_level}) or per level ({num_levels}), "
                     f"got {len(steps)}")
  if min(steps, default=1) < 1:
    raise ValueError(f"every level needs at least one step, got {steps_per_level}")
  return steps


def _top_k(logits: jax.Array, k: int) -> jax.Array:
  if k <= 0 or k >= logits.shape[-1]:
    return logits
  kth = jax.lax.top_k(logits, k)[0][..., -1:]
  return jnp.where(logits < kth, -jnp.inf, logits)


def _sample(logits: jax.Array, u: jax.Array, temperature, top_k: int) -> jax.Array:
  """A token per position from softmax(top-k(logits) / temperature) by inverse CDF with the
  uniforms u [...] in (0, 1): the index of the first token whose cumulative mass exceeds u."""
  probs = jax.nn.softmax(_top_k(logits, top_k) / temperature, axis=-1)
  cdf = jnp.cumsum(probs, axis=-1)
  # Scaled by the total so rounding cannot run past the last token; a token of zero mass (cut
  # by top-k) never has cdf[j - 1] <= u < cdf[j], so it is never picked.
  below = cdf <= u[..., None] * cdf[..., -1:]
  return jnp.minimum(jnp.sum(below, axis=-1), logits.shape[-1] - 1).astype(jnp.int32)


def _is_zero(x) -> bool:
  return isinstance(x, (int, float)) and x <= 0


def decode(logits_fn: LogitsFn, codes: jax.Array, known: jax.Array | None = None, *,
           steps_per_level: Sequence[int], first_level: int = 0, key: jax.Array,
           temperature: float | jax.Array = 1.0, top_k: int = 0,
           choice_temperature: float | jax.Array = 4.5, frame_mask: jax.Array | None = None,
           codebook_size: int | None = None, trace: bool = False):
  """Fills the unknown tokens of codes [B, Q, T]; returns (codes, number of logits_fn calls),
  plus, with trace=True, one bool [n_q, B, T] per decoded level: still masked after each
  iteration.

  logits_fn(codes [B, Q, T] with mask tokens) -> logits [B, Q, T, V'] is one forward over all
  levels (classifier-free guidance goes inside it); the first `codebook_size` logits are used
  (default V', inferred from its output shape) and the mask token is codebook_size.
  known bool [B, Q, T]: given tokens (a prompt, or anything else), never changed; levels below
  first_level are always given. frame_mask bool [B, T]: padding frames (False) are never
  decoded and keep their codes. steps_per_level: iterations per decoded level, one entry per
  level from first_level on, or one per level (the ones below first_level then unused).

  Level q, iteration i of n: sample every still-masked position (temperature, top-k; greedy on
  the last iteration, or everywhere if temperature is 0); confidence = the model's log-prob of
  the sampled token + choice_temperature * (1 - i / n) * Gumbel noise; fixed tokens get +inf;
  the `schedule(N_b, i, n)` lowest-confidence positions stay masked, N_b being example b's
  number of unknown real tokens on level q. Seeded by `key`: same key, same tokens."""
  codes = jnp.asarray(codes, jnp.int32)
  batch, num_levels, frames = codes.shape
  if not 0 <= first_level < num_levels:
    raise ValueError(f"first_level must be in [0, {num_levels}), got {first_level}")
  steps = _steps_by_level(steps_per_level, num_levels, first_level)
  if codebook_size is None:
    codebook_size = jax.eval_shape(logits_fn, codes).shape[-1]
  mask_token = codebook_size
  if frame_mask is None:
    frame_mask = jnp.ones((batch, frames), bool)
  if known is None:
    known = jnp.zeros(codes.shape, bool)
  levels = jnp.arange(num_levels)[None, :, None]
  given = jnp.asarray(known, bool) | (levels < first_level)
  unknown = ~given & jnp.asarray(frame_mask, bool)[:, None, :]
  codes = jnp.where(unknown, mask_token, codes)
  greedy_only = _is_zero(temperature)

  # All the randomness in one draw, two uniforms per position and sampled iteration (one picks
  # the token by inverse CDF, one becomes the choice noise): one threefry in the executable,
  # not one per iteration (each costs about a second of CPU compile time).
  random = not (greedy_only and _is_zero(choice_temperature))
  sampled_steps = sum(n for n in steps if n > 1) if random else 0
  if sampled_steps:
    uniforms = jax.random.uniform(key, (sampled_steps, batch, frames, 2),
                                  minval=jnp.finfo(jnp.float32).tiny)
  offset = 0
  passes = 0
  history = []
  for q, num_steps in zip(range(first_level, num_levels), steps):
    todo = unknown[:, q]
    num_unknown = jnp.sum(todo, axis=-1, dtype=jnp.int32)
    level_uniforms = None  # a level of one step needs none: its only iteration is greedy
    if num_steps > 1 and sampled_steps:
      level_uniforms = uniforms[offset:offset + num_steps]
      offset += num_steps
    calls = [0]  # logits_fn calls in one trace of the loop body

    def body(carry, xs, q=q, n=num_steps, num_unknown=num_unknown, calls=calls):
      calls[0] = 0  # a body traced again must not count twice
      codes, masked = carry
      i, u = xs
      step = i + 1
      calls[0] += 1
      logits = logits_fn(codes)[:, q, :, :codebook_size].astype(jnp.float32)   # [B, T, V]
      sampled = jnp.argmax(logits, axis=-1).astype(jnp.int32)
      if u is not None and not greedy_only:
        sampled = jnp.where(step == n, sampled, _sample(logits, u[..., 0], temperature, top_k))
      log_probs = jax.nn.log_softmax(logits, axis=-1)
      confidence = jnp.take_along_axis(log_probs, sampled[..., None], axis=-1)[..., 0]
      if u is not None and not _is_zero(choice_temperature):
        gumbel = -jnp.log(-jnp.log(u[..., 1]))
        confidence = confidence + choice_temperature * (1.0 - step / n) * gumbel
      # Each masked position keeps its own score; fixed ones can never be chosen to stay masked.
      confidence = jnp.where(masked, confidence, jnp.inf)
      if n == 1:
        still = jnp.zeros_like(masked)  # schedule(N, 1, 1) = 0
      else:
        still = keep_masked(confidence, schedule(num_unknown, step, n)) & masked
      reveal = masked & ~still
      codes = codes.at[:, q].set(jnp.where(reveal, sampled, codes[:, q]))
      return (codes, still), (still if trace else None)

    if num_steps == 1:  # no loop: a one-trip scan still compiles into a while loop
      (codes, _), masked_after = body((codes, todo), (jnp.int32(0), None))
      masked_after = None if masked_after is None else masked_after[None]
    else:
      xs = (jnp.arange(num_steps), level_uniforms)
      (codes, _), masked_after = jax.lax.scan(body, (codes, todo), xs)
    passes += calls[0] * num_steps
    history.append(masked_after)
  if trace:
    return codes, passes, tuple(history)
  return codes, passes
