"""Generation with the audio LM: prefill, then the whole decode in one compiled `lax` loop.

  codes = generate(lm, pattern, text=states, text_mask=mask, num_frames=500,
                   sampling=Sampling(top_k=250, cfg_coef=3.0), key=jax.random.key(0))

- The KV cache is preallocated for the whole pattern sequence; the condition's cross-attention
  keys / values are computed once, before the loop.
- Classifier-free guidance: `uncond + cfg_coef * (cond - uncond)` on the logits, cond and the
  null condition (zero states, empty mask) batched in one forward, or as two forwards with
  `two_step_cfg`.
- A prompt (codes of the first frames) is prefilled in one pass and kept; decoding starts at
  the first pattern step that holds a frame after it.
- `generate_long` slides a window of `window` frames in strides of `stride` (audiocraft's
  extend_stride), each window prompted by the end of the previous one: no length limit, memory
  bounded by the window.
One executable per (shapes, pattern, sampling settings); the same key gives the same tokens.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.lm import patterns as patterns_lib


@dataclasses.dataclass(frozen=True)
class Sampling:
  use_sampling: bool = True    # False: greedy (argmax)
  temperature: float = 1.0     # softmax temperature
  top_k: int = 250             # keep the k most likely tokens (0: off)
  top_p: float = 0.0           # nucleus sampling (0: off; when on, it replaces top_k)
  cfg_coef: float = 3.0        # classifier-free guidance scale (1: no guidance)
  two_step_cfg: bool = False   # cond and null condition as two forwards, not one batch

  def __post_init__(self):
    if self.temperature <= 0 and self.use_sampling:
      raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}")
    if self.top_k < 0:
      raise ValueError(f"top_k must be >= 0, got {self.top_k}")
    if not 0.0 <= self.top_p <= 1.0:
      raise ValueError(f"top_p must be in [0, 1], got {self.top_p}")


def sample_tokens(key: jax.Array, logits: jax.Array, s: Sampling) -> jax.Array:
  """One token per row of logits [..., V] (audiocraft's rule: top-p if set, else top-k)."""
  if not s.use_sampling:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  logits = logits.astype(jnp.float32) / s.temperature
  neg = jnp.finfo(jnp.float32).min
  if s.top_p > 0:
    order = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(order, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs   # mass of the tokens ranked above
    kept = jnp.where(before <= s.top_p, order, jnp.inf)
    cutoff = jnp.min(kept, axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, neg, logits)
  elif s.top_k > 0 and s.top_k < logits.shape[-1]:
    logits = jnp.where(logits < _kth_largest(logits, s.top_k), neg, logits)
  return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def _kth_largest(x: jax.Array, k: int) -> jax.Array:
  """The k-th largest value along the last axis, [..., 1]: as the (V - k + 1)-th smallest when
  that is the shorter selection (MusicGen's top-k 250 of 2048 is not; of 256 codes it is: the
  tiny shape's decode step 2.87 -> 2.63 ms on XLA:CPU, bench/lm_decode.py --shapes tiny)."""
  v = x.shape[-1]
  if k <= v - k + 1:
    return jax.lax.top_k(x, k)[0][..., -1:]
  return -jax.lax.top_k(-x, v - k + 1)[0][..., -1:]


def _guided(s: Sampling, cond: jax.Array, uncond: jax.Array | None) -> jax.Array:
  return cond if uncond is None else uncond + s.cfg_coef * (cond - uncond)


@functools.partial(jax.jit, static_argnames=("graphdef", "pattern", "num_frames", "sampling"))
def _generate(graphdef, state, text, text_mask, prompt, key, *, pattern, num_frames, sampling):
  lm = nnx.merge(graphdef, state)
  cfg = lm.cfg
  special = cfg.special_token
  b, k = prompt.shape[:2]
  prompt_frames = prompt.shape[-1]
  frames = pattern.frames(num_frames)                     # static [K, S]
  length = frames.shape[1]
  valid = jnp.asarray(frames >= 0)
  known = jnp.asarray((frames >= 0) & (frames < prompt_frames))
  padded = jnp.pad(prompt, ((0, 0), (0, 0), (0, num_frames - prompt_frames)))
  seq = jnp.where(known[None], patterns_lib.build(pattern, padded, special)[0], special)
  start = pattern.steps_for_frames(num_frames, prompt_frames)

  guidance = bool(cfg.text_dim) and sampling.cfg_coef != 1.0
  branches = []                                           # (text, mask, batch) per forward
  if not cfg.text_dim:
    branches.append((None, None, b))
  elif not guidance:
    branches.append((text, text_mask, b))
  else:
    null, null_mask = jnp.zeros_like(text), jnp.zeros_like(text_mask)
    if sampling.two_step_cfg:
      branches += [(text, text_mask, b), (null, null_mask, b)]
    else:
      branches.append((jnp.concatenate([text, null]), jnp.concatenate([text_mask, null_mask]),
                       2 * b))
  kvs = [None if t is None else lm.context_kv(t, m) for t, m, _ in branches]

  def forward(tokens, caches, index):
    """tokens [B, K, T] at steps index.. -> (cond logits, uncond logits, caches); without
    guidance the uncond logits are unused zeros (the loop carries arrays only)."""
    outs, new = [], []
    for (_, m, n), kv, cache in zip(branches, kvs, caches):
      x = tokens if n == b else jnp.concatenate([tokens, tokens])
      logits, cache = lm.step(x, kv, m, cache, index)
      outs.append(logits[:, :, -1])
      new.append(cache)
    both = jnp.concatenate(outs)
    uncond = both[b:] if guidance else jnp.zeros_like(both)
    return both[:b], uncond, new

  def fill(s, seq, cond, uncond, key):
    logits = _guided(sampling, cond, uncond if guidance else None)
    tokens = sample_tokens(key, logits, sampling)                          # [B, K]
    column = jax.lax.dynamic_slice_in_dim(seq, s, 1, axis=2)[:, :, 0]
    is_known = jax.lax.dynamic_slice_in_dim(known, s, 1, axis=1)[:, 0]
    is_valid = jax.lax.dynamic_slice_in_dim(valid, s, 1, axis=1)[:, 0]
    column = jnp.where(is_known, column, jnp.where(is_valid, tokens, special))
    return jax.lax.dynamic_update_slice_in_dim(seq, column[:, :, None], s, axis=2), column

  def body(s, carry):
    seq, caches, cond, uncond, key = carry
    key, sub = jax.random.split(key)
    seq, column = fill(s, seq, cond, uncond, sub)
    cond, uncond, caches = forward(column[:, :, None], caches, s)
    return seq, caches, cond, uncond, key

  caches = [lm.init_cache(n, length) for _, _, n in branches]
  cond, uncond, caches = forward(seq[:, :, :start], caches, 0)
  seq, caches, cond, uncond, key = jax.lax.fori_loop(start, length - 1, body,
                                                     (seq, caches, cond, uncond, key))
  if start < length:  # the last step needs no forward after it
    seq, _ = fill(length - 1, seq, cond, uncond, jax.random.split(key)[1])
  return patterns_lib.revert_codes(pattern, seq, num_frames)


def generate(lm, pattern, *, num_frames: int, sampling: Sampling, key: jax.Array,
             text: jax.Array | None = None, text_mask: jax.Array | None = None,
             prompt: jax.Array | None = None, batch: int | None = None) -> jax.Array:
  """Codes [B, K, num_frames]; `prompt` [B, K, P] (P < num_frames) is kept as the first frames.
  B comes from the text, the prompt or `batch` (unconditional)."""
  b = batch or (text.shape[0] if text is not None else prompt.shape[0])
  k = lm.cfg.num_codebooks
  if prompt is None:
    prompt = jnp.zeros((b, k, 0), jnp.int32)
  prompt = jnp.asarray(prompt, jnp.int32)
  if prompt.shape[-1] >= num_frames:
    raise ValueError(f"the prompt has {prompt.shape[-1]} frames, not fewer than the "
                     f"{num_frames} to generate")
  if lm.cfg.text_dim and text is None:
    raise ValueError("this LM is text-conditioned: give text states (or the null condition)")
  graphdef, state = nnx.split(lm)
  return _generate(graphdef, state, text, text_mask, jnp.array(prompt), key, pattern=pattern,
                   num_frames=int(num_frames), sampling=sampling)


def generate_long(lm, pattern, *, num_frames: int, window: int, stride: int,
                  sampling: Sampling, key: jax.Array, text=None, text_mask=None, prompt=None,
                  batch: int | None = None,
                  on_window: Callable[[int, int], None] | None = None) -> jax.Array:
  """Any length: windows of `window` frames, each after the first prompted by the last
  `window - stride` frames so far (audiocraft's extend_stride). Two executables at most."""
  if num_frames <= window:
    return generate(lm, pattern, num_frames=num_frames, sampling=sampling, key=key, text=text,
                    text_mask=text_mask, prompt=prompt, batch=batch)
  if not 0 < stride < window:
    raise ValueError(f"extend stride of {stride} frames must be in (0, window={window})")
  done = generate(lm, pattern, num_frames=window, sampling=sampling, key=key, text=text,
                  text_mask=text_mask, prompt=prompt, batch=batch)
  pieces, total = [np.asarray(done)], window
  while total < num_frames:
    key = jax.random.fold_in(key, total)
    context = jnp.asarray(np.concatenate(pieces, axis=-1)[..., -(window - stride):])
    out = generate(lm, pattern, num_frames=window, sampling=sampling, key=key, text=text,
                   text_mask=text_mask, prompt=context, batch=batch)
    new = np.asarray(out)[..., window - stride:]
    pieces.append(new[..., :num_frames - total])
    total += new.shape[-1]
    if on_window:
      on_window(min(total, num_frames), num_frames)
  return jnp.asarray(np.concatenate(pieces, axis=-1)[..., :num_frames])
