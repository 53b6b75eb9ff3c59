"""Small pieces shared by the text encoders: named parameters, activations, masked attention."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

# Hugging Face activation names (ACT2FN) -> jax; `gelu` is the exact erf form there.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_new": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f"activation {name!r} is not supported; use one of {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


def param(rngs: nnx.Rngs, shape: Sequence[int], axes: Sequence[str | None],
          init: Callable = nnx.initializers.normal(0.02)) -> nnx.Param:
  return nnx.Param(init(rngs.params(), tuple(shape)), out_sharding=tuple(axes))


def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array,
              bias: jax.Array | None = None) -> jax.Array:
  """Softmax attention over the unmasked keys; q, k, v [B, L, H, K], mask [B, L] bool.

  Scaling is the caller's (T5 has none). The softmax runs in float32. A fully masked row
  (an empty text) attends uniformly instead of producing NaN, as the PyTorch references do.
  """
  logits = jnp.einsum("bqhk,bshk->bhqs", q, k, preferred_element_type=jnp.float32)
  if bias is not None:
    logits = logits + bias
  logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
  return jnp.einsum("bhqs,bshk->bqhk", weights, v)
