"""Parameter initialisers that compile fast.

`jax.random` draws (threefry) take XLA:CPU about a second each to compile, per new shape; a
codec has some sixty parameter shapes, so building one took half a minute on a small CPU.
These draws hash (key, element index) with an integer mixer instead: a handful of elementwise
ops per element, sharding-invariant like threefry-partitionable, compiling in milliseconds.
Statistically they are plenty for initial weights; use `jax.random` for anything else.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """uint32 [shape] from the key's words and each element's flat index (lowbias32 mixer)."""
  words = jax.random.key_data(key).astype(jnp.uint32).reshape(-1)
  n = math.prod(shape)
  x = jax.lax.iota(jnp.uint32, n) * jnp.uint32(0x9E3779B9) ^ words[0]
  x = x + words[-1] * jnp.uint32(0x85EBCA6B)
  for multiplier in (0x7FEB352D, 0x846CA68B):
    x = (x ^ (x >> 16)) * jnp.uint32(multiplier)
  return (x ^ (x >> 16)).reshape(shape)


def uniform(key: jax.Array, shape, minval: float = 0.0, maxval: float = 1.0,
            dtype=jnp.float32) -> jax.Array:
  """U[minval, maxval) with 24-bit resolution."""
  u = (_bits(key, tuple(shape)) >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
  return (minval + (maxval - minval) * u).astype(dtype)


def normal(key: jax.Array, shape, stddev: float = 1.0, dtype=jnp.float32) -> jax.Array:
  """N(0, stddev^2) by inverting the normal CDF of a uniform draw."""
  # Odd multiples of 2^-24 in (-1, 1), exact in float32, so erfinv stays finite.
  odd = 2 * (_bits(key, tuple(shape)) >> 8).astype(jnp.int32) + 1 - (1 << 24)
  z = odd.astype(jnp.float32) * (1.0 / (1 << 24))
  return (stddev * jnp.sqrt(2.0) * jax.scipy.special.erfinv(z)).astype(dtype)
