"""EnCodec codec configs.

Variants (`--config=configs/encodec.py:VARIANT`):
  tiny   a small causal model that trains on 2 CPU cores in minutes
  base   EnCodec 24 kHz sizes, for training from scratch
  24khz  the published 24 kHz model (causal, mono, 1.5-24 kbps)
  48khz  the published 48 kHz model (non-causal, stereo, 1 s chunks with a normalising scale)
  32khz  MusicGen's codec (non-causal, mono, 4 codebooks x 2048, 50 frames/s)
"""
import ml_collections


def model_config(variant: str) -> ml_collections.ConfigDict:
  """The `CodecConfig` fields of a variant (see soundgen_jax/codecs/codec.py for each field)."""
  m = ml_collections.ConfigDict(dict(
      sample_rate=24000,           # Hz
      channels=1,                  # audio channels
      dimension=128,               # latent and codebook vector size
      num_filters=32,              # base conv width, doubled per downsampling
      ratios=(8, 5, 4, 2),         # decoder upsampling ratios (hop = product)
      kernel_size=7,               # first conv kernel
      last_kernel_size=7,          # last conv kernel
      residual_kernel_size=3,      # residual unit kernel
      num_residual_layers=1,       # residual units per scale
      dilation_base=2,             # residual dilation growth
      compress=2,                  # residual hidden width divisor
      lstm_layers=2,               # LSTM layers at the bottleneck (0: none)
      causal=True,                 # causal padding (streamable)
      pad_mode="reflect",          # padding mode of the convs
      norm="weight_norm",          # weight_norm | time_group_norm | none
      conv_shortcut=True,          # 1x1 conv on residual skips
      trim_right_ratio=1.0,        # transposed-conv trim on the right (causal)
      codebook_size=1024,          # entries per codebook
      num_quantizers=32,           # RVQ levels
      bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0),  # kbps the model serves
      normalize=False,             # per-chunk RMS normalisation
      chunk_length_s=None,         # model-level chunk length in seconds (None: whole input)
      overlap=None,                # model-level chunk overlap fraction
      ema_decay=0.99,              # codebook EMA decay
      kmeans_iters=10,             # k-means iterations for codebook init
      dead_code_threshold=2.0,     # EMA usage under which a code is replaced
  ))
  if variant in ("base", "24khz"):
    pass
  elif variant == "48khz":
    m.update(sample_rate=48000, channels=2, causal=False, norm="time_group_norm",
             bandwidths=(3.0, 6.0, 12.0, 24.0), num_quantizers=16, normalize=True,
             chunk_length_s=1.0, overlap=0.01)
  elif variant == "32khz":
    m.update(sample_rate=32000, num_filters=64, ratios=(8, 5, 4, 4), causal=False,
             conv_shortcut=False, codebook_size=2048, num_quantizers=4, bandwidths=(2.2,))
  elif variant == "tiny":
    m.update(sample_rate=16000, num_filters=8, dimension=32, ratios=(8, 5, 4), lstm_layers=1,
             codebook_size=256, num_quantizers=4, bandwidths=(0.8, 1.6, 3.2), kmeans_iters=5)
  else:
    raise ValueError(f"unknown encodec variant {variant!r}; "
                     "choose tiny, base, 24khz, 48khz or 32khz")
  return m


def get_config(arg: str = "base") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = "codec"            # which trainer / model family
  config.variant = arg or "base"     # the variant this config was made from
  config.model = model_config(config.variant)
  return config
