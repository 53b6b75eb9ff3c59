"""Codec quality metrics: SI-SNR, log-mel distance, and codebook usage (perplexity, dead codes).

All are jnp functions of arrays, so they run inside the jitted eval step; the per-example values
are summed over the eval set and divided at the end (`Trainer.eval_finalize`).
Audio is `[batch, channels, samples]`, codes `[batch, levels, frames]`.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from soundgen_jax import audio

Array = jax.Array


@functools.partial(jax.jit, static_argnames="eps")
def si_snr(reference: Array, estimate: Array, eps: float = 1e-8) -> Array:
  """Scale-invariant SNR in dB per example, [B, C, T] -> [B] (mean over channels).

  Both signals are made zero-mean; the estimate is projected on the reference, and the ratio of
  the projection's energy to the residual's is the SI-SNR. A silent reference gives about
  -80 dB instead of NaN (eps).
  """
  if reference.shape != estimate.shape:
    raise ValueError(f"si_snr needs equal shapes, got {reference.shape} and {estimate.shape}")
  ref = reference - jnp.mean(reference, axis=-1, keepdims=True)
  est = estimate - jnp.mean(estimate, axis=-1, keepdims=True)
  scale = jnp.sum(est * ref, -1, keepdims=True) / (jnp.sum(ref * ref, -1, keepdims=True) + eps)
  target = scale * ref
  noise = est - target
  ratio = (jnp.sum(target * target, -1) + eps) / (jnp.sum(noise * noise, -1) + eps)
  return jnp.mean(10.0 * jnp.log10(ratio), axis=-1)


# Jitted: op by op, every new clip length compiled each of its dozens of ops (9 s a length).
@functools.partial(jax.jit, static_argnames=("sample_rate", "scales", "n_mels", "floor"))
def mel_distance(reference: Array, estimate: Array, sample_rate: int, *,
                 scales: Sequence[int] = tuple(range(5, 12)), n_mels: int = 64,
                 floor: float = 1e-5) -> Array:
  """Mean |log10(floor + mel(ref)) - log10(floor + mel(est))| per example, [B, C, T] -> [B].

  Averaged over the mel scales of the EnCodec loss (window 2^i, hop 2^i / 4, magnitude mels)
  whose window fits in the signal. Logarithmic, so quiet and loud parts count alike.
  """
  if reference.shape != estimate.shape:
    raise ValueError(f"mel_distance needs equal shapes, got {reference.shape} and "
                     f"{estimate.shape}")
  scales = [i for i in scales if 2 ** i <= reference.shape[-1]]
  if not scales:
    raise ValueError(f"signal of {reference.shape[-1]} samples is shorter than every mel window")
  total = 0.0
  for i in scales:
    n_fft = 2 ** i
    s = audio.mel_spectrogram(jnp.stack([reference, estimate]), sample_rate, n_fft, n_fft // 4,
                              n_mels)
    diff = jnp.abs(jnp.log10(floor + s[0]) - jnp.log10(floor + s[1]))
    total = total + jnp.mean(diff, axis=tuple(range(1, diff.ndim)))
  return total / len(scales)


def code_counts(codes: Array, codebook_size: int) -> Array:
  """How often each code of each level occurs: codes [B, Q, T] -> counts [Q, codebook_size].

  Codes >= codebook_size are not counted (a way to mask out padding)."""
  q = codes.shape[1]
  flat = jnp.swapaxes(codes, 0, 1).reshape(q, -1)
  zeros = jnp.zeros((codebook_size,), jnp.float32)
  return jax.vmap(lambda c: zeros.at[c].add(1.0, mode="drop"))(flat)


def codebook_usage(counts: Array) -> dict[str, Array]:
  """Per level, from counts [Q, N]: perplexity exp(entropy) (N = all codes used evenly, 1 =
  one code) and dead codes (never used)."""
  p = counts / jnp.maximum(jnp.sum(counts, axis=-1, keepdims=True), 1.0)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
  return {"perplexity": jnp.exp(entropy), "dead_codes": jnp.sum(counts == 0, axis=-1)}
