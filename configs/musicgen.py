"""MusicGen-style LM configs: the audiogen fields with MusicGen's defaults (32 kHz EnCodec
4 x 2048 at 50 Hz, T5-base, 30 s windows, extend stride 18 s, condition dropout 0.3).

Variants: tiny (the bundled tiny codec, CPU minutes), base, small (300M: 1024 wide, 24 layers,
16 heads), medium (1.5B: 1536, 48, 24), large (3.3B: 2048, 48, 32).
"""
import ml_collections

from configs import audiogen


def get_config(arg: str = "small") -> ml_collections.ConfigDict:
  variant = arg or "small"
  if variant not in ("tiny", "base", "small", "medium", "large"):
    raise ValueError(f"unknown musicgen variant {variant!r}; choose tiny, base, small, medium "
                     "or large")
  config = ml_collections.ConfigDict()
  config.variant = variant                 # the variant this config was made from
  audiogen.lm_config(config, variant, family_defaults=dict(
      condition_dropout=0.3, window_seconds=30.0, extend_stride=18.0, size=variant))
  if variant != "tiny":
    config.model.text_dim = 768            # T5-base
    config.data.sample_rate = 32000        # MusicGen's 32 kHz EnCodec
  return config
