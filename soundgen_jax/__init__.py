"""soundgen_jax: neural audio codecs, text-to-audio LMs and SoundStorm in JAX / Flax NNX."""
from flax import nnx

# Parameters carry logical axis names; they are placed on a mesh by `parallel.sharded_init`,
# never eagerly at construction, so models build the same way with or without a mesh.
nnx.use_eager_sharding(False)
