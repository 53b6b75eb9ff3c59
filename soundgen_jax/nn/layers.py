"""Small pieces the LM and SoundStorm share: weights with logical axis names, a matmul in the
weight layout decoding wants, LayerNorm, dropout, the text-state projection, config dicts."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import cpu_kernels, init


def weight(rngs: nnx.Rngs, shape: Sequence[int], axes: Sequence[str | None], fan_in: int,
           dtype=jnp.float32, stddev: float | None = None) -> nnx.Param:
  """A normal(0, 1/fan_in) weight (or `stddev`), with its logical axis names."""
  std = 1.0 / math.sqrt(fan_in) if stddev is None else stddev
  return nnx.Param(init.normal(rngs.params(), tuple(shape), std, dtype), out_sharding=tuple(axes))


def zeros(shape: Sequence[int], axes: Sequence[str | None], dtype=jnp.float32) -> nnx.Param:
  return nnx.Param(jnp.zeros(tuple(shape), dtype), out_sharding=tuple(axes))


def project(x: jax.Array, w: jax.Array, dtype=None) -> jax.Array:
  """x [..., in] times a weight stored output-first, w [*out, in] -> [..., *out].

  Output-first ([out, in], PyTorch's layout) is what a small-batch decode step reads fastest
  on XLA:CPU in DESIGN.md's probe (25 vs 18 GB/s for [in, out]); the step is bound by
  reading the weights.
  """
  dtype = dtype or x.dtype
  w2 = w.reshape(-1, w.shape[-1]).astype(dtype)
  matmul = _matmul_cpu if jax.default_backend() == "cpu" else _matmul
  return matmul(x.astype(dtype), w2).reshape(x.shape[:-1] + w.shape[:-1])


def _matmul(x: jax.Array, w2: jax.Array) -> jax.Array:
  return jax.lax.dot_general(x, w2, (((x.ndim - 1,), (1,)), ((), ())))


# Without the kernel, weights up to this many bytes take one matrix-vector dot per row (the
# second finds the weight in cache); larger ones a fused multiply + sum.
PER_ROW_MAX_BYTES = 1 << 20


def _matmul_rows(x: jax.Array, w2: jax.Array) -> jax.Array:
  """_matmul for XLA:CPU. A CFG decode step's two rows (cond + null) go to `cpu_kernels`'
  kernel, which reads each weight once for both at the 1-row dot's rate. XLA:CPU's own 2-row
  dot goes to YNNPACK, ~12 GB/s on MusicGen-small's weights against ~27 (Intel Xeon, 2 cores);
  where the kernel cannot serve (bfloat16, no C++ compiler) the best XLA forms measured stand
  in: one dot per row for small weights, a fused multiply + sum over the input axis (~20 GB/s)
  for large ones. One row or more than two: XLA's dot."""
  rows = x.reshape(-1, x.shape[-1])
  if rows.shape[0] != 2:
    return _matmul(x, w2)
  if cpu_kernels.usable(x, w2):
    y = cpu_kernels.two_row_matvec(rows, w2)
  elif w2.size * w2.dtype.itemsize <= PER_ROW_MAX_BYTES:
    y = jnp.concatenate([_matmul(rows[i:i + 1], w2) for i in range(2)])
  else:
    f32 = jnp.float32  # accumulate as a dot does (a no-op for float32 inputs)
    y = jnp.sum(w2[None].astype(f32) * rows[:, None, :].astype(f32), axis=-1).astype(x.dtype)
  return y.reshape(x.shape[:-1] + w2.shape[:1])


@jax.custom_vjp
def _matmul_cpu(x: jax.Array, w2: jax.Array) -> jax.Array:
  """_matmul whose weight gradient transposes the narrower operand. Autodiff's dW = dy^T x made
  XLA:CPU transpose dy (and the activation backward fused into that copy, done in its strided
  order): for an FFN's first layer dy is 4x wider than x. The LM's tiny training step: 0.53 ->
  0.40 s (bench/lm_train_step.py --shape tiny --batch 16 --steps 103)."""
  return _matmul_rows(x, w2)


def _matmul_cpu_fwd(x, w2):
  return _matmul_rows(x, w2), (x, w2)


def _matmul_cpu_bwd(residuals, dy):
  x, w2 = residuals
  dx = jax.lax.dot_general(dy, w2, (((dy.ndim - 1,), (0,)), ((), ())))
  xs, dys = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
  if xs.shape[1] < dys.shape[1]:
    dw = jnp.einsum("ti,to->io", xs, dys).T
  else:
    dw = jnp.einsum("to,ti->oi", dys, xs)
  return dx, dw.astype(w2.dtype)


_matmul_cpu.defvjp(_matmul_cpu_fwd, _matmul_cpu_bwd)


def _materialized_on_cpu(x: jax.Array) -> jax.Array:
  """x as is; on XLA:CPU behind an optimization barrier. Without it XLA:CPU fused the backward
  pass's residual-stream gradient (every later block's LayerNorm backward) into each transposed
  copy the weight gradients read, recomputing it there: the LM's training step took 1.5x as
  long (bench/lm_train_step.py, base shape: 3.89 -> 2.52 s). Accelerators are left alone (not
  measured there)."""
  return jax.lax.optimization_barrier(x) if jax.default_backend() == "cpu" else x


class LayerNorm(nnx.Module):
  """LayerNorm with a scale and a bias (PyTorch's eps 1e-5 by default), statistics in float32."""

  def __init__(self, dim: int, eps: float = 1e-5, use_bias: bool = True,
               param_dtype=jnp.float32):
    self.eps = eps
    self.scale = nnx.Param(jnp.ones((dim,), param_dtype), out_sharding=("norm",))
    self.bias = zeros((dim,), ("norm",), param_dtype) if use_bias else None

  def __call__(self, x: jax.Array) -> jax.Array:
    xf = _materialized_on_cpu(x).astype(jnp.float32)
    mean = jnp.mean(xf, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
    y = (xf - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...].astype(jnp.float32)
    if self.bias is not None:
      y = y + self.bias[...].astype(jnp.float32)
    return y.astype(x.dtype)


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
  """Inverted dropout; a no-op without a key (inference) or at rate 0."""
  if key is None or rate <= 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


class DictConfig:
  """A frozen dataclass config that round-trips through the JSON of a checkpoint folder."""

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]):
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return cls(**d)


class TextConditioned(nnx.Module):
  """A model that reads text states: projected to its width (with a bias, `transformers`'
  enc_to_dec_proj) when the widths differ, and zeroed where the text mask is False."""

  def init_text(self, text_dim: int, dim: int, dtype: str, param_dtype, rngs: nnx.Rngs):
    self.text_dtype = jnp.dtype(dtype)
    self.projects_text = bool(text_dim and text_dim != dim)
    if self.projects_text:
      self.text_proj = weight(rngs, (dim, text_dim), ("embed", "mlp"), text_dim, param_dtype)
      self.text_proj_bias = zeros((dim,), ("embed",), param_dtype)

  def condition(self, text: jax.Array, text_mask: jax.Array) -> jax.Array:
    """Text states [B, L, text_dim] -> [B, L, dim], zero where the mask is False."""
    dt = self.text_dtype
    if self.projects_text:
      text = project(text, self.text_proj[...], dt) + self.text_proj_bias[...].astype(dt)
    return text.astype(dt) * text_mask[..., None].astype(dt)
