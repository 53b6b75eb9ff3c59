"""Codebook interleaving patterns: how an LM lays K parallel code streams [B, K, T] out as one
sequence of S steps [B, K, S] (audiocraft's codebooks_patterns, as static index arrays).

A pattern for T frames is one int array `frames[K, S]`: the frame t whose code (k, t) sits at
(k, s), or -1 where the special token (codebook size: start and pad) sits. Step 0 is always all
special: the input from which the first real step is predicted. The arrays are numpy, computed
once per (pattern, T), so `build` / `revert_*` gather with static indices and jit cleanly;
they take jax arrays (or tracers) and return jax arrays, or numpy in and numpy out.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

PATTERNS = ("parallel", "delay", "unroll", "coarse_first", "musiclm")
Array = jax.Array | np.ndarray
_OPTIONS = {"parallel": (), "delay": ("delays",), "unroll": ("flattening", "delays"),
            "coarse_first": ("delays",), "musiclm": ("group_size",)}


def _ints(name: str, values, length: int, what: str) -> tuple[int, ...]:
  values = tuple(int(v) for v in values)
  if len(values) != length:
    raise ValueError(f"{name} needs {length} values ({what}), got {values}")
  if any(v < 0 for v in values) or list(values) != sorted(values):
    raise ValueError(f"{name} must be non-negative and non-decreasing, got {values}")
  return values


@dataclasses.dataclass(frozen=True)
class Pattern:
  """One interleaving; hashable, so it can be a static jit argument. Build it with `make`.

  delays: per codebook for delay / unroll, per codebook 1..K-1 for coarse_first (audiocraft's
  convention); flattening: unroll's sub-step of each codebook; group_size: musiclm's groups.
  Defaults are filled in, so equal layouts compare equal.
  """
  name: str
  num_codebooks: int
  delays: tuple[int, ...] | None = None
  flattening: tuple[int, ...] | None = None
  group_size: int = 2

  def __post_init__(self):
    k, name = self.num_codebooks, self.name
    if name not in PATTERNS:
      raise ValueError(f"unknown pattern {name!r}; choose one of {PATTERNS}")
    if k < 1:
      raise ValueError(f"num_codebooks must be >= 1, got {k}")
    if self.flattening is not None and name != "unroll":
      raise ValueError(f"flattening is an option of 'unroll' only, not of {name!r}")
    if self.group_size != 2 and name != "musiclm":
      raise ValueError(f"group_size is an option of 'musiclm' only, not of {name!r}")
    delays, flattening = self.delays, None
    if name == "parallel":
      delays = _ints("parallel delays", (0,) * k if delays is None else delays, k, "all 0")
      if any(delays):
        raise ValueError("parallel has no delays; use pattern 'delay' for delayed codebooks")
    elif name == "delay":
      delays = _ints("delays", range(k) if delays is None else delays, k, "one per codebook")
    elif name == "unroll":
      flattening = range(k) if self.flattening is None else self.flattening
      flattening = _ints("flattening", flattening, k, "one sub-step per codebook")
      delays = _ints("delays", (0,) * k if delays is None else delays, k, "one per codebook")
      for q in range(1, k):
        if flattening[q] == flattening[q - 1] and delays[q] != delays[q - 1]:
          raise ValueError(f"unroll: codebooks sharing a sub-step need the same delay, got "
                           f"flattening={flattening}, delays={delays}")
    elif name == "coarse_first":
      if k < 2:
        raise ValueError("coarse_first needs num_codebooks >= 2; use 'parallel' for one")
      delays = _ints("coarse_first delays", (0,) * (k - 1) if delays is None else delays,
                     k - 1, "one per codebook after the first")
    else:
      if delays is not None:
        raise ValueError("musiclm takes no delays; its only option is group_size")
      if self.group_size < 1 or k % self.group_size:
        raise ValueError(f"musiclm group_size must divide num_codebooks={k}, "
                         f"got {self.group_size}")
    object.__setattr__(self, "delays", delays)
    object.__setattr__(self, "flattening", flattening)

  def frames(self, num_frames: int) -> np.ndarray:
    """int32 [K, S]: the frame each position holds, -1 for the special token (read-only)."""
    return _frames(self, num_frames)

  def length(self, num_frames: int) -> int:
    """S, the number of steps (step 0 included) for `num_frames` frames."""
    return self.frames(num_frames).shape[1]

  def valid(self, num_frames: int) -> np.ndarray:
    """bool [K, S]: True where a position holds a real code."""
    return self.frames(num_frames) >= 0

  def steps(self, num_frames: int) -> np.ndarray:
    """int32 [K, T]: the step that holds code (k, t) (always >= 1)."""
    return _steps(self, num_frames)

  def steps_for_frames(self, num_frames: int, prompt_frames: int) -> int:
    """How many leading steps hold only frames < prompt_frames (or the special token): the
    steps a prompt of that many frames fully determines. Decoding starts predicting there;
    later steps may still hold prompt codes (frames < prompt_frames) to keep."""
    late = np.any(self.frames(num_frames) >= prompt_frames, axis=0)
    return int(np.argmax(late)) if late.any() else len(late)


def make(name: str, num_codebooks: int, **options) -> Pattern:
  """A pattern by name, with only the options that pattern takes (lists are fine: the
  Pattern stores tuples)."""
  if name not in _OPTIONS:
    raise ValueError(f"unknown pattern {name!r}; choose one of {PATTERNS}")
  bad = sorted(set(options) - set(_OPTIONS[name]))
  if bad:
    raise ValueError(f"pattern {name!r} takes options {_OPTIONS[name]}, got {bad}")
  return Pattern(name, num_codebooks, **options)


@functools.lru_cache(maxsize=256)
def _frames(p: Pattern, num_frames: int) -> np.ndarray:
  if num_frames < 1:
    raise ValueError(f"num_frames must be >= 1, got {num_frames}")
  k, t = p.num_codebooks, num_frames
  q = np.arange(k)[:, None]
  if p.name in ("parallel", "delay"):
    delays = np.asarray(p.delays)[:, None]
    f = np.arange(t + 1 + delays.max())[None] - 1 - delays
  elif p.name == "coarse_first":
    # audiocraft's VALLEPattern / CoarseFirstPattern: codebook 0 frame by frame (steps 1..T),
    # then codebooks 1..K-1 together, codebook q delayed by delays[q-1] (T + max delay steps).
    delays = np.asarray(p.delays)
    f = np.full((k, 1 + 2 * t + delays.max()), -1)
    f[0, 1:t + 1] = np.arange(t)
    f[1:, t + 1:] = np.arange(t + delays.max())[None] - delays[:, None]
  elif p.name == "musiclm":
    # audiocraft's MusicLMPattern: group by group over the whole sequence (MusicLM's coarse,
    # then fine stage), the group's codebooks flattened within each frame.
    g = p.group_size
    f = np.full((k, 1 + k * t), -1)
    f[q, 1 + (q // g) * g * t + np.arange(t)[None] * g + q % g] = np.arange(t)[None]
  else:
    f = _unroll(p, t)
  f = np.where((f >= 0) & (f < t), f, -1).astype(np.int32)
  f.flags.writeable = False
  return f


def _unroll(p: Pattern, t: int) -> np.ndarray:
  # As audiocraft's UnrolledPatternProvider: frames 0..T+D-1 (D = max delay), each with one
  # sub-step per flattening index; a sub-step of delay d is emitted at time frame + d (dropped if
  # that is >= T+D), and the steps are sorted as audiocraft sorts its (time, coordinates): at one
  # time, empty sub-steps first, then the earliest frame, then the lowest codebook.
  groups = {}
  for q, (sub, d) in enumerate(zip(p.flattening, p.delays)):
    groups.setdefault(sub, ([], d))[0].append(q)
  end = t + max(p.delays)
  entries = []
  for frame in range(end):
    for sub in range(max(p.flattening) + 1):
      if sub not in groups:
        entries.append(((frame, 0, 0, 0), [], frame))
      elif frame + groups[sub][1] < end:
        qs = groups[sub][0]
        entries.append(((frame + groups[sub][1], 1, frame, qs[0]), qs, frame))
  entries.sort(key=lambda e: e[0])
  f = np.full((p.num_codebooks, 1 + len(entries)), -1)
  for s, (_, qs, frame) in enumerate(entries, start=1):
    f[qs, s] = frame
  return f


@functools.lru_cache(maxsize=256)
def _steps(p: Pattern, num_frames: int) -> np.ndarray:
  f = p.frames(num_frames)
  steps = np.zeros((p.num_codebooks, num_frames), np.int32)
  q, s = np.nonzero(f >= 0)
  steps[q, f[q, s]] = s
  steps.flags.writeable = False
  return steps


def _check(pattern: Pattern, x, what: str):
  if x.shape[1] != pattern.num_codebooks:
    raise ValueError(f"{what} has {x.shape[1]} codebooks, the pattern {pattern.num_codebooks}")


def _xp(x):
  # numpy in, numpy out (host-side data pipelines); anything else (jax arrays, tracers) -> jnp.
  return np if isinstance(x, np.ndarray) else jnp


def build(pattern: Pattern, codes: Array, special_token: int) -> tuple[Array, np.ndarray]:
  """codes [B, K, T] -> (seq [B, K, S] int32 with special_token where no code, valid [K, S])."""
  _check(pattern, codes, "codes")
  xp = _xp(codes)
  f = pattern.frames(codes.shape[2])
  valid = f >= 0
  seq = codes[:, np.arange(pattern.num_codebooks)[:, None], np.maximum(f, 0)]
  return xp.where(valid, seq, special_token).astype(xp.int32), valid


def revert_codes(pattern: Pattern, seq: Array, num_frames: int) -> Array:
  """seq [B, K, S'] -> codes [B, K, T], the inverse of `build`; S' may exceed S, not fall short."""
  _check(pattern, seq, "seq")
  steps = pattern.steps(num_frames)
  if seq.shape[2] <= steps.max():
    raise ValueError(f"seq has {seq.shape[2]} steps; {num_frames} frames need "
                     f"{steps.max() + 1} ({pattern.name!r})")
  return seq[:, np.arange(pattern.num_codebooks)[:, None], steps]


def revert_logits(pattern: Pattern, logits: Array, num_frames: int,
                  fill: float = 0.0) -> tuple[Array, np.ndarray]:
  """logits [B, K, S', V] -> (logits [B, K, T, V], mask [K, T]).

  The model's output at step s-1 predicts step s, so code (k, t), held at step s, takes the
  logits of step s-1 (as audiocraft's revert_pattern_logits). Where s-1 >= S' (shorter logits)
  the mask is False and the logits are `fill`.
  """
  _check(pattern, logits, "logits")
  xp = _xp(logits)
  source = pattern.steps(num_frames) - 1
  mask = source < logits.shape[2]
  source = np.minimum(source, logits.shape[2] - 1)
  out = logits[:, np.arange(pattern.num_codebooks)[:, None], source]
  return xp.where(mask[None, :, :, None], out, xp.asarray(fill, out.dtype)), mask
