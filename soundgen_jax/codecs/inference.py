"""Jitted codec inference on whole files: model-level chunking (48 kHz EnCodec), exact
streaming of long files through causal encoders, and overlap-add decoding."""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from flax import nnx

from soundgen_jax.codecs.codec import Codec

MIN_STREAM_FRAMES = 16  # every streamed chunk spans at least this many frames


@dataclasses.dataclass
class Encoded:
  codes: np.ndarray               # [B, Q, frames] int32 (chunked models: chunks concatenated)
  scales: np.ndarray | None       # [B, chunks] per-chunk normalisation, or None
  num_samples: int                # original length, to trim the decoded audio
  bandwidth: float
  sample_rate: int


@functools.partial(jax.jit, static_argnums=(0, 3))
def _encode_frame(graphdef, state, audio, n_q):
  return nnx.merge(graphdef, state).encode_frame(audio, n_q)


@functools.partial(jax.jit, static_argnums=(0,))
def _decode_frame(graphdef, state, codes, scale):
  return nnx.merge(graphdef, state).decode_frame(codes, scale)


@functools.partial(jax.jit, static_argnums=(0, 3, 5))
def _encode_stream(graphdef, state, audio, n_q, stream_state, last):
  return nnx.merge(graphdef, state).encode_stream(audio, n_q, stream_state, last)


def _chunks(cfg, num_samples):
  """(offset, length) of each model-level chunk; one chunk for unchunked models."""
  if cfg.chunk_length is None:
    return [(0, num_samples)]
  return [(o, min(cfg.chunk_length, num_samples - o))
          for o in range(0, num_samples, cfg.chunk_stride)]


def encode(model: Codec, audio, bandwidth: float | None = None, batch_chunks: int = 16) -> Encoded:
  """audio [B, C, T] -> Encoded. Chunked models encode equal-length chunks as one batch."""
  cfg = model.config
  audio = jnp.asarray(audio, jnp.float32)
  if audio.ndim != 3 or audio.shape[1] != cfg.channels:
    raise ValueError(f"expected audio [batch, {cfg.channels}, samples], got {audio.shape}")
  bandwidth = cfg.bandwidths[-1] if bandwidth is None else float(bandwidth)
  n_q = cfg.num_quantizers_for(bandwidth)
  graphdef, state = nnx.split(model)
  b, _, t = audio.shape
  codes, scales = [], []
  # Runs of equal-length chunks go through the encoder together, `batch_chunks` at a time.
  chunks = _chunks(cfg, t)
  i = 0
  while i < len(chunks):
    length = chunks[i][1]
    group = [o for o, n in chunks[i:i + batch_chunks] if n == length]
    x = jnp.concatenate([audio[:, :, o:o + length] for o in group], axis=0)
    c, s = _encode_frame(graphdef, state, x, n_q)
    codes += np.split(np.asarray(c), len(group), axis=0)
    if s is not None:
      scales += np.split(np.asarray(s), len(group), axis=0)
    i += len(group)
  scales_arr = np.stack(scales, axis=1) if scales else None
  return Encoded(np.concatenate(codes, axis=-1), scales_arr, t, bandwidth, cfg.sample_rate)


def decode(model: Codec, codes, scales=None, num_samples: int | None = None) -> np.ndarray:
  """codes [B, Q, frames] (+ scales [B, chunks]) -> audio [B, C, num_samples]."""
  cfg = model.config
  codes = np.asarray(codes, np.int32)
  if codes.ndim != 3:
    raise ValueError(f"expected codes [batch, codebooks, frames], got {codes.shape}")
  if codes.shape[1] > cfg.num_quantizers or codes.min() < 0 or codes.max() >= cfg.codebook_size:
    raise ValueError(f"codes do not fit this codec ({cfg.num_quantizers} codebooks of "
                     f"{cfg.codebook_size}): shape {codes.shape}, range [{codes.min()}, {codes.max()}]")
  graphdef, state = nnx.split(model)
  hop = cfg.hop_length
  if cfg.chunk_length is None:
    out = np.asarray(_decode_frame(graphdef, state, codes, None))
  else:
    if num_samples is None:
      raise ValueError("a chunked codec needs num_samples to decode")
    frames = [math.ceil(n / hop) for _, n in _chunks(cfg, num_samples)]
    pieces = np.split(codes, np.cumsum(frames)[:-1], axis=-1)
    if scales is None:
      scales = np.ones((codes.shape[0], len(pieces)), np.float32)
    decoded = [np.asarray(_decode_frame(graphdef, state, p, jnp.asarray(scales[:, k])))
               for k, p in enumerate(pieces)]
    out = overlap_add(decoded, cfg.chunk_stride)
  return out if num_samples is None else out[..., :num_samples]


def overlap_add(frames: list[np.ndarray], stride: int) -> np.ndarray:
  """Linear cross-fade of overlapping decoded chunks (triangular weights)."""
  length = frames[0].shape[-1]
  total = stride * (len(frames) - 1) + frames[-1].shape[-1]
  t = np.linspace(0, 1, length + 2, dtype=np.float32)[1:-1]
  weight = 0.5 - np.abs(t - 0.5)
  out = np.zeros(frames[0].shape[:-1] + (total,), np.float32)
  norm = np.zeros(total, np.float32)
  for k, frame in enumerate(frames):
    n = frame.shape[-1]
    out[..., k * stride:k * stride + n] += weight[:n] * frame
    norm[k * stride:k * stride + n] += weight[:n]
  return out / norm


def encode_long(model: Codec, audio, bandwidth: float | None = None,
                chunk_seconds: float = 10.0, progress: bool = False) -> Encoded:
  """Encodes a long recording in bounded memory.

  Causal, unchunked codecs stream: each chunk carries the convolution tails and LSTM state of
  the previous one, so the codes are identical to encoding in one go whatever the chunk size
  (rounded up to whole frames, at least MIN_STREAM_FRAMES). Other codecs use `encode`, whose
  chunked models are bounded already; a non-causal unchunked codec is encoded whole.
  """
  cfg = model.config
  if not cfg.causal or cfg.chunk_length is not None:
    return encode(model, audio, bandwidth)
  audio = jnp.asarray(audio, jnp.float32)
  bandwidth = cfg.bandwidths[-1] if bandwidth is None else float(bandwidth)
  n_q = cfg.num_quantizers_for(bandwidth)
  hop = cfg.hop_length
  frames = max(MIN_STREAM_FRAMES, math.ceil(chunk_seconds * cfg.sample_rate / hop))
  step = frames * hop
  t = audio.shape[-1]
  if t <= step + MIN_STREAM_FRAMES * hop:
    return encode(model, audio, bandwidth)
  graphdef, state = nnx.split(model)
  codes, stream_state = [], None
  offsets = list(range(0, t, step))
  if t - offsets[-1] < MIN_STREAM_FRAMES * hop:  # fold a tiny tail into the last chunk
    offsets.pop()
  for k, o in enumerate(tqdm.tqdm(offsets, desc="encoding", unit="chunk", disable=not progress)):
    last = k == len(offsets) - 1
    chunk = audio[..., o:] if last else audio[..., o:o + step]
    c, stream_state = _encode_stream(graphdef, state, chunk, n_q, stream_state, last)
    codes.append(np.asarray(c))
  return Encoded(np.concatenate(codes, -1), None, t, bandwidth, cfg.sample_rate)
