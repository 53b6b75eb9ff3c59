"""soundgen_jax: neural audio codecs, text-to-audio LMs and SoundStorm in JAX / Flax NNX."""
from flax import nnx

# Parameters carry logical axis names; they are placed on a mesh by `parallel.sharded_init`,
# never eagerly at construction, so models build the same way with or without a mesh.
nnx.use_eager_sharding(False)


def __getattr__(name):
  # `soundgen_jax.MusicGen` / `.AudioGen` load the generation stack on first use only, so
  # `import soundgen_jax` stays light.
  if name in ("MusicGen", "AudioGen"):
    from soundgen_jax import api  # pylint: disable=g-import-not-at-top
    return getattr(api, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
