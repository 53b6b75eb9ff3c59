"""Codec losses: known values, invariances, and the mel loss against `transformers`' audio_utils."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from transformers import audio_utils

import soundgen_jax  # noqa: F401
from soundgen_jax import audio
from soundgen_jax.codecs import losses

SR = 24000


@pytest.fixture(scope="module")
def pair():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 1, SR // 2)).astype(np.float32) * 0.1
  y = x + 0.01 * rng.normal(size=x.shape).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(y)


def _reference_mel(x: np.ndarray, n_fft: int, n_mels: int = 64, power: float = 1.0):
  """transformers' Slaney mel spectrogram of a 1-D signal, [frames, n_mels], float64."""
  filters = audio_utils.mel_filter_bank(num_frequency_bins=n_fft // 2 + 1,
                                        num_mel_filters=n_mels, min_frequency=0.0,
                                        max_frequency=SR / 2, sampling_rate=SR, norm="slaney",
                                        mel_scale="slaney")
  spec = audio_utils.spectrogram(x.astype(np.float64), audio_utils.window_function(n_fft),
                                 n_fft, n_fft // 4, power=power, center=True,
                                 pad_mode="reflect", mel_filters=filters, mel_floor=1e-30,
                                 dtype=np.float64)
  return spec.T


@pytest.mark.filterwarnings("ignore:At least one mel filter")  # 64 mels on 17 bins at n_fft 32
@pytest.mark.parametrize("n_fft", [32, 256, 2048])
def test_mel_matches_transformers(pair, n_fft):
  x = np.asarray(pair[0][0, 0])
  ours = np.asarray(audio.mel_spectrogram(jnp.asarray(x), SR, n_fft, n_fft // 4, 64))
  ref = _reference_mel(x, n_fft)
  assert ours.shape == ref.shape
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_mel_loss_single_scale_matches_reference_formula(pair):
  x, y = (np.asarray(a[0, 0]) for a in pair)
  sx, sy = _reference_mel(x, 256), _reference_mel(y, 256)
  expected = np.mean(np.abs(sx - sy)) + np.mean((sx - sy) ** 2)
  ours = losses.multiscale_mel_loss(jnp.asarray(x), jnp.asarray(y), SR, scales=(8,))
  np.testing.assert_allclose(ours, expected, rtol=1e-4)
  # audiocraft-style options: power mels, log10 in the L2 term, alpha = sqrt(2^i - 1).
  sx, sy = _reference_mel(x, 256, power=2.0), _reference_mel(y, 256, power=2.0)
  alpha = np.sqrt(255.0)
  expected = (np.mean(np.abs(sx - sy))
              + alpha * np.mean((np.log10(1e-5 + sx) - np.log10(1e-5 + sy)) ** 2))
  ours = losses.multiscale_mel_loss(jnp.asarray(x), jnp.asarray(y), SR, scales=(8,), power=2.0,
                                    log_l2=True, alpha="sqrt")
  np.testing.assert_allclose(ours, expected, rtol=1e-4)
  normalized = losses.multiscale_mel_loss(jnp.asarray(x), jnp.asarray(y), SR, scales=(8,),
                                          power=2.0, log_l2=True, alpha="sqrt", normalize=True)
  np.testing.assert_allclose(normalized, expected / (1 + alpha), rtol=1e-4)


def test_mel_loss_zero_positive_and_differentiable(pair):
  x, y = pair
  fn = jax.jit(jax.value_and_grad(lambda y: losses.multiscale_mel_loss(x, y, SR)))
  same, _ = fn(x)
  diff, grad = fn(y)
  _, silent_grad = fn(jnp.zeros_like(y))  # |STFT| = 0 everywhere must not give NaNs
  assert float(same) == 0.0
  assert np.isfinite(np.asarray(silent_grad)).all()
  assert float(diff) > 0
  assert np.isfinite(np.asarray(grad)).all() and float(jnp.abs(grad).max()) > 0
  # The default sum has one term per scale 5..11: more scales, more loss.
  fewer = losses.multiscale_mel_loss(x, y, SR, scales=(5, 6, 7))
  assert 0 < float(fewer) < float(diff)
  with pytest.raises(ValueError, match="alpha"):
    losses.multiscale_mel_loss(x, y, SR, alpha="two")


def test_waveform_l1():
  x = jnp.array([[1.0, -2.0, 3.0, 0.0]])
  y = jnp.array([[0.0, 0.0, 3.0, 1.0]])
  np.testing.assert_allclose(losses.waveform_l1_loss(x, y), 1.0)


def test_si_snr_loss_is_negative_si_snr_and_scale_invariant():
  rng = np.random.default_rng(0)
  ref = rng.standard_normal((3, 1, 800)).astype(np.float32)
  noise = rng.standard_normal((3, 1, 800)).astype(np.float32)
  est = ref + noise * np.array([0.1, 0.5, 1.0], np.float32)[:, None, None]
  # Zero-mean signals: SI-SNR = 10 log10(|a r|^2 / |e - a r|^2), a = <e, r> / |r|^2.
  r, e = ref - ref.mean(-1, keepdims=True), est - est.mean(-1, keepdims=True)
  a = (e * r).sum(-1, keepdims=True) / (r * r).sum(-1, keepdims=True)
  expected = 10 * np.log10(((a * r) ** 2).sum(-1) / ((e - a * r) ** 2).sum(-1))
  got = losses.si_snr_loss(jnp.asarray(est), jnp.asarray(ref))
  np.testing.assert_allclose(got, -expected.mean(), rtol=1e-4)
  np.testing.assert_allclose(losses.si_snr_loss(jnp.asarray(3 * est), jnp.asarray(ref)), got,
                             rtol=1e-4)
  grad = jax.grad(losses.si_snr_loss)(jnp.asarray(est), jnp.asarray(ref))
  assert np.isfinite(grad).all() and np.abs(grad).max() > 0


def test_hinge_losses_known_values():
  real = [jnp.array([2.0, 0.5, -1.0]), jnp.array([[0.0, 1.0]])]
  fake = [jnp.array([-2.0, 0.0, 1.0]), jnp.array([[-0.5, 3.0]])]
  # disc 0: relu(1 - real) = (0, .5, 2) -> 5/6, relu(1 + fake) = (0, 1, 2) -> 1;
  # disc 1: (1, 0) -> 1/2, (.5, 4) -> 9/4; averaged over the two discriminators.
  expected_d = ((5 / 6 + 1) + (1 / 2 + 9 / 4)) / 2
  np.testing.assert_allclose(losses.hinge_discriminator_loss(real, fake), expected_d, rtol=1e-6)
  # relu(1 - fake): (3, 1, 0) -> 4/3 and (1.5, 0) -> 3/4.
  np.testing.assert_allclose(losses.hinge_generator_loss(fake), (4 / 3 + 3 / 4) / 2, rtol=1e-6)
  with pytest.raises(ValueError):
    losses.hinge_discriminator_loss(real, fake[:1])


def test_feature_matching():
  rng = np.random.default_rng(1)
  real = [[jnp.asarray(rng.normal(size=(2, 5, 3))) for _ in range(3)] for _ in range(2)]
  fake = [[jnp.asarray(rng.normal(size=(2, 5, 3))) for _ in range(3)] for _ in range(2)]
  assert float(losses.feature_matching_loss(real, real)) == 0.0
  base = losses.feature_matching_loss(real, fake)
  assert float(base) > 0
  # Normalised per layer: scaling one layer (real and fake alike) leaves the loss unchanged,
  # and so does scaling everything.
  scaled = [[r * (10.0 ** i) for i, r in enumerate(rs)] for rs in real]
  scaled_fake = [[f * (10.0 ** i) for i, f in enumerate(fs)] for fs in fake]
  np.testing.assert_allclose(losses.feature_matching_loss(scaled, scaled_fake), base, rtol=1e-5)
  # Known value: mean|r - f| / mean|r| = (1/2) / 1 for layer 0 and 0 for layer 1, then
  # averaged over layers (1/4) and over the discriminators (1/4 and 1).
  real = [[jnp.array([1.0, -1.0]), jnp.array([2.0])], [jnp.array([4.0])]]
  fake = [[jnp.array([1.0, 0.0]), jnp.array([2.0])], [jnp.array([0.0])]]
  np.testing.assert_allclose(losses.feature_matching_loss(real, fake), (0.25 + 1.0) / 2,
                             rtol=1e-6)
