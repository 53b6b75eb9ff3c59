"""Orbax checkpoints.

- Whole models with their config (converted official weights, exported generators), read back
  with the same call whatever wrote them: `save_model` / `load_model`.
- Train-state checkpoints of a run (`TrainCheckpointer`): every array of the train state, the
  step, the RNG and the data iterator's position, through an orbax `CheckpointManager` (async,
  atomic: a checkpoint only appears under its step's name once fully written; keep-N).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

CONFIG_FILE = "config.json"
STATE_DIR = "state"
CHECKPOINTS_DIR = "checkpoints"


def save_model(directory: str, model: nnx.Module, config: dict[str, Any]) -> None:
  """Writes `config.json` (what builds the model) and the model's state as an orbax checkpoint."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, CONFIG_FILE), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True, default=_jsonable)
  state = nnx.to_pure_dict(nnx.state(model))
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.join(directory, STATE_DIR), state, force=True)


def load_config(directory: str) -> dict[str, Any]:
  path = os.path.join(directory, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{directory}: no {CONFIG_FILE}; is this a soundgen_jax checkpoint "
                            "(made by launch/convert.py or launch/train.py)?")
  with open(path) as f:
    return json.load(f)


def load_model(directory: str, build: Callable[[dict[str, Any]], nnx.Module],
               sharding: Any = None) -> tuple[nnx.Module, dict[str, Any]]:
  """Builds the model from the saved config (abstractly) and restores its state into it."""
  directory = os.path.abspath(directory)
  config = load_config(directory)
  abstract = nnx.eval_shape(lambda: build(config))
  graphdef, abstract_state = nnx.split(abstract)
  target = nnx.to_pure_dict(abstract_state)
  if sharding is not None:
    target = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                          target, nnx.to_pure_dict(sharding))
  with ocp.StandardCheckpointer() as ckptr:
    restored = ckptr.restore(os.path.join(directory, STATE_DIR), target)
  nnx.replace_by_pure_dict(abstract_state, restored)
  return nnx.merge(graphdef, abstract_state), config


def _jsonable(x):
  if isinstance(x, (np.integer, np.floating)):
    return x.item()
  if isinstance(x, (tuple, np.ndarray)):
    return list(x)
  raise TypeError(f"not JSON serialisable: {type(x).__name__}")


class TrainCheckpointer:
  """Train-state checkpoints under `WORKDIR/checkpoints/<step>/`, items `state` (a flat dict of
  arrays, `train_state.to_flat`) and `data` (the iterator's JSON state).

  Saves are asynchronous: `save` returns once the arrays are copied off the devices, and the
  checkpoint is committed (renamed into place) in the background; a kill before that leaves
  only a temporary folder, which is ignored and cleaned up on the next start.
  """

  def __init__(self, workdir: str, keep: int, async_save: bool = True):
    if keep < 1:
      raise ValueError(f"keep_checkpoints must be >= 1, got {keep}")
    self.directory = os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, flat_state: dict[str, Any], data_state: Any) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(flat_state),
        data=ocp.args.JsonSave({"iterator": data_state})), force=True)

  def restore(self, step: int, abstract_flat: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(flat state placed as `abstract_flat`'s shardings say, the iterator state)."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_flat), data=ocp.args.JsonRestore()))
    return dict(restored["state"]), restored["data"]["iterator"]

  def wait(self) -> None:
    """Blocks until pending saves are committed."""
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
