"""Long files: the streamed encoding of a causal codec equals encoding in one go."""
import numpy as np
import pytest
from flax import nnx

from configs import encodec as encodec_configs
from soundgen_jax.codecs import inference
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.parallel.sharding import sharded_init


def _signal(rate, seconds, channels=1, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(int(rate * seconds)) / rate
  x = 0.4 * np.sin(2 * np.pi * 300 * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)
  return np.tile(x, (1, channels, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  return sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(0)))


@pytest.mark.parametrize("chunk_seconds", [0.1, 0.37, 1.0])
def test_streamed_codes_equal_whole(tiny, chunk_seconds):
  # 5.03 s: not a whole number of frames, so the last chunk is ragged too.
  audio = _signal(16000, 5.03)
  whole = inference.encode(tiny, audio)
  streamed = inference.encode_long(tiny, audio, chunk_seconds=chunk_seconds)
  assert streamed.codes.shape == whole.codes.shape
  np.testing.assert_array_equal(streamed.codes, whole.codes)


def test_streaming_official_24khz_architecture():
  cfg = CodecConfig(**encodec_configs.model_config("24khz"))
  model = sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(1)))
  audio = _signal(24000, 1.9)
  whole = inference.encode(model, audio, 6.0)
  streamed = inference.encode_long(model, audio, 6.0, chunk_seconds=0.5)
  np.testing.assert_array_equal(streamed.codes, whole.codes)


def test_non_causal_streaming_is_refused_at_layer_level():
  cfg = CodecConfig(**{**encodec_configs.model_config("tiny").to_dict(), "causal": False})
  model = nnx.eval_shape(lambda: Codec(cfg, rngs=nnx.Rngs(0)))  # refused before any compute
  with pytest.raises(ValueError, match="causal"):
    model.encode_stream(_signal(16000, 0.5), 2, None, last=True)
