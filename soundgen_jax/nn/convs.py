"""1-D convolutions as SEANet uses them: causal or centred padding, weight norm or time group
norm, and a streaming form for causal encoders. Layout is [batch, time, channels]."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import init

NORMS = ("weight_norm", "time_group_norm", "none")


def _lecun_uniform(fan_in: int):
  # Flax's default scale (variance 1 / fan_in), not PyTorch's U(+-1 / sqrt(fan_in)): that one
  # shrinks the variance 3x per conv, so an untrained SEANet's output is 4e-4 (tiny) to 3e-5
  # (24 kHz) of its input's scale, and training spends its first hundreds of steps growing
  # the weight-norm gains back (tiny recipe: 3 dB lower held-out SI-SNR at 800 steps).
  bound = math.sqrt(3.0 / fan_in)
  return lambda key, shape: init.uniform(key, shape, -bound, bound)


def pad1d(x: jax.Array, left: int, right: int, mode: str) -> jax.Array:
  """Pads the time axis; reflect on inputs shorter than the pad first adds zeros on the right."""
  if mode == "constant" or mode == "zero":
    return jnp.pad(x, ((0, 0), (left, right), (0, 0)))
  extra = 0
  length = x.shape[1]
  if length <= max(left, right):
    extra = max(left, right) - length + 1
    x = jnp.pad(x, ((0, 0), (0, extra), (0, 0)))
  x = jnp.pad(x, ((0, 0), (left, right), (0, 0)), mode=mode)
  return x[:, :x.shape[1] - extra]


class _Normed(nnx.Module):
  """Shared weight-norm / group-norm parameters of Conv1d and ConvTranspose1d."""

  def _init_params(self, kernel_shape, kernel_axes, norm_axis, out_channels, norm, rngs):
    if norm not in NORMS:
      raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    self.norm_type = norm
    self.norm_axis = norm_axis  # kernel axis that keeps its own weight-norm gain
    fan_in = kernel_shape[0] * kernel_shape[1]
    kernel = _lecun_uniform(fan_in)(rngs.params(), kernel_shape)
    if norm == "weight_norm":
      self.kernel_v = nnx.Param(kernel, out_sharding=kernel_axes)
      self.kernel_g = nnx.Param(self._norm(kernel), out_sharding=(kernel_axes[norm_axis],))
    else:
      self.kernel = nnx.Param(kernel, out_sharding=kernel_axes)
    # Zero biases (PyTorch draws them like the kernel): with drawn biases a deep SEANet starts
    # with latents that are ~99% bias and ~1% input, and the codebooks collapse onto them.
    self.bias = nnx.Param(jnp.zeros((out_channels,)), out_sharding=("conv_out",))
    if norm == "time_group_norm":
      self.norm_scale = nnx.Param(jnp.ones((out_channels,)), out_sharding=("conv_out",))
      self.norm_bias = nnx.Param(jnp.zeros((out_channels,)), out_sharding=("conv_out",))

  def _norm(self, v):
    axes = tuple(a for a in range(v.ndim) if a != self.norm_axis)
    return jnp.sqrt(jnp.sum(jnp.square(v), axis=axes))

  def weight(self) -> jax.Array:
    if self.norm_type != "weight_norm":
      return self.kernel[...]
    v = self.kernel_v[...]
    shape = [1] * v.ndim
    shape[self.norm_axis] = -1
    return v * (self.kernel_g[...] / self._norm(v)).reshape(shape)

  def _group_norm(self, y):
    if self.norm_type != "time_group_norm":
      return y
    mean = jnp.mean(y, axis=(1, 2), keepdims=True)
    var = jnp.var(y, axis=(1, 2), keepdims=True)
    y = (y - mean) * jax.lax.rsqrt(var + 1e-5)
    return y * self.norm_scale[...] + self.norm_bias[...]


def _narrow_conv(x: jax.Array, w: jax.Array) -> jax.Array:
  """VALID stride-1 conv for one- or two-channel sides (SEANet's first and last convs), which
  XLA's conv runs at a tenth of its usual rate: a one-channel input is a sum of shifted
  multiply-adds that fuses into one loop; a one-channel output is one matmul to every tap's
  output, then a shifted sum."""
  taps, c_in, c_out = w.shape
  n = x.shape[1] - taps + 1
  if c_in <= 2:
    return sum(x[:, k:k + n, c:c + 1] * w[k, c] for k in range(taps) for c in range(c_in))
  y = x @ jnp.transpose(w, (1, 0, 2)).reshape(c_in, taps * c_out)     # [B, T, taps * out]
  return sum(y[:, k:k + n, k * c_out:(k + 1) * c_out] for k in range(taps))


def _dense_conv(x: jax.Array, w: jax.Array, stride: int, dilation: int) -> jax.Array:
  """VALID conv; a strided one goes space-to-depth: a stride-s conv is a stride-1 conv over
  frames of s samples, which XLA runs as a dense conv instead of a strided one."""
  s = stride
  if s > 1 and dilation == 1:
    taps = -(-w.shape[0] // s)
    n = (x.shape[1] - w.shape[0]) // s + 1
    need = (n - 1 + taps) * s
    x = jnp.pad(x, ((0, 0), (0, max(0, need - x.shape[1])), (0, 0)))[:, :need]
    x = x.reshape(x.shape[0], n - 1 + taps, s * x.shape[2])
    w = jnp.pad(w, ((0, taps * s - w.shape[0]), (0, 0), (0, 0)))
    w, s = w.reshape(taps, s * w.shape[1], w.shape[2]), 1
  return jax.lax.conv_general_dilated(x, w, window_strides=(s,), padding="VALID",
                                      rhs_dilation=(dilation,),
                                      dimension_numbers=("NWC", "WIO", "NWC"))


class Conv1d(_Normed):
  """Conv1d that pads so that output frames = ceil(input / stride), like EnCodec's SConv1d."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
               dilation: int = 1, causal: bool = False, pad_mode: str = "reflect",
               norm: str = "weight_norm", rngs: nnx.Rngs):
    self.stride, self.dilation, self.causal, self.pad_mode = stride, dilation, causal, pad_mode
    self.effective_kernel = (kernel_size - 1) * dilation + 1
    self.padding_total = self.effective_kernel - stride
    self._init_params((kernel_size, in_channels, out_channels),
                      ("conv_kernel", "conv_in", "conv_out"), 2, out_channels, norm, rngs)

  def _extra_padding(self, length: int) -> int:
    frames = math.ceil((length - self.effective_kernel + self.padding_total) / self.stride + 1) - 1
    return frames * self.stride + self.effective_kernel - self.padding_total - length

  def _conv(self, x):
    w = self.weight()
    if self.stride == 1 and self.dilation == 1 and min(w.shape[1], w.shape[2]) <= 2:
      y = _narrow_conv(x, w)
    else:
      y = _dense_conv(x, w, self.stride, self.dilation)
    return self._group_norm(y + self.bias[...])

  def __call__(self, x: jax.Array) -> jax.Array:
    extra = self._extra_padding(x.shape[1])
    if self.causal:
      left, right = self.padding_total, extra
    else:
      right = self.padding_total // 2
      left, right = self.padding_total - right, right + extra
    return self._conv(pad1d(x, left, right, self.pad_mode))

  def stream(self, x: jax.Array, state: jax.Array | None, last: bool):
    """One chunk of a causal stream. `state` is the previous input tail (None on the first
    chunk); every chunk but the last must be a multiple of the stride long. Concatenated outputs
    equal `__call__` on the whole input."""
    if not self.causal:
      raise ValueError("only causal convolutions can stream")
    if state is None:
      x = pad1d(x, self.padding_total, 0, self.pad_mode)
    else:
      x = jnp.concatenate([state, x], axis=1)
    new_state = x[:, x.shape[1] - self.padding_total:]
    if last:
      length = x.shape[1] - self.padding_total
      x = pad1d(x, 0, -length % self.stride, self.pad_mode)
    return self._conv(x), new_state


