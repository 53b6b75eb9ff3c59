"""A stacked LSTM over [batch, time, features] with PyTorch's gate order (i, f, g, o)."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from soundgen_jax.nn import init


class LSTM(nnx.Module):
  """`num_layers` LSTM layers of equal width; the input projection is one matmul over all
  steps, so the scan carries only the recurrent matmul."""

  def __init__(self, features: int, num_layers: int, *, rngs: nnx.Rngs):
    bound = 1.0 / math.sqrt(features)
    draw = lambda shape: init.uniform(rngs.params(), shape, -bound, bound)
    self.features, self.num_layers = features, num_layers
    axes = ("layers", "lstm_in", "lstm_gates")
    self.w_ih = nnx.Param(draw((num_layers, features, 4 * features)), out_sharding=axes)
    self.w_hh = nnx.Param(draw((num_layers, features, 4 * features)), out_sharding=axes)
    self.bias = nnx.Param(draw((num_layers, 4 * features)), out_sharding=("layers", "lstm_gates"))

  def initial_state(self, batch: int):
    zeros = jnp.zeros((self.num_layers, batch, self.features), jnp.float32)
    return zeros, zeros

  def __call__(self, x: jax.Array, state=None):
    """Returns (outputs [B, T, F], (h, c) each [layers, B, F])."""
    h0, c0 = state if state is not None else self.initial_state(x.shape[0])
    hs, cs = [], []
    for layer in range(self.num_layers):
      gates_in = x @ self.w_ih[layer] + self.bias[layer]
      w_hh = self.w_hh[layer]

      def step(carry, g_in, w_hh=w_hh):
        h, c = carry
        i, f, g, o = jnp.split(g_in + h @ w_hh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

      # Unrolled: per-iteration loop overhead is a large part of a small recurrent matmul.
      (h, c), x = jax.lax.scan(step, (h0[layer], c0[layer]), jnp.swapaxes(gates_in, 0, 1),
                               unroll=16)
      x = jnp.swapaxes(x, 0, 1)
      hs.append(h)
      cs.append(c)
    return x, (jnp.stack(hs), jnp.stack(cs))
