"""Shared by the layer and model tests."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def random_weights(build, seed=0):
  """The module with random weights from numpy (biases and norm scales random too, which only
  makes the checks stricter): no initialiser to compile, a second or two saved per file."""
  module = nnx.eval_shape(build)
  state = nnx.state(module, nnx.Param)
  rng = np.random.default_rng(seed)
  values = jax.tree.map(lambda a: jnp.asarray(rng.normal(0, a.shape[-1] ** -0.5, a.shape),
                                              a.dtype), state.to_pure_dict())
  nnx.replace_by_pure_dict(state, values)
  nnx.update(module, state)
  return module
