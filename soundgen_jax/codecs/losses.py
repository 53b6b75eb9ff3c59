"""Codec training losses: waveform L1, SI-SNR, multi-scale mel, hinge adversarial, feature
matching.

All are pure jnp functions of arrays, so they jit and differentiate anywhere. Audio is
`[..., samples]` (typically `[batch, channels, samples]`). The adversarial losses take the
discriminator outputs of `discriminators.py`: a list of logits (one per sub-discriminator) and a
list of lists of feature maps.

EnCodec's weights for these (with the balancer): l_t 0.1, l_f 1, l_g 3, l_feat 3.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from soundgen_jax import audio
from soundgen_jax.eval import codec_metrics

Array = jax.Array


def waveform_l1_loss(x: Array, y: Array) -> Array:
  """l_t: mean |x - y| over every sample."""
  return jnp.mean(jnp.abs(x - y))


def si_snr_loss(x: Array, y: Array) -> Array:
  """Negative SI-SNR in dB of the estimate x against the reference y, averaged over examples
  (audiocraft's optional `sisnr` loss). Scale-invariant, so every clip counts alike however
  loud, and it rewards only what is in phase with the reference."""
  return -jnp.mean(codec_metrics.si_snr(y, x))


def multiscale_mel_loss(x: Array, y: Array, sample_rate: int, *,
                        scales: Sequence[int] = tuple(range(5, 12)), n_mels: int = 64,
                        power: float = 1.0, log_l2: bool = False, floor: float = 1e-5,
                        alpha: str = "one", normalize: bool = False) -> Array:
  """l_f: sum over scales i of mean|S_i(x) - S_i(y)| + alpha_i * mean((S_i(x) - S_i(y))^2).

  S_i is `audio.mel_spectrogram` with window 2^i, hop 2^i / 4 and `n_mels` Slaney mel bins over
  0..sample_rate / 2 (centred, reflect-padded frames). Defaults follow the EnCodec paper
  (scales 5..11, 64 mels, magnitude, alpha_i = 1, linear mels in both terms). Options:
    power: 1 for magnitude mels, 2 for power mels (torchaudio's default, used by audiocraft).
    log_l2: the L2 term compares log10(floor + mel) instead of the mel (audiocraft).
    alpha: "one" (alpha_i = 1) or "sqrt" (alpha_i = sqrt(2^i - 1), audiocraft).
    normalize: divide the sum by sum_i (1 + alpha_i), making it an average of the terms.
  audiocraft's EnCodec recipe is roughly scales=range(6, 11), power=2, log_l2=True,
  alpha="sqrt".
  """
  if alpha not in ("one", "sqrt"):
    raise ValueError(f"alpha must be 'one' or 'sqrt', got {alpha!r}")
  if x.shape != y.shape:
    raise ValueError(f"mel loss needs equal shapes, got {x.shape} and {y.shape}")
  total, weight = 0.0, 0.0
  for i in scales:
    n_fft = 2 ** i
    # One STFT for both signals.
    s = audio.mel_spectrogram(jnp.stack([x, y]), sample_rate, n_fft, n_fft // 4, n_mels,
                              power=power)
    a_i = 1.0 if alpha == "one" else float(np.sqrt(n_fft - 1))
    l2_in = jnp.log10(floor + s) if log_l2 else s
    total += jnp.mean(jnp.abs(s[0] - s[1])) + a_i * jnp.mean(jnp.square(l2_in[0] - l2_in[1]))
    weight += 1.0 + a_i
  return total / weight if normalize else total


def hinge_discriminator_loss(logits_real: Sequence[Array], logits_fake: Sequence[Array]) -> Array:
  """mean over sub-discriminators of mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))."""
  _check_same_count(logits_real, logits_fake)
  terms = [jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
           for r, f in zip(logits_real, logits_fake)]
  return sum(terms) / len(terms)


def hinge_generator_loss(logits_fake: Sequence[Array]) -> Array:
  """l_g: mean over sub-discriminators of mean(relu(1 - D(G(z)))) (EnCodec paper's form)."""
  if not logits_fake:
    raise ValueError("no logits")
  return sum(jnp.mean(jax.nn.relu(1.0 - f)) for f in logits_fake) / len(logits_fake)


def feature_matching_loss(fmaps_real: Sequence[Sequence[Array]],
                          fmaps_fake: Sequence[Sequence[Array]], eps: float = 1e-8) -> Array:
  """l_feat: mean|real - fake| / mean|real| per layer, averaged over layers, then discriminators.

  Normalising by the real feature's mean magnitude makes every layer count alike and the loss
  invariant to a common scale of real and fake features.
  """
  _check_same_count(fmaps_real, fmaps_fake)
  per_disc = []
  for real, fake in zip(fmaps_real, fmaps_fake):
    _check_same_count(real, fake)
    layers = [jnp.mean(jnp.abs(r - f)) / (jnp.mean(jnp.abs(r)) + eps)
              for r, f in zip(real, fake)]
    per_disc.append(sum(layers) / len(layers))
  return sum(per_disc) / len(per_disc)


def _check_same_count(a: Sequence, b: Sequence) -> None:
  if len(a) != len(b) or not a:
    raise ValueError(f"need the same non-zero number of items, got {len(a)} and {len(b)}")
