"""SEANet encoder and decoder (EnCodec's convolutional autoencoder; SoundStream is the same
parts with other sizes). Layer lists follow the reference's order so converted weights map by
index, and the encoder streams exactly when it is causal."""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn.convs import Conv1d, ConvTranspose1d, Elu
from soundgen_jax.nn.lstm import LSTM


class ResnetBlock(nnx.Module):
  """ELU -> conv(k, dilation) -> ELU -> conv(1), plus a 1x1-conv or identity shortcut."""

  def __init__(self, dim: int, *, kernel_size: int, dilation: int, compress: int,
               conv_shortcut: bool, conv_kwargs: dict, rngs: nnx.Rngs):
    hidden = dim // compress
    self.block = nnx.List([
        Elu(), Conv1d(dim, hidden, kernel_size, dilation=dilation, rngs=rngs, **conv_kwargs),
        Elu(), Conv1d(hidden, dim, 1, rngs=rngs, **conv_kwargs)])
    self.shortcut = Conv1d(dim, dim, 1, rngs=rngs, **conv_kwargs) if conv_shortcut else None

  def __call__(self, x):
    y = x
    for layer in self.block:
      y = layer(y)
    return (self.shortcut(x) if self.shortcut is not None else x) + y

  def stream(self, x, state, last):
    state = state or [None] * len(self.block)
    y, new_state = x, []
    for layer, s in zip(self.block, state):
      y, s = layer.stream(y, s, last)
      new_state.append(s)
    skip = self.shortcut(x) if self.shortcut is not None else x  # 1x1: no context needed
    return skip + y, new_state


class LSTMBlock(nnx.Module):
  """LSTM with a residual connection."""

  def __init__(self, dim: int, num_layers: int, *, rngs: nnx.Rngs):
    self.lstm = LSTM(dim, num_layers, rngs=rngs)

  def __call__(self, x):
    return self.lstm(x)[0] + x

  def stream(self, x, state, last):
    y, state = self.lstm(x, state)
    return y + x, state


def _conv_kwargs(causal, pad_mode, norm):
  return dict(causal=causal, pad_mode=pad_mode, norm=norm)


class SEANetEncoder(nnx.Module):
  """audio [B, T, channels] -> latents [B, T / prod(ratios), dimension]."""

  def __init__(self, *, channels: int, dimension: int, num_filters: int, ratios: Sequence[int],
               kernel_size: int, last_kernel_size: int, residual_kernel_size: int,
               num_residual_layers: int, dilation_base: int, compress: int, lstm_layers: int,
               causal: bool, pad_mode: str, norm: str, conv_shortcut: bool, rngs: nnx.Rngs):
    kw = _conv_kwargs(causal, pad_mode, norm)
    layers = [Conv1d(channels, num_filters, kernel_size, rngs=rngs, **kw)]
    scale = 1
    for ratio in reversed(ratios):
      dim = scale * num_filters
      for j in range(num_residual_layers):
        layers.append(ResnetBlock(dim, kernel_size=residual_kernel_size,
                                  dilation=dilation_base ** j, compress=compress,
                                  conv_shortcut=conv_shortcut, conv_kwargs=kw, rngs=rngs))
      layers += [Elu(), Conv1d(dim, 2 * dim, 2 * ratio, stride=ratio, rngs=rngs, **kw)]
      scale *= 2
    if lstm_layers:
      layers.append(LSTMBlock(scale * num_filters, lstm_layers, rngs=rngs))
    layers += [Elu(), Conv1d(scale * num_filters, dimension, last_kernel_size, rngs=rngs, **kw)]
    self.layers = nnx.List(layers)

  def __call__(self, x):
    for layer in self.layers:
      x = layer(x)
    return x

  def stream(self, x, state, last: bool):
    """Encodes one chunk given the previous chunk's state (None first); see Conv1d.stream."""
    state = state or [None] * len(self.layers)
    new_state = []
    for layer, s in zip(self.layers, state):
      x, s = layer.stream(x, s, last)
      new_state.append(s)
    return x, new_state


class SEANetDecoder(nnx.Module):
  """latents [B, frames, dimension] -> audio [B, frames * prod(ratios), channels]."""

  def __init__(self, *, channels: int, dimension: int, num_filters: int, ratios: Sequence[int],
               kernel_size: int, last_kernel_size: int, residual_kernel_size: int,
               num_residual_layers: int, dilation_base: int, compress: int, lstm_layers: int,
               causal: bool, pad_mode: str, norm: str, conv_shortcut: bool,
               trim_right_ratio: float, rngs: nnx.Rngs):
    kw = _conv_kwargs(causal, pad_mode, norm)
    scale = 2 ** len(ratios)
    layers = [Conv1d(dimension, scale * num_filters, kernel_size, rngs=rngs, **kw)]
    if lstm_layers:
      layers.append(LSTMBlock(scale * num_filters, lstm_layers, rngs=rngs))
    for ratio in ratios:
      dim = scale * num_filters
      layers += [Elu(), ConvTranspose1d(dim, dim // 2, 2 * ratio, stride=ratio, causal=causal,
                                        trim_right_ratio=trim_right_ratio, norm=norm, rngs=rngs)]
      for j in range(num_residual_layers):
        layers.append(ResnetBlock(dim // 2, kernel_size=residual_kernel_size,
                                  dilation=dilation_base ** j, compress=compress,
                                  conv_shortcut=conv_shortcut, conv_kwargs=kw, rngs=rngs))
      scale //= 2
    layers += [Elu(), Conv1d(num_filters, channels, last_kernel_size, rngs=rngs, **kw)]
    self.layers = nnx.List(layers)

  def __call__(self, x):
    for layer in self.layers:
      x = layer(x)
    return x
