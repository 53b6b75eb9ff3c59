"""The neural audio codec: SEANet encoder -> residual vector quantizer -> SEANet decoder.

EnCodec (24 kHz causal mono, 48 kHz stereo with per-chunk normalisation, MusicGen's 32 kHz) and
SoundStream are the same model with different `CodecConfig`s; `configs/encodec.py` and
`configs/soundstream.py` hold the published sizes.

Public layout is channels-first like the audio world: audio [B, C, T], codes [B, Q, frames].
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.codecs.quantization import QuantizerOutput, ResidualVectorQuantizer
from soundgen_jax.codecs.seanet import SEANetDecoder, SEANetEncoder
from soundgen_jax.parallel import sharding


@dataclasses.dataclass(frozen=True)
class CodecConfig:
  """Every size of a codec. Defaults are EnCodec 24 kHz."""
  sample_rate: int = 24000
  channels: int = 1                       # audio channels (1 mono, 2 stereo)
  dimension: int = 128                    # latent / codebook vector size
  num_filters: int = 32                   # base conv width, doubled at each downsampling
  ratios: Sequence[int] = (8, 5, 4, 2)    # decoder upsampling ratios; encoder uses them reversed
  kernel_size: int = 7
  last_kernel_size: int = 7
  residual_kernel_size: int = 3
  num_residual_layers: int = 1
  dilation_base: int = 2
  compress: int = 2                       # residual-branch width divisor
  lstm_layers: int = 2                    # 0 disables the LSTM (SoundStream)
  causal: bool = True
  pad_mode: str = "reflect"
  norm: str = "weight_norm"               # weight_norm | time_group_norm | none
  conv_shortcut: bool = True              # 1x1 conv on residual skips (False: identity)
  trim_right_ratio: float = 1.0
  codebook_size: int = 1024
  num_quantizers: int = 32
  bandwidths: Sequence[float] = (1.5, 3.0, 6.0, 12.0, 24.0)  # kbps
  normalize: bool = False                 # per-chunk RMS normalisation (48 kHz model)
  chunk_length_s: float | None = None     # model-level chunking (48 kHz model: 1 s)
  overlap: float | None = None            # chunk overlap fraction
  # Quantizer training.
  ema_decay: float = 0.99
  kmeans_iters: int = 10
  dead_code_threshold: float = 2.0

  def __post_init__(self):
    object.__setattr__(self, "ratios", tuple(self.ratios))
    object.__setattr__(self, "bandwidths", tuple(float(b) for b in self.bandwidths))
    if self.channels not in (1, 2):
      raise ValueError(f"channels must be 1 or 2, got {self.channels}")
    if self.codebook_size & (self.codebook_size - 1):
      raise ValueError(f"codebook_size must be a power of 2, got {self.codebook_size}")

  @property
  def hop_length(self) -> int:
    return int(np.prod(self.ratios))

  @property
  def frame_rate(self) -> int:
    return math.ceil(self.sample_rate / self.hop_length)

  @property
  def chunk_length(self) -> int | None:
    return None if self.chunk_length_s is None else int(self.chunk_length_s * self.sample_rate)

  @property
  def chunk_stride(self) -> int | None:
    if self.chunk_length is None or self.overlap is None:
      return self.chunk_length
    return max(1, int((1.0 - self.overlap) * self.chunk_length))

  def num_quantizers_for(self, bandwidth: float | None) -> int:
    """Codebooks used at `bandwidth` kbps (None: the largest bandwidth)."""
    if bandwidth is None:
      bandwidth = self.bandwidths[-1]
    if bandwidth not in self.bandwidths:
      raise ValueError(f"bandwidth {bandwidth} kbps is not one of this codec's {list(self.bandwidths)}")
    bits = self.frame_rate * math.log2(self.codebook_size)
    return int(min(self.num_quantizers, max(1, math.floor(bandwidth * 1000 / bits))))

  def to_dict(self) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    d["ratios"], d["bandwidths"] = list(self.ratios), list(self.bandwidths)
    return d


@dataclasses.dataclass
class CodecOutput:
  audio: jax.Array            # [B, C, T] reconstruction
  latents: jax.Array          # [B, frames, D] encoder output (pre-quantisation)
  quantized: QuantizerOutput


jax.tree_util.register_dataclass(CodecOutput, data_fields=["audio", "latents", "quantized"],
                                 meta_fields=[])


ACTIVATION_AXES = ("batch", "length", None)  # latents [B, frames, D]


class Codec(nnx.Module):

  def __init__(self, config: CodecConfig, *, rngs: nnx.Rngs):
    self.config = config
    c = config
    shared = dict(channels=c.channels, dimension=c.dimension, num_filters=c.num_filters,
                  ratios=c.ratios, kernel_size=c.kernel_size, last_kernel_size=c.last_kernel_size,
                  residual_kernel_size=c.residual_kernel_size,
                  num_residual_layers=c.num_residual_layers, dilation_base=c.dilation_base,
                  compress=c.compress, lstm_layers=c.lstm_layers, causal=c.causal,
                  pad_mode=c.pad_mode, norm=c.norm, conv_shortcut=c.conv_shortcut, rngs=rngs)
    self.encoder = SEANetEncoder(**shared)
    self.decoder = SEANetDecoder(trim_right_ratio=c.trim_right_ratio, **shared)
    self.quantizer = ResidualVectorQuantizer(
        num_quantizers=c.num_quantizers, codebook_size=c.codebook_size, dim=c.dimension,
        decay=c.ema_decay, kmeans_iters=c.kmeans_iters,
        dead_code_threshold=c.dead_code_threshold, rngs=rngs)

  # --- training -------------------------------------------------------------------------------

  def __call__(self, audio: jax.Array, n_active: jax.Array | None = None,
               train: bool = False) -> CodecOutput:
    """Autoencodes audio [B, C, T] (T a multiple of the hop) through `n_active[b]` levels."""
    # Batch-sharded, channels whole, between encoder and decoder: left to Shardy (jax 0.10.2),
    # the backward of this conv -> conv pair on a data x fsdp x model mesh gave the last
    # encoder conv a wrong kernel gradient (tests/training/test_codec_trainer.py).
    latents = sharding.constrain(self.encoder(jnp.swapaxes(audio, 1, 2)), ACTIVATION_AXES)
    q = self.quantizer(latents, n_active, train=train)
    out = self.decoder(sharding.constrain(q.quantized, ACTIVATION_AXES))
    return CodecOutput(jnp.swapaxes(out, 1, 2), latents, q)

  # --- inference on one chunk (no model-level chunking) ------------------------------------------

  def encode_frame(self, audio: jax.Array, n_q: int):
    """audio [B, C, T] -> (codes [B, n_q, ceil(T / hop)], scale [B] or None)."""
    scale = None
    if self.config.normalize:
      mono = jnp.mean(audio, axis=1, keepdims=True)
      scale = jnp.sqrt(jnp.mean(jnp.square(mono), axis=-1, keepdims=True)) + 1e-8
      audio = audio / scale
      scale = scale.reshape(-1)
    latents = self.encoder(jnp.swapaxes(audio, 1, 2))
    return self.quantizer.encode(latents, n_q), scale

  def decode_frame(self, codes: jax.Array, scale: jax.Array | None = None) -> jax.Array:
    """codes [B, Q, frames] -> audio [B, C, frames * hop]."""
    out = jnp.swapaxes(self.decoder(self.quantizer.decode(codes)), 1, 2)
    return out if scale is None else out * scale[:, None, None]

  def encode_stream(self, audio: jax.Array, n_q: int, state, last: bool):
    """Encodes one chunk of a causal stream; see `soundgen_jax.codecs.api.encode_long`."""
    latents, state = self.encoder.stream(jnp.swapaxes(audio, 1, 2), state, last)
    return self.quantizer.encode(latents, n_q), state
