"""GAN discriminators for codec training: EnCodec's MS-STFT and SoundStream's wave + STFT.

Every discriminator takes audio `[batch, channels, samples]` (the layout of `audio.load`) and
returns `(logits, fmaps)`:
- a sub-discriminator returns one logits array and a list of feature maps (the activations after
  each hidden conv, for feature matching);
- a multi-discriminator returns a list of logits (one per sub-discriminator) and a list of lists
  of feature maps, the shape `losses.hinge_*` and `losses.feature_matching_loss` take.
Convs are channels-last inside (2D maps are `[batch, frames, freqs, channels]`) and every conv
is weight-normalised with explicit `g` / `v` parameters.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax import audio
from soundgen_jax.nn import init

Array = jax.Array
Output = tuple[Array, list[Array]]
MultiOutput = tuple[list[Array], list[list[Array]]]


class WNConv(nnx.Module):
  """Weight-normalised N-d convolution, channels last: kernel = g * v / ||v||.

  The norm is over every kernel axis but the output channel (as torch's `weight_norm` with
  dim=0); `g` starts at ||v|| so the initial kernel equals `v`. `padding` is 'SAME', 'VALID' or
  one (low, high) pair per spatial axis.
  """

  def __init__(self, in_features: int, out_features: int, kernel_size: Sequence[int], *,
               strides: Sequence[int] | None = None, dilation: Sequence[int] | None = None,
               padding: str | Sequence[tuple[int, int]] = "SAME", groups: int = 1,
               rngs: nnx.Rngs):
    if in_features % groups or out_features % groups:
      raise ValueError(f"channels {in_features}->{out_features} not divisible by groups {groups}")
    n = len(kernel_size)
    self.strides = tuple(strides or (1,) * n)
    self.dilation = tuple(dilation or (1,) * n)
    self.padding = padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)
    self.groups = groups
    shape = (*kernel_size, in_features // groups, out_features)
    v, g = _init_v_g(rngs.params(), shape)
    axes = ("conv_kernel",) * n + ("conv_in", "conv_out")
    self.v = nnx.Param(v, out_sharding=axes)
    self.g = nnx.Param(g, out_sharding=("conv_out",))
    self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32), out_sharding=("conv_out",))
    spatial = "HWD"[:n]
    self.dimension_numbers = ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")

  def __call__(self, x: Array) -> Array:
    v = self.v[...]
    kernel = v * (self.g[...] / _norm(v))
    y = jax.lax.conv_general_dilated(
        x, kernel.astype(x.dtype), self.strides, self.padding, rhs_dilation=self.dilation,
        dimension_numbers=self.dimension_numbers, feature_group_count=self.groups)
    return y + self.bias[...].astype(x.dtype)


def _init_v_g(key: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
  """PyTorch's default conv init, U(+-1 / sqrt(fan_in)), and g = ||v||."""
  bound = 1.0 / np.sqrt(np.prod(shape[:-1]))
  v = init.uniform(key, shape, -bound, bound)
  return v, _norm(v)


def _norm(v: Array) -> Array:
  return jnp.sqrt(jnp.sum(jnp.square(v), axis=tuple(range(v.ndim - 1))))


def _check_audio(x: Array, channels: int) -> None:
  if x.ndim != 3 or x.shape[1] != channels:
    raise ValueError(f"expected audio [batch, {channels}, samples], got shape {x.shape}")


def complex_spectrogram(x: Array, n_fft: int, hop: int, win_length: int | None = None,
                        normalized: bool = True) -> Array:
  """[B, C, T] -> [B, frames, freqs, 2C]: real parts of all channels, then imaginary parts.

  No centre padding (frames = 1 + (T - n_fft) // hop); `normalized` divides by the window's
  L2 norm (torchaudio's `normalized=True`).
  """
  z = audio.stft(x, n_fft, hop, win_length, center=False)  # [B, C, frames, freqs]
  if normalized:
    z = z / float(np.sqrt(np.sum(audio.hann_window(win_length or n_fft) ** 2)))
  z = jnp.concatenate([z.real, z.imag], axis=1)
  return jnp.transpose(z, (0, 2, 3, 1))


