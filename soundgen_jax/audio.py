"""Audio I/O (soundfile), resampling (soxr), channel conversion, and STFT / mel in jnp.

Waveforms are float32 arrays shaped [channels, samples] in NumPy land and [..., samples] in
the jnp functions.
"""
from __future__ import annotations

import functools
import os

import jax.numpy as jnp
import numpy as np
import soundfile
import soxr


class AudioError(ValueError):
  """A file that cannot be used as audio; the message names the file and the reason."""


def info(path: str) -> soundfile._SoundFileInfo:
  """Header of an audio file (sample rate, channels, frames) without reading the samples."""
  _check_exists(path)
  try:
    return soundfile.info(path)
  except Exception as e:  # soundfile raises several types for unreadable files
    raise AudioError(f"{path}: cannot read audio ({_reason(e)})") from None


def load(path: str, sample_rate: int | None = None, channels: int | None = None,
         start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, int]:
  """Reads `path` as float32 [channels, samples]; optionally resampled and channel-converted.

  Returns (audio, rate). Raises AudioError for a missing, unreadable, empty or non-finite file.
  """
  _check_exists(path)
  try:
    with soundfile.SoundFile(path) as f:
      rate = f.samplerate
      if start:
        f.seek(int(round(start * rate)))
      frames = -1 if duration is None else int(round(duration * rate))
      audio = f.read(frames, dtype="float32", always_2d=True).T
  except Exception as e:
    raise AudioError(f"{path}: cannot read audio ({_reason(e)})") from None
  if audio.shape[-1] == 0:
    raise AudioError(f"{path}: the file holds no samples")
  if not np.isfinite(audio).all():
    raise AudioError(f"{path}: the file holds NaN or Inf samples")
  if channels is not None:
    audio = convert_channels(audio, channels)
  if sample_rate is not None and sample_rate != rate:
    audio, rate = resample(audio, rate, sample_rate), sample_rate
  return audio, rate


def save(path: str, audio: np.ndarray, sample_rate: int, subtype: str | None = "FLOAT",
         format: str | None = None) -> None:
  """Writes [channels, samples] audio; 32-bit float WAV by default (no clipping, no dither)."""
  audio = np.asarray(audio, dtype=np.float32)
  if audio.ndim == 1:
    audio = audio[None]
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  soundfile.write(path, audio.T, sample_rate, subtype=subtype, format=format)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """Resamples [channels, samples] with soxr (very high quality)."""
  if rate_in == rate_out:
    return audio
  out = soxr.resample(np.ascontiguousarray(audio.T), rate_in, rate_out, quality="VHQ")
  return np.ascontiguousarray(out.T, dtype=np.float32)


def convert_channels(audio: np.ndarray, channels: int) -> np.ndarray:
  """Mono <-> stereo: a downmix averages channels, an upmix repeats the mono channel."""
  have = audio.shape[0]
  if have == channels:
    return audio
  if channels == 1:
    return audio.mean(axis=0, keepdims=True)
  if have == 1:
    return np.repeat(audio, channels, axis=0)
  raise AudioError(f"cannot convert {have} channels to {channels}")


def _check_exists(path: str) -> None:
  if not os.path.exists(path):
    raise AudioError(f"{path}: no such file")
  if os.path.isdir(path):
    raise AudioError(f"{path}: is a folder, not an audio file")


def _reason(e: Exception) -> str:
  return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# --- STFT and mel in jnp ---------------------------------------------------------------------

def stft(x: jnp.ndarray, n_fft: int, hop: int, win_length: int | None = None,
         center: bool = True, pad_mode: str = "reflect") -> jnp.ndarray:
  """Complex STFT of [..., samples] -> [..., frames, n_fft // 2 + 1], Hann window (periodic)."""
  win_length = win_length or n_fft
  window = jnp.asarray(hann_window(win_length))
  if win_length < n_fft:
    left = (n_fft - win_length) // 2
    window = jnp.pad(window, (left, n_fft - win_length - left))
  if center:
    pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    x = jnp.pad(x, pad, mode=pad_mode)
  n_frames = 1 + (x.shape[-1] - n_fft) // hop
  idx = jnp.arange(n_fft)[None, :] + hop * jnp.arange(n_frames)[:, None]
  frames = x[..., idx] * window
  return jnp.fft.rfft(frames, n=n_fft, axis=-1)


@functools.lru_cache(maxsize=None)
def hann_window(length: int) -> np.ndarray:
  """Periodic Hann window, as torch.hann_window(length)."""
  return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
  """Slaney-style mel filterbank [n_fft // 2 + 1, n_mels] (librosa's default, area-normalised)."""
  f_max = f_max or sample_rate / 2
  fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
  mel_points = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
  hz = _mel_to_hz(mel_points)
  lower = (fft_freqs[:, None] - hz[None, :-2]) / np.maximum(hz[1:-1] - hz[:-2], 1e-10)
  upper = (hz[None, 2:] - fft_freqs[:, None]) / np.maximum(hz[2:] - hz[1:-1], 1e-10)
  weights = np.maximum(0, np.minimum(lower, upper))
  weights *= (2.0 / (hz[2:] - hz[:-2]))[None, :]
  return weights.astype(np.float32)


def mel_spectrogram(x: jnp.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int,
                    win_length: int | None = None, power: float = 1.0) -> jnp.ndarray:
  """Magnitude (power=1) mel spectrogram of [..., samples] -> [..., frames, n_mels]."""
  spec = jnp.abs(stft(x, n_fft, hop, win_length)) ** power
  return spec @ jnp.asarray(mel_filterbank(sample_rate, n_fft, n_mels))


def _hz_to_mel(f):
  f = np.asarray(f, dtype=np.float64)
  f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
  mel = f / f_sp
  return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m):
  m = np.asarray(m, dtype=np.float64)
  f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
  min_log_mel = min_log_hz / f_sp
  return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)
