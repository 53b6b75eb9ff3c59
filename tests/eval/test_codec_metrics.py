"""SI-SNR, mel distance and codebook usage on signals whose answers are known."""
import jax.numpy as jnp
import numpy as np
import pytest

from soundgen_jax.eval import codec_metrics as cm

RATE = 16000


def _tone(freq=440.0, seconds=0.25, amp=0.5):
  t = np.arange(int(RATE * seconds)) / RATE
  return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, None]


def test_si_snr_matches_the_definition_and_ignores_scale():
  rng = np.random.default_rng(0)
  ref = _tone()
  noise = rng.standard_normal(ref.shape).astype(np.float32)
  noise -= noise.mean()
  # Make the noise orthogonal to the reference: then SI-SNR is exactly 10 log10(|s|^2 / |n|^2).
  r = ref - ref.mean()
  noise -= (noise * r).sum() / (r * r).sum() * r
  noise *= np.sqrt((r ** 2).sum() / (noise ** 2).sum()) / 10 ** (12 / 20)  # 12 dB below
  est = ref + noise
  assert float(cm.si_snr(jnp.asarray(ref), jnp.asarray(est))[0]) == pytest.approx(12.0, abs=1e-3)
  # Gain, sign flips of the gain, and a DC offset do not change it.
  for scaled in (3.0 * est, 0.01 * est, est + 0.2):
    assert float(cm.si_snr(jnp.asarray(ref), jnp.asarray(scaled))[0]) == pytest.approx(12.0, abs=1e-2)
  assert float(cm.si_snr(jnp.asarray(ref), jnp.asarray(ref))[0]) > 60


def test_si_snr_is_per_example_and_averages_channels():
  a, b = _tone(440), _tone(660)
  ref = jnp.asarray(np.concatenate([np.concatenate([a, a], 1), np.concatenate([a, b], 1)]))
  est = jnp.asarray(np.concatenate([np.concatenate([a, a], 1), np.concatenate([a, a], 1)]))
  out = np.asarray(cm.si_snr(ref, est))
  assert out.shape == (2,)
  assert out[0] > 60 and out[1] < out[0] - 20  # second example: one channel is a wrong tone
  with pytest.raises(ValueError, match="equal shapes"):
    cm.si_snr(ref, est[..., :-1])


def test_mel_distance_zero_for_equal_grows_with_error_and_skips_long_windows():
  x = jnp.asarray(np.concatenate([_tone(440), _tone(880)]))
  assert np.allclose(cm.mel_distance(x, x, RATE), 0.0, atol=1e-6)  # jitted: rows round apart
  slightly = cm.mel_distance(x, x * 0.9, RATE)
  very = cm.mel_distance(x, x * 0.1, RATE)
  assert np.all(slightly > 0) and np.all(very > 3 * slightly)
  # log10 magnitudes: a gain of 0.1 moves every bin well above the floor by 1 (white noise
  # fills every bin; windows of 2^10 and 2^11 leave no mel filter empty).
  noise = jnp.asarray(np.random.default_rng(0).standard_normal((1, 1, 4000)), jnp.float32)
  d = cm.mel_distance(noise, 0.1 * noise, RATE, scales=(10, 11))
  assert float(d[0]) == pytest.approx(1.0, abs=0.01)
  short = x[..., :1000]  # windows 2^10, 2^11 do not fit; the smaller scales still count
  assert np.all(np.isfinite(cm.mel_distance(short, short * 0.5, RATE)))
  with pytest.raises(ValueError, match="shorter than every"):
    cm.mel_distance(x[..., :16], x[..., :16], RATE)


def test_code_counts_and_usage():
  codes = jnp.asarray(np.array([[[0, 1, 2, 3], [5, 5, 5, 5]], [[0, 1, 2, 3], [5, 5, 5, 8]]]))
  counts = cm.code_counts(codes, 8)  # code 8 is out of range: padding, not counted
  assert counts.shape == (2, 8)
  np.testing.assert_array_equal(counts[0], [2, 2, 2, 2, 0, 0, 0, 0])
  np.testing.assert_array_equal(counts[1], [0, 0, 0, 0, 0, 7, 0, 0])
  usage = cm.codebook_usage(counts)
  np.testing.assert_allclose(usage["perplexity"], [4.0, 1.0], rtol=1e-6)  # 4 codes evenly; 1 code
  np.testing.assert_array_equal(usage["dead_codes"], [4, 7])
