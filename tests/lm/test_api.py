"""soundgen_jax.api (audiocraft's MusicGen / AudioGen interface) on a tiny random model folder.

Every generation uses batch 2 and 1 s windows (50 frames), so the few compiled programs (no
prompt / a 25-frame prompt) serve all tests."""
import dataclasses
import warnings

import numpy as np
import pytest

import soundgen_jax
from soundgen_jax import api
import lm_helpers as h

SECOND = h.SAMPLE_RATE  # samples in one second


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
  return api.MusicGen.get_pretrained(h.shared_model_dir(tmp_path_factory))


@pytest.fixture
def model(gen):
  """The module's model with the tests' settings and a fresh random stream."""
  gen.set_generation_params(duration=1.0)
  gen.set_seed(0)
  gen.set_custom_progress_callback(None)
  return gen


def _tone(batch, rate, seconds, channels=1):
  t = np.arange(int(rate * seconds)) / rate
  x = np.stack([0.5 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
  return np.repeat(x[None], batch, axis=0).astype(np.float32)


def test_folder_properties_and_defaults(model):
  assert (model.sample_rate, model.frame_rate, model.audio_channels) == (16000, 50.0, 1)
  assert model.max_duration == h.MAX_DURATION
  assert model.extend_stride == h.EXTEND_STRIDE  # the folder's, not audiocraft's 18 s
  assert soundgen_jax.MusicGen is api.MusicGen and soundgen_jax.AudioGen is api.AudioGen
  audiogen = api.AudioGen("tiny", model.model)
  assert audiogen.duration == 5.0 and audiogen.sampling.top_k == 250
  assert audiogen.sampling.cfg_coef == 3.0
  audiogen.set_generation_params()
  assert audiogen.duration == 10.0
  with pytest.raises(ValueError, match="launch/convert.py"):
    api.MusicGen.get_pretrained("facebook/musicgen-small")


def test_generate_shapes_and_seeds(model):
  texts = ["a dog barks", "rain on a roof"]
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    a, codes = model.generate(texts, return_tokens=True)
  assert not [w for w in caught if "max_length" in str(w.message)]
  assert a.shape == (2, 1, SECOND) and a.dtype == np.float32 and np.isfinite(a).all()
  assert codes.shape == (2, 2, 50) and codes.dtype == np.int32
  assert codes.min() >= 0 and codes.max() < 16
  np.testing.assert_allclose(model.generate_audio(codes), a, atol=1e-6)
  stats = model.last_stats
  assert stats.batch == 2 and stats.frames == 50 and stats.tokens_per_s > 0 and stats.rtf > 0
  following = model.generate(texts)  # the stream moves on: another sample
  assert not np.array_equal(following, a)
  model.set_seed(0)
  np.testing.assert_array_equal(model.generate(texts), a)
  model.set_seed(1)
  assert not np.array_equal(model.generate(texts), a)


def test_unconditional(model, monkeypatch):
  audio, codes = model.generate_unconditional(2, return_tokens=True)
  assert audio.shape == (2, 1, SECOND) and codes.shape == (2, 2, 50)
  model.set_seed(0)
  np.testing.assert_array_equal(model.generate([None, None]), audio)  # None = null condition
  model.set_seed(0)
  assert not np.array_equal(model.generate(["a dog barks", "rain"]), audio)
  calls = []
  monkeypatch.setattr(model, "generate_unconditional", lambda *a: calls.append(a) or "uncond")
  assert model.generate(None) == "uncond" and calls[0][0] == 1


def test_continuation_keeps_the_prompt(model):
  prompt = _tone(2, 8000, 0.5)  # resampled to 16 kHz: 8000 samples = 25 frames
  audio, codes = model.generate_continuation(prompt, 8000, descriptions=["more", "again"],
                                             return_tokens=True)
  assert audio.shape == (2, 1, SECOND) and codes.shape == (2, 2, 50)
  want = model.encode_prompt(prompt, 8000)
  assert want.shape == (2, 2, 25)
  np.testing.assert_array_equal(codes[:, :, :25], want)
  single = model.encode_prompt(prompt[0], 8000)  # [C, T] is one prompt
  np.testing.assert_array_equal(single, want[:1])
  audio = model.generate_continuation(prompt, 8000)  # no text: the null condition
  assert audio.shape == (2, 1, SECOND)


def test_long_form_beyond_max_duration(model, capsys):
  model.set_generation_params(duration=2.5)  # 125 frames in 1 s windows, 0.5 s stride
  seen = []
  model.set_custom_progress_callback(lambda done, total: seen.append((done, total)))
  audio, codes = model.generate(["a dog barks", "rain"], progress=True, return_tokens=True)
  assert audio.shape == (2, 1, int(2.5 * SECOND)) and codes.shape == (2, 2, 125)
  assert seen == [(75, 125), (100, 125), (125, 125)]
  err = capsys.readouterr().err
  assert "tokens/s" in err and "RTF" in err


def test_long_text_is_cut_with_a_warning(model):
  long = " ".join(["thunder"] * 30)
  with pytest.warns(UserWarning, match="max_length of 16"):
    audio = model.generate([long, "short"])
  assert audio.shape == (2, 1, SECOND)


def test_bad_inputs_raise_value_errors(model):
  with pytest.raises(ValueError, match="descriptions is empty"):
    model.generate([])
  with pytest.raises(ValueError, match="descriptions"):
    model.generate("a dog barks")
  with pytest.raises(ValueError, match=r"descriptions\[1\]"):
    model.generate(["a dog barks", 3])
  for bad in (0, -1.0):
    with pytest.raises(ValueError, match="duration"):
      model.set_generation_params(duration=bad)
  assert model.duration == 1.0  # a refused setting changes nothing
  with pytest.raises(ValueError, match="num_samples"):
    model.generate_unconditional(0)
  with pytest.raises(ValueError, match="extend_stride"):
    model.set_generation_params(duration=3.0, extend_stride=1.0)
  with pytest.raises(ValueError, match="prompt"):
    model.generate_continuation(_tone(2, 16000, 1.0), 16000)  # as long as the duration
  model.set_generation_params(duration=3.0)
  with pytest.raises(ValueError, match="max_duration"):  # longer than the model's window
    model.generate_continuation(_tone(2, 16000, 1.2), 16000)
  with pytest.raises(ValueError, match="descriptions"):
    model.generate_continuation(_tone(2, 16000, 0.5), 16000, descriptions=["one"])


def test_stereo_decodes_left_and_right_codebooks(model):
  """A stereo folder over a mono codec: 4 codebooks, left / right interleaved."""
  pre = model.model
  stereo = api.MusicGen("stereo", dataclasses.replace(
      pre, config=dataclasses.replace(pre.config, num_codebooks=4),
      meta={**pre.meta, "channels": 2}))
  assert stereo.audio_channels == 2
  codes = np.random.default_rng(0).integers(0, 16, (2, 4, 50))
  out = stereo.generate_audio(codes)
  assert out.shape == (2, 2, SECOND)
  np.testing.assert_allclose(out[:, :1], model.generate_audio(codes[:, ::2]), atol=1e-6)
  np.testing.assert_allclose(out[:, 1:], model.generate_audio(codes[:, 1::2]), atol=1e-6)
  prompt = _tone(2, 16000, 0.5, channels=2)
  both = stereo.encode_prompt(prompt, 16000)
  assert both.shape == (2, 4, 25)
  np.testing.assert_array_equal(both[:, ::2], model.encode_prompt(prompt[:, :1], 16000))
  np.testing.assert_array_equal(both[:, 1::2], model.encode_prompt(prompt[:, 1:], 16000))
