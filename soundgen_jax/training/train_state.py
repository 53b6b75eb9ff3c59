"""The train state every family shares: NNX models split into graphdefs + states, optax states,
step and RNG, as one pytree that jit shards, donates and checkpoints.

A family's models are a dict `name -> nnx.Module` (the codec: generator + discriminator; an LM:
one model). Each is split into its trainable `nnx.Param` state (`params[name]`, what the
optimizer `opt_state[name]` updates) and every other variable (`variables[name]`: EMA codebooks,
RNG counters, batch statistics), which the step function returns updated. `extra` holds what a
family keeps besides (balancer EMA, EMA weights).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


@flax.struct.dataclass
class TrainState:
  step: jax.Array                                  # int32 [], steps done
  rng: jax.Array                                   # uint32 [2], the run's base key (fold in step)
  params: dict[str, nnx.State]                     # trainable nnx.Param state per model
  variables: dict[str, nnx.State]                  # other nnx state per model
  opt_state: dict[str, Any]                        # optax state per optimised model
  extra: dict[str, Any]                            # family-specific arrays
  graphdefs: dict[str, Any] = flax.struct.field(pytree_node=False)

  def model(self, name: str, params: nnx.State | None = None,
            variables: nnx.State | None = None) -> nnx.Module:
    """The module `name` rebuilt from this state (or from the given params / variables), with
    fresh Variables, so it may run (and update its variables) inside any transform."""
    return nnx.merge(self.graphdefs[name],
                     self.params[name] if params is None else params,
                     self.variables[name] if variables is None else variables, copy=True)

  def step_key(self, *names: str) -> jax.Array | tuple[jax.Array, ...]:
    """Fresh keys for this step: a pure function of (run seed, step), so resumes repeat them."""
    key = jax.random.fold_in(self.rng, self.step)
    keys = jax.random.split(key, max(len(names), 1))
    return keys[0] if len(names) <= 1 else tuple(keys)


def create(models: Mapping[str, nnx.Module], optimizers: Mapping[str, optax.GradientTransformation],
           seed: int, extra: Callable[[dict[str, nnx.State]], dict[str, Any]] | None = None
           ) -> TrainState:
  """Splits `models`, initialises an optimizer state for each model named in `optimizers`."""
  graphdefs, params, variables = {}, {}, {}
  for name, model in models.items():
    graphdefs[name], params[name], variables[name] = nnx.split(model, nnx.Param, ...)
  unknown = set(optimizers) - set(models)
  if unknown:
    raise ValueError(f"optimizers for unknown models {sorted(unknown)}")
  opt_state = {name: tx.init(params[name]) for name, tx in optimizers.items()}
  return TrainState(step=jnp.zeros((), jnp.int32),
                    rng=jax.random.key_data(jax.random.key(seed)).astype(jnp.uint32),
                    params=params, variables=variables, opt_state=opt_state,
                    extra=extra(params) if extra else {}, graphdefs=graphdefs)


# --- flat form for checkpoints ----------------------------------------------------------------
# Orbax gets a flat dict {"params.generator.encoder...": array}: plain string keys and plain
# arrays only (typed PRNG keys are stored as their key data), so nothing depends on how orbax
# handles nnx.State or optax's NamedTuples; the live state's tree structure puts it back.

def _name(path) -> str:
  return jax.tree_util.keystr(path, simple=True, separator=".")


def _is_key(x) -> bool:
  return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_flat(state: Any) -> dict[str, Any]:
  """Pytree -> {dotted path: array}; typed PRNG keys become their uint32 key data."""
  flat = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    flat[_name(path)] = jax.random.key_data(leaf) if _is_key(leaf) else leaf
  return flat


def abstract_flat(abstract: Any, shardings: Any) -> dict[str, jax.ShapeDtypeStruct]:
  """The restore target of `to_flat(state)` for an abstract state and its shardings."""
  flat = {}
  leaves = jax.tree_util.tree_flatten_with_path(abstract)[0]
  for (path, leaf), sharding in zip(leaves, jax.tree.leaves(shardings)):
    if _is_key(leaf):
      shape = jax.eval_shape(jax.random.key_data, leaf)
      flat[_name(path)] = jax.ShapeDtypeStruct(shape.shape, shape.dtype, sharding=sharding)
    else:
      flat[_name(path)] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)
  return flat


def from_flat(abstract: Any, flat: Mapping[str, Any]) -> Any:
  """Inverse of `to_flat`, using the structure (and key types) of `abstract`."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  out = []
  for path, leaf in leaves:
    name = _name(path)
    if name not in flat:
      raise KeyError(f"checkpoint has no {name!r}; was it written by another model/config?")
    value = flat[name]
    if _is_key(leaf):
      value = jax.random.wrap_key_data(value)  # flax's keys use the default PRNG impl
    out.append(value)
  return jax.tree_util.tree_unflatten(treedef, out)


def tree_norm(tree: Any) -> jax.Array:
  """Global L2 norm of a pytree of arrays."""
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.zeros((), jnp.float32)
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves))


def count_params(params: Any) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
