"""Generation with SoundStorm: decoding.decode over the model, classifier-free guidance with
text, a prompt or coarse levels given, in one executable per shape.

  codes, passes = generate(model, num_frames=100, text=states, text_mask=mask,
                           decoding=Decoding(), key=jax.random.key(0))

Given levels (`first_level`: the levels the LM made, or the conditioning's) and given tokens
(`known`, e.g. an acoustic prompt of the first frames at every level) are never changed.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.soundstorm import decoding as decoding_lib

PAPER_FIRST_STEPS = 16  # the paper's iterations for the first decoded level; 1 for the others


@dataclasses.dataclass(frozen=True)
class Decoding:
  steps: tuple[int, ...] = ()     # iterations per decoded level (): the paper's (16, 1, ..., 1)
  temperature: float = 1.0        # token sampling temperature (0: greedy)
  top_k: int = 0                  # keep the k most likely tokens (0: off)
  choice_temperature: float = 4.5  # Gumbel noise on the confidence, annealed to 0 (MaskGIT)
  cfg_coef: float = 3.0           # classifier-free guidance with text (1: none)

  def __post_init__(self):
    if self.temperature < 0 or self.choice_temperature < 0:
      raise ValueError("temperature and choice_temperature must be >= 0")
    if self.top_k < 0:
      raise ValueError(f"top_k must be >= 0, got {self.top_k}")
    if any(int(s) < 1 for s in self.steps):
      raise ValueError(f"every level needs at least one step, got {self.steps}")

  def steps_for(self, num_levels: int, first_level: int) -> tuple[int, ...]:
    if self.steps:
      return tuple(int(s) for s in self.steps)
    return (PAPER_FIRST_STEPS,) + (1,) * (num_levels - first_level - 1)


def passes(decoding: Decoding, num_levels: int, first_level: int) -> int:
  """Forward passes a generation makes (CFG's two branches are one batched pass)."""
  return sum(decoding.steps_for(num_levels, first_level))


@functools.partial(jax.jit, static_argnames=("graphdef", "first_level", "decoding"))
def _generate(graphdef, state, codes, known, frame_mask, text, text_mask, cond_tokens, key, *,
              first_level, decoding):
  model = nnx.merge(graphdef, state)
  cfg = model.cfg
  guided = text is not None and decoding.cfg_coef != 1.0
  context = mask = None
  b = codes.shape[0]
  if text is not None:
    if guided:  # cond and null condition (zero states, empty mask) in one batch
      text = jnp.concatenate([text, jnp.zeros_like(text)])
      text_mask = jnp.concatenate([text_mask, jnp.zeros_like(text_mask)])
    context, mask = model.context_kv(text, text_mask), text_mask
  two = (lambda x: None if x is None else jnp.concatenate([x, x])) if guided else (lambda x: x)
  batch_frames, batch_cond = two(frame_mask), two(cond_tokens)

  def logits_fn(c):
    logits = model(two(c), batch_frames, batch_cond, context_kv=context, text_mask=mask)
    if guided:
      cond, uncond = logits[:b], logits[b:]
      logits = uncond + decoding.cfg_coef * (cond - uncond)
    return logits

  return decoding_lib.decode(
      logits_fn, codes, known, steps_per_level=decoding.steps_for(cfg.num_levels, first_level),
      first_level=first_level, key=key, temperature=decoding.temperature, top_k=decoding.top_k,
      choice_temperature=decoding.choice_temperature, frame_mask=frame_mask,
      codebook_size=cfg.codebook_size)


def generate(model, *, key: jax.Array, decoding: Decoding = Decoding(), num_frames: int = 0,
             batch: int = 1, codes: jax.Array | None = None, known: jax.Array | None = None,
             first_level: int = 0, frame_mask: jax.Array | None = None,
             text: jax.Array | None = None, text_mask: jax.Array | None = None,
             cond_tokens: jax.Array | None = None) -> tuple[jax.Array, int]:
  """(codes [B, Q, T], forward passes). Either `num_frames` (and `batch`) for a generation from
  nothing but the condition, or `codes` [B, Q, T] whose levels below `first_level` and whose
  `known` tokens are given. text [B, L, text_dim] with text_mask [B, L]: the text condition
  (guided by decoding.cfg_coef); without it, the null text."""
  cfg = model.cfg
  if codes is None:
    if num_frames < 1:
      raise ValueError("give num_frames >= 1 or the codes to complete")
    if first_level:
      raise ValueError(f"first_level={first_level} needs the codes of those levels")
    codes = jnp.zeros((batch, cfg.num_levels, num_frames), jnp.int32)
  codes = jnp.asarray(codes, jnp.int32)
  if codes.ndim != 3 or codes.shape[1] != cfg.num_levels:
    raise ValueError(f"codes must be [B, {cfg.num_levels}, T], got {codes.shape}")
  if not 0 <= first_level < cfg.num_levels:
    raise ValueError(f"first_level must be in [0, {cfg.num_levels}), got {first_level}")
  if text is not None and not cfg.text_dim:
    raise ValueError("this SoundStorm has no text conditioning: pass no text")
  if text is not None and text_mask is None:
    text_mask = jnp.ones(text.shape[:2], bool)
  if text is None and cfg.text_dim:  # the null condition, so every call has the same inputs
    text = jnp.zeros((codes.shape[0], 1, cfg.text_dim), jnp.float32)
    text_mask = jnp.zeros((codes.shape[0], 1), bool)
    decoding = dataclasses.replace(decoding, cfg_coef=1.0)
  if known is None:
    known = jnp.zeros(codes.shape, bool)
  if frame_mask is None:
    frame_mask = jnp.ones((codes.shape[0], codes.shape[2]), bool)
  graphdef, state = nnx.split(model)
  out, n = _generate(graphdef, state, codes, known, frame_mask, text, text_mask, cond_tokens,
                     key, first_level=first_level, decoding=decoding)
  return out, int(n)
