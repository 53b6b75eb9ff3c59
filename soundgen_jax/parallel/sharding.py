"""Device mesh, the logical axis rules, sharded construction and global batches.

Every parameter names its axes logically (`('embed', 'mlp')`); the one table below maps those
names to the mesh axes `data`, `fsdp` and `model`. Change the table, not the models. The
training loop builds its mesh, train-state shardings and global batches with the helpers here
(`mesh_from_config`, `abstract_shardings`, `init_sharded`, `to_global`, `batch_shardings`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

MESH_AXES = ("data", "fsdp", "model")

# t5x-style: logical name -> mesh axis (None = replicated). A name missing here is replicated.
LOGICAL_AXIS_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("mlp", "model"),
    ("heads", "model"),
    ("kv", None),
    ("vocab", "model"),
    ("length", None),
    ("conv_in", "fsdp"),
    ("conv_out", "model"),
    ("conv_kernel", None),
    ("lstm_in", "fsdp"),
    ("lstm_gates", "model"),
    ("codebooks", None),
    ("codebook_entries", "model"),
    ("codebook_dim", None),
    ("norm", None),
    ("layers", None),
)


def make_mesh(data: int = -1, fsdp: int = 1, model: int = 1,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A (data, fsdp, model) mesh over `devices` (default all); one size may be -1 (the rest)."""
  devices = list(devices if devices is not None else jax.devices())
  sizes = [data, fsdp, model]
  if sizes.count(-1) > 1:
    raise ValueError(f"mesh sizes {sizes}: at most one of data/fsdp/model may be -1")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh sizes {sizes} do not divide {len(devices)} devices")
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f"mesh sizes {sizes} need {int(np.prod(sizes))} devices, have {len(devices)}")
  grid = np.asarray(devices).reshape(sizes)
  return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * 3)


def mesh_from_config(mesh_config: Any, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """The mesh of a config's `mesh.{data,fsdp,model}` (ValueError naming the sizes if wrong)."""
  return make_mesh(mesh_config.data, mesh_config.fsdp, mesh_config.model, devices=devices)


def logical_to_mesh(spec: Sequence[str | None] | None, mesh: Mesh) -> P:
  """Maps one logical PartitionSpec to mesh axes, dropping mesh axes of size 1 or used twice."""
  if spec is None:
    return P()
  rules = dict(LOGICAL_AXIS_RULES)
  used: set[str] = set()
  out = []
  for name in spec:
    target = rules.get(name) if name is not None else None
    axes = (target,) if isinstance(target, str) else tuple(target or ())
    axes = tuple(a for a in axes if a not in used and mesh.shape[a] > 1)
    used.update(axes)
    out.append(None if not axes else axes[0] if len(axes) == 1 else axes)
  return P(*out)


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
  """Pins an activation to its logical sharding under the mesh the caller traces in
  (`jax.sharding.use_abstract_mesh`); without one (inference, tests on one device) it is x."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return x
  return jax.lax.with_sharding_constraint(x, _divisible(logical_to_mesh(names, mesh), x.shape,
                                                        mesh))


def _divisible(spec: P, shape: Sequence[int], mesh: Mesh) -> P:
  """Replicates any dimension the mesh axes do not divide (small convs, odd codebooks)."""
  out = []
  for dim, axes in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
    names = (axes,) if isinstance(axes, str) else tuple(axes or ())
    size = int(np.prod([mesh.shape[a] for a in names])) if names else 1
    out.append(axes if dim % size == 0 else None)
  return P(*out)


def state_shardings(state: nnx.State, mesh: Mesh) -> nnx.State:
  """NamedShardings for an (abstract) nnx.State from each Variable's logical axis names."""
  def one(var):
    names = var.get_metadata().get("out_sharding") if isinstance(var, nnx.Variable) else None
    spec = _divisible(logical_to_mesh(names, mesh), var.shape, mesh)
    return var.replace(NamedSharding(mesh, spec)) if isinstance(var, nnx.Variable) \
        else NamedSharding(mesh, spec)
  return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def abstract_shardings(init: Callable[[], Any], mesh: Mesh) -> tuple[Any, Any]:
  """(abstract result of `init`, its shardings from the Variables' logical axis names)."""
  abstract = jax.eval_shape(init)
  return abstract, state_shardings(abstract, mesh)


def init_sharded(init: Callable[[], Any], shardings: Any) -> Any:
  """Runs `init` compiled, every array created directly in its sharded place."""
  return jax.jit(init, out_shardings=shardings)()


def sharded_init(build: Callable[[], nnx.Module], mesh: Mesh | None = None) -> nnx.Module:
  """Builds a module with one compiled initialiser; on a mesh, every parameter is created
  directly in its sharded place.

  `nnx.eval_shape` gives the abstract state, the logical names give its shardings, and a jitted
  constructor with those `out_shardings` materialises it: no parameter is ever whole on one
  device. Without a mesh it is still worth it: eager initialisers compile once per shape,
  which costs tens of seconds for a codec on a small CPU; one jit compiles them together.
  """
  abstract = nnx.eval_shape(build)
  graphdef, abstract_state = nnx.split(abstract)
  shardings = state_shardings(abstract_state, mesh) if mesh is not None else None
  init = jax.jit(lambda: nnx.split(build())[1], out_shardings=shardings)
  return nnx.merge(graphdef, init())


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
  """Sharding of a global batch: leading axis over (data, fsdp), the rest replicated."""
  return NamedSharding(mesh, logical_to_mesh(("batch",) + (None,) * (ndim - 1), mesh))


def global_batch(local: np.ndarray, mesh: Mesh) -> jax.Array:
  """Builds the global array from this host's shard of the batch (multi-host safe)."""
  return jax.make_array_from_process_local_data(batch_sharding(mesh, local.ndim), local)


def to_global(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Global arrays from this host's rows of every field of a batch."""
  return {k: global_batch(np.asarray(v), mesh) for k, v in batch.items()}


def batch_shardings(batch: Mapping[str, Any], mesh: Mesh) -> dict[str, NamedSharding]:
  return {k: batch_sharding(mesh, np.ndim(v)) for k, v in batch.items()}
