"""SoundStream codec configs: the SEANet parts of EnCodec with SoundStream's sizes (strides
2, 4, 5, 8; three residual units per scale with dilations 1, 3, 9 and kernel 7; no LSTM;
quantizer dropout over all levels in training).

Variants: tiny (CPU, minutes), base (24 kHz, 6 kbps max as in the paper's 3-18 kbps range).
"""
import ml_collections

from configs import encodec


def get_config(arg: str = "base") -> ml_collections.ConfigDict:
  variant = arg or "base"
  config = ml_collections.ConfigDict()
  config.family = "codec"            # which trainer / model family
  config.variant = variant           # the variant this config was made from
  m = encodec.model_config("base")
  m.update(num_residual_layers=3, dilation_base=3, residual_kernel_size=7, compress=1,
           lstm_layers=0, conv_shortcut=False, norm="weight_norm", causal=True)
  if variant == "base":
    # 24 kHz, 75 frames/s, 24 levels of 1024: 0.75 kbps per level, 18 kbps max.
    m.update(num_quantizers=24, bandwidths=(3.0, 6.0, 12.0, 18.0))
  elif variant == "tiny":
    m.update(sample_rate=16000, num_filters=8, dimension=32, ratios=(8, 5, 4),
             num_residual_layers=2, codebook_size=256, num_quantizers=4,
             bandwidths=(0.8, 1.6, 3.2), kmeans_iters=5)
  else:
    raise ValueError(f"unknown soundstream variant {variant!r}; choose tiny or base")
  config.model = m
  encodec.trainer_config(config, variant)
  config.quantizer_dropout = "levels"      # U{1..Q} levels per example (SoundStream)
  config.discriminator.kind = "soundstream"  # wave-based + STFT discriminators
  config.discriminator.filters = 8 if variant == "tiny" else 32  # STFT discriminator filters
  config.discriminator.wave_filters = 4 if variant == "tiny" else 16  # wave disc. filters
  return config
