"""soundgen_jax: neural audio codecs, text-to-audio LMs and SoundStorm in JAX / Flax NNX."""
# Before flax (which imports jax): records the TF_CPP_MIN_LOG_LEVEL the user set, if any.
from soundgen_jax import startup as _startup  # pylint: disable=unused-import
from flax import nnx  # pylint: disable=g-import-not-at-top,wrong-import-order

# Parameters carry logical axis names; they are placed on a mesh by `parallel.sharded_init`,
# never eagerly at construction, so models build the same way with or without a mesh.
nnx.use_eager_sharding(False)


def __getattr__(name):
  # `soundgen_jax.MusicGen` / `.AudioGen` / `.SoundStorm` load the generation stack on first use only, so
  # `import soundgen_jax` stays light.
  if name in ("MusicGen", "AudioGen", "SoundStorm"):
    from soundgen_jax import api  # pylint: disable=g-import-not-at-top
    return getattr(api, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