class ConvTranspose1d(_Normed):
  """Transposed conv that trims its output to input * stride, like EnCodec's SConvTranspose1d."""

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
               causal: bool = False, trim_right_ratio: float = 1.0, norm: str = "weight_norm",
               rngs: nnx.Rngs):
    if not causal and trim_right_ratio != 1.0:
      raise ValueError("trim_right_ratio != 1 only makes sense for causal convolutions")
    self.stride, self.causal, self.trim_right_ratio = stride, causal, trim_right_ratio
    self.kernel_size = kernel_size
    # PyTorch's weight norm on ConvTranspose1d keeps one gain per *input* channel.
    self._init_params((kernel_size, in_channels, out_channels),
                      ("conv_kernel", "conv_in", "conv_out"), 1, out_channels, norm, rngs)

  def _polyphase(self, x: jax.Array) -> jax.Array:
    """The full transposed conv, length (T - 1) * stride + kernel, as one stride-1 conv with
    stride x out_channels outputs (one per output phase), instead of a conv over a
    zero-stuffed input that would do `stride` times the work."""
    s, k = self.stride, self.kernel_size
    taps = -(-k // s)
    w = self.weight()                                                   # [K, in, out]
    w = jnp.pad(w, ((0, taps * s - k), (0, 0), (0, 0)))
    # v[i, :, p * out + o] = w[(taps - 1 - i) * s + p, :, o]
    v = jnp.flip(w.reshape(taps, s, w.shape[1], w.shape[2]), axis=0)
    v = jnp.transpose(v, (0, 2, 1, 3)).reshape(taps, w.shape[1], s * w.shape[2])
    y = jax.lax.conv_general_dilated(x, v, window_strides=(1,), padding=[(taps - 1, taps - 1)],
                                     dimension_numbers=("NWC", "WIO", "NWC"))
    b, t, _ = y.shape
    return y.reshape(b, t * s, w.shape[2])[:, :(x.shape[1] - 1) * s + k]

  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    y = self._group_norm(self._polyphase(x) + self.bias[...])
    padding_total = k - self.stride
    if self.causal:
      right = math.ceil(padding_total * self.trim_right_ratio)
    else:
      right = padding_total // 2
    left = padding_total - right
    return y[:, left:y.shape[1] - right]


def elu(x: jax.Array) -> jax.Array:
  # exp(x) - 1 rather than expm1: XLA's CPU expm1 is several times slower, and the absolute
  # error near zero (< 1.2e-7) is below float32 conv round-off.
  return jnp.where(x > 0, x, jnp.exp(jnp.minimum(x, 0.0)) - 1.0)


class Elu(nnx.Module):
  """ELU as a list entry, so SEANet's layer list keeps the reference's indices."""

  def __call__(self, x):
    return elu(x)

  def stream(self, x, state, last):
    return elu(x), None