# --- EnCodec: multi-scale STFT discriminator --------------------------------------------------

class STFTDiscriminator(nnx.Module):
  """One MS-STFT scale: complex STFT -> 2D convs over (time, freq) -> 1-channel logits.

  conv (3, 9) -> len(dilations) convs (3, 9) with time dilation d and stride 2 in frequency ->
  conv (3, 3) -> LeakyReLU after each (these are the feature maps) -> conv_post (3, 3) to
  `out_channels` logits. Filters grow by `filters_scale` per strided layer, capped at
  `max_filters`. Logits: [B, frames, freqs', out_channels].
  """

  def __init__(self, filters: int = 32, *, in_channels: int = 1, out_channels: int = 1,
               n_fft: int = 1024, hop: int = 256, win_length: int = 1024,
               max_filters: int = 1024, filters_scale: int = 1,
               kernel_size: tuple[int, int] = (3, 9), dilations: Sequence[int] = (1, 2, 4),
               stride: tuple[int, int] = (1, 2), normalized: bool = True,
               negative_slope: float = 0.2, rngs: nnx.Rngs):
    self.in_channels = in_channels
    self.n_fft, self.hop, self.win_length = n_fft, hop, win_length
    self.normalized = normalized
    self.negative_slope = negative_slope
    kt, kf = kernel_size
    convs = [WNConv(2 * in_channels, filters, kernel_size,
                    padding=_same_pad(kernel_size), rngs=rngs)]
    in_chs = filters
    for i, d in enumerate(dilations):
      out_chs = min(filters_scale ** (i + 1) * filters, max_filters)
      convs.append(WNConv(in_chs, out_chs, kernel_size, strides=stride, dilation=(d, 1),
                          padding=_same_pad(kernel_size, (d, 1)), rngs=rngs))
      in_chs = out_chs
    out_chs = min(filters_scale ** (len(dilations) + 1) * filters, max_filters)
    convs.append(WNConv(in_chs, out_chs, (kt, kt), padding=_same_pad((kt, kt)), rngs=rngs))
    self.convs = nnx.List(convs)
    self.conv_post = WNConv(out_chs, out_channels, (kt, kt), padding=_same_pad((kt, kt)),
                            rngs=rngs)

  def __call__(self, x: Array) -> Output:
    _check_audio(x, self.in_channels)
    z = complex_spectrogram(x, self.n_fft, self.hop, self.win_length, self.normalized)
    fmap = []
    for conv in self.convs:
      z = jax.nn.leaky_relu(conv(z), self.negative_slope)
      fmap.append(z)
    return self.conv_post(z), fmap


def _same_pad(kernel: Sequence[int], dilation: Sequence[int] | None = None):
  dilation = dilation or (1,) * len(kernel)
  return tuple(((k - 1) * d // 2,) * 2 for k, d in zip(kernel, dilation))


# EnCodec's five scales as (n_fft, hop, win_length).
ENCODEC_STFT_SCALES = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512), (256, 64, 256),
                       (128, 32, 128))


class MultiScaleSTFTDiscriminator(nnx.Module):
  """EnCodec's MS-STFT discriminator: one `STFTDiscriminator` per (n_fft, hop, win) scale.

  Extra keyword arguments go to every `STFTDiscriminator`.
  """

  def __init__(self, filters: int = 32, *, in_channels: int = 1,
               scales: Sequence[tuple[int, int, int]] = ENCODEC_STFT_SCALES,
               rngs: nnx.Rngs, **kwargs):
    self.discriminators = nnx.List([
        STFTDiscriminator(filters, in_channels=in_channels, n_fft=n_fft, hop=hop,
                          win_length=win, rngs=rngs, **kwargs)
        for n_fft, hop, win in scales])

  def __call__(self, x: Array) -> MultiOutput:
    return _gather(d(x) for d in self.discriminators)


