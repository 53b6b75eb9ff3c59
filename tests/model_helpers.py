"""Shared by the layer and model tests."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

SAMPLE_RATE = 16000
HOP = 8 * 5 * 4 * 2               # 320 samples: 50 frames/s, so 1 s is 50 decode steps
FRAME_RATE = SAMPLE_RATE / HOP


def random_weights(build, seed=0):
  """The module with random weights from numpy (biases and norm scales random too, which only
  makes the checks stricter): no initialiser to compile, a second or two saved per file."""
  module = nnx.eval_shape(build)
  state = nnx.state(module, nnx.Param)
  rng = np.random.default_rng(seed)
  values = jax.tree.map(lambda a: jnp.asarray(rng.normal(0, a.shape[-1] ** -0.5, a.shape),
                                              a.dtype), state.to_pure_dict())
  nnx.replace_by_pure_dict(state, values)
  nnx.update(module, state)
  return module


def tiny_codec():
  """A random 16 kHz, 50 frames/s codec of 2 levels x 16 codes, for generation tests."""
  from soundgen_jax.codecs.codec import Codec, CodecConfig  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel.sharding import sharded_init  # pylint: disable=g-import-not-at-top
  # 50 frames/s x 4 bits = 0.2 kbps a codebook: 0.4 kbps = 2 levels.
  cfg = CodecConfig(sample_rate=SAMPLE_RATE, channels=1, dimension=16, num_filters=4,
                    ratios=(8, 5, 4, 2), lstm_layers=0, codebook_size=16, num_quantizers=2,
                    bandwidths=(0.4,), kmeans_iters=2)
  # One jitted initialiser (eager ones compile per shape: tens of seconds on 2 cores).
  return sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
