"""soundgen_jax.audio: reading, resampling, channels, errors, STFT."""
import numpy as np
import pytest
import soundfile
import torch

from soundgen_jax import audio


def test_load_resample_and_channels(tmp_path):
  path = str(tmp_path / "a.flac")
  t = np.arange(44100) / 44100
  soundfile.write(path, np.stack([np.sin(2 * np.pi * 440 * t)] * 2, 1) * 0.5, 44100)
  x, rate = audio.load(path)
  assert x.shape == (2, 44100) and rate == 44100 and x.dtype == np.float32
  y, rate = audio.load(path, sample_rate=16000, channels=1)
  assert y.shape == (1, 16000) and rate == 16000
  # A real resampler: the 440 Hz tone survives with its level, no aliasing garbage.
  spectrum = np.abs(np.fft.rfft(y[0, 1000:-1000]))
  assert abs(np.argmax(spectrum) * 16000 / (16000 - 2000) - 440) < 2
  assert abs(np.abs(y[0, 1000:-1000]).max() - 0.5) < 0.01


@pytest.mark.parametrize("content,reason", [(b"", "cannot read"), (b"RIFF....WAVEjunk", "cannot read")])
def test_unreadable_files(tmp_path, content, reason):
  path = tmp_path / "bad.wav"
  path.write_bytes(content)
  with pytest.raises(audio.AudioError, match=reason):
    audio.load(str(path))


def test_nan_and_missing(tmp_path):
  path = str(tmp_path / "nan.wav")
  soundfile.write(path, np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT")
  with pytest.raises(audio.AudioError, match="NaN"):
    audio.load(path)
  with pytest.raises(audio.AudioError, match="no such file"):
    audio.load(str(tmp_path / "nope.wav"))


def test_stft_matches_torch():
  x = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
  ours = np.asarray(audio.stft(x, 512, 128))
  ref = torch.stft(torch.from_numpy(x), 512, 128, window=torch.hann_window(512),
                   return_complex=True, center=True, pad_mode="reflect").numpy()
  np.testing.assert_allclose(ours, np.swapaxes(ref, -1, -2), atol=1e-3, rtol=1e-4)