def _gather(outputs) -> MultiOutput:
  logits, fmaps = [], []
  for logit, fmap in outputs:
    logits.append(logit)
    fmaps.append(fmap)
  return logits, fmaps


# --- SoundStream: wave-based multi-scale discriminator (MelGAN) -------------------------------

class WaveDiscriminator(nnx.Module):
  """MelGAN's waveform discriminator at one scale.

  conv 15 (reflect-padded) -> `n_layers` grouped strided convs (stride `downsampling`, kernel
  10 * stride + 1, groups = in / 4, filters x stride each, capped at `max_filters`) -> conv 5,
  LeakyReLU after each (the feature maps) -> conv 3 to 1-channel logits [B, frames, 1].
  """

  def __init__(self, filters: int = 16, *, in_channels: int = 1, n_layers: int = 4,
               downsampling: int = 4, max_filters: int = 1024, negative_slope: float = 0.2,
               rngs: nnx.Rngs):
    self.in_channels = in_channels
    self.negative_slope = negative_slope
    self.conv_pre = WNConv(in_channels, filters, (15,), padding="VALID", rngs=rngs)
    convs, nf = [], filters
    for _ in range(n_layers):
      out = min(nf * downsampling, max_filters)
      convs.append(WNConv(nf, out, (downsampling * 10 + 1,), strides=(downsampling,),
                          padding=((downsampling * 5,) * 2,), groups=max(1, nf // 4),
                          rngs=rngs))
      nf = out
    out = min(nf * 2, max_filters)
    convs.append(WNConv(nf, out, (5,), padding=((2, 2),), rngs=rngs))
    self.convs = nnx.List(convs)
    self.conv_post = WNConv(out, 1, (3,), padding=((1, 1),), rngs=rngs)

  def __call__(self, x: Array) -> Output:
    _check_audio(x, self.in_channels)
    z = jnp.pad(jnp.transpose(x, (0, 2, 1)), ((0, 0), (7, 7), (0, 0)), mode="reflect")
    z = jax.nn.leaky_relu(self.conv_pre(z), self.negative_slope)
    fmap = [z]
    for conv in self.convs:
      z = jax.nn.leaky_relu(conv(z), self.negative_slope)
      fmap.append(z)
    return self.conv_post(z), fmap


def avg_pool_audio(x: Array) -> Array:
  """[B, C, T] -> [B, C, T // 2]: mean over windows of 4, stride 2, zero padding not counted."""
  def pool(v):
    return jax.lax.reduce_window(v, 0.0, jax.lax.add, (1, 1, 4), (1, 1, 2),
                                 ((0, 0), (0, 0), (1, 1)))
  return pool(x) / pool(jnp.ones((1, 1, x.shape[-1]), x.dtype))


class MultiScaleWaveDiscriminator(nnx.Module):
  """`num_scales` `WaveDiscriminator`s on the audio average-pooled 1x, 2x, 4x, ..."""

  def __init__(self, filters: int = 16, *, in_channels: int = 1, num_scales: int = 3,
               rngs: nnx.Rngs, **kwargs):
    self.discriminators = nnx.List([
        WaveDiscriminator(filters, in_channels=in_channels, rngs=rngs, **kwargs)
        for _ in range(num_scales)])

  def __call__(self, x: Array) -> MultiOutput:
    outputs = []
    for i, d in enumerate(self.discriminators):
      if i:
        x = avg_pool_audio(x)
      outputs.append(d(x))
    return _gather(outputs)


# --- SoundStream: single-scale STFT discriminator ---------------------------------------------

class _ResBlock2d(nnx.Module):
  """conv 3x3 -> LeakyReLU -> conv (s_t + 2, s_f + 2) with stride (s_t, s_f), plus a strided
  1x1 shortcut. 'SAME' padding: each axis shrinks to ceil(n / s) on both paths."""

  def __init__(self, in_chs: int, out_chs: int, stride: tuple[int, int],
               negative_slope: float, rngs: nnx.Rngs):
    self.negative_slope = negative_slope
    self.conv1 = WNConv(in_chs, in_chs, (3, 3), rngs=rngs)
    self.conv2 = WNConv(in_chs, out_chs, (stride[0] + 2, stride[1] + 2), strides=stride,
                        rngs=rngs)
    self.shortcut = WNConv(in_chs, out_chs, (1, 1), strides=stride, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    h = self.conv2(jax.nn.leaky_relu(self.conv1(x), self.negative_slope))
    return jax.nn.leaky_relu(h + self.shortcut(x), self.negative_slope)


class SoundStreamSTFTDiscriminator(nnx.Module):
  """SoundStream's STFT discriminator (one scale, window 1024, hop 256).

  Complex STFT without the Nyquist bin (F = n_fft / 2 bins) -> conv 7x7 -> residual blocks with
  strides alternating (1, 2), (2, 2) (time, freq) and filters x `channel_mults` -> a
  (1, F / 2^k) conv that folds the remaining frequencies into 1-channel logits
  [B, frames', 1, 1]. Feature maps: the output of the first conv and of every block.
  """

  def __init__(self, filters: int = 32, *, in_channels: int = 1, n_fft: int = 1024,
               hop: int = 256, win_length: int = 1024,
               strides: Sequence[tuple[int, int]] = ((1, 2), (2, 2)) * 3,
               channel_mults: Sequence[int] = (1, 2, 4, 4, 8, 8), normalized: bool = True,
               negative_slope: float = 0.2, rngs: nnx.Rngs):
    if len(strides) != len(channel_mults):
      raise ValueError(f"{len(strides)} strides but {len(channel_mults)} channel_mults")
    self.in_channels = in_channels
    self.n_fft, self.hop, self.win_length = n_fft, hop, win_length
    self.normalized = normalized
    self.negative_slope = negative_slope
    self.conv_pre = WNConv(2 * in_channels, filters, (7, 7), rngs=rngs)
    blocks, chs, freqs = [], filters, n_fft // 2
    for stride, mult in zip(strides, channel_mults):
      blocks.append(_ResBlock2d(chs, filters * mult, tuple(stride), negative_slope, rngs))
      chs, freqs = filters * mult, -(-freqs // stride[1])
    self.blocks = nnx.List(blocks)
    self.conv_post = WNConv(chs, 1, (1, freqs), padding="VALID", rngs=rngs)

  def __call__(self, x: Array) -> Output:
    _check_audio(x, self.in_channels)
    z = complex_spectrogram(x, self.n_fft, self.hop, self.win_length, self.normalized)
    z = jax.nn.leaky_relu(self.conv_pre(z[:, :, :self.n_fft // 2]), self.negative_slope)
    fmap = [z]
    for block in self.blocks:
      z = block(z)
      fmap.append(z)
    return self.conv_post(z), fmap


class SoundStreamDiscriminator(nnx.Module):
  """SoundStream's discriminators together: the multi-scale wave discriminator's scales first,
  then the STFT discriminator, as one multi-discriminator output.

  `wave_kwargs` go to `MultiScaleWaveDiscriminator` (filters, num_scales, max_filters, ...),
  `stft_kwargs` to `SoundStreamSTFTDiscriminator` (filters, channel_mults, ...).
  """

  def __init__(self, *, in_channels: int = 1, wave_kwargs: dict | None = None,
               stft_kwargs: dict | None = None, rngs: nnx.Rngs):
    self.wave = MultiScaleWaveDiscriminator(in_channels=in_channels, rngs=rngs,
                                            **(wave_kwargs or {}))
    self.stft = SoundStreamSTFTDiscriminator(in_channels=in_channels, rngs=rngs,
                                             **(stft_kwargs or {}))

  def __call__(self, x: Array) -> MultiOutput:
    logits, fmaps = self.wave(x)
    logit, fmap = self.stft(x)
    return logits + [logit], fmaps + [fmap]
