"""Orbax checkpoints.

- Whole models with their config (converted official weights, exported generators), read back
  with the same call whatever wrote them: `save_model` / `load_model`.
- Train-state checkpoints of a run (`TrainCheckpointer`): every array of the train state, the
  step, the RNG and the data iterator's position, through an orbax `CheckpointManager` (async,
  atomic: a checkpoint only appears under its step's name once fully written; keep-N). Once
  committed, each gets a list of its files and their sizes (`FILES`), so that a truncated or
  half-copied one is recognised before orbax reads it (`damage`) and moved aside (`set_aside`).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

CONFIG_FILE = "config.json"
STATE_DIR = "state"
CHECKPOINTS_DIR = "checkpoints"
FILES = "files.json"  # {relative path: size} of a committed train checkpoint
DAMAGED_SUFFIX = ".damaged"


def save_model(directory: str, model: nnx.Module, config: dict[str, Any]) -> None:
  """Writes `config.json` (what builds the model) and the model's state as an orbax checkpoint.
  With several processes every one calls it with the same (global) model: orbax writes
  collectively, process 0 writes the config."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  if jax.process_index() == 0:
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
  elif jax.process_count() > 1:  # on this process's first device, read by this process alone
    here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here),
                          target)
  options = _this_process_only() if sharding is None else {}
  with ocp.StandardCheckpointer(**options) as ckptr:
    restored = ckptr.restore(os.path.join(directory, STATE_DIR), target)
  nnx.replace_by_pure_dict(abstract_state, restored)
  return nnx.merge(graphdef, abstract_state), config


def _this_process_only() -> dict[str, Any]:
  """Orbax options for a read by this process alone (no barriers with the others)."""
  if jax.process_count() == 1:
    return {}
  i = jax.process_index()
  return {"multiprocessing_options": ocp.options.MultiprocessingOptions(
      primary_host=i, active_processes={i}, barrier_sync_key_prefix=f"model_p{i}")}


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
    self._unlisted: list[int] = []  # saved here, FILES not yet written

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, flat_state: dict[str, Any], data_state: Any,
           eval_pending: bool = False) -> None:
    """`eval_pending`: the eval due at `step` was not run (a preempted run saves at once)."""
    self._list_committed()  # orbax's save waits for the previous one anyway
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(flat_state),
        data=ocp.args.JsonSave({"iterator": data_state, "eval_pending": bool(eval_pending)})),
        force=True)
    self._unlisted.append(step)

  def restore(self, step: int, abstract_flat: dict[str, Any]
              ) -> tuple[dict[str, Any], Any, bool]:
    """(flat state placed as `abstract_flat`'s shardings say, the iterator state, whether the
    eval due at `step` is still to run)."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_flat), data=ocp.args.JsonRestore()))
    data = restored["data"]
    return dict(restored["state"]), data["iterator"], bool(data.get("eval_pending", False))

  def damage(self, step: int) -> str | None:
    """What is wrong with checkpoint `step`'s files (a missing or truncated one), or None."""
    folder = os.path.join(self.directory, str(step))
    try:
      with open(os.path.join(folder, FILES)) as f:
        listed = json.load(f)
    except FileNotFoundError:  # written before FILES existed, or killed just before it
      return _read_through(folder)
    except (OSError, ValueError):
      return f"its {FILES} is unreadable"
    for name, size in sorted(listed.items()):
      path = os.path.join(folder, name)
      if not os.path.isfile(path):
        return f"{name} is missing"
      if os.path.getsize(path) != size:
        return f"{name} has {os.path.getsize(path)} of its {size} bytes"
    return None

  def set_aside(self, step: int) -> str:
    """Renames checkpoint `step` to `<step>.damaged` (nothing is deleted; process 0 renames,
    every process then stops listing it). Returns the new path."""
    folder = os.path.join(self.directory, str(step))
    target = folder + DAMAGED_SUFFIX
    n = 1
    while os.path.exists(target):
      target, n = f"{folder}{DAMAGED_SUFFIX}.{n}", n + 1
    from soundgen_jax.parallel import distributed  # pylint: disable=g-import-not-at-top
    if jax.process_index() == 0:
      os.rename(folder, target)
    distributed.barrier(f"set_aside_{step}")
    self.manager.reload()
    if step in self.manager.all_steps():
      raise RuntimeError(f"orbax still lists checkpoint {step} after moving it to {target}")
    return target

  def wait(self) -> None:
    """Blocks until pending saves are committed."""
    self.manager.wait_until_finished()
    self._list_committed()

  def close(self) -> None:
    self._list_committed()
    self.manager.close()

  def _list_committed(self) -> None:
    """Writes FILES into every checkpoint this process saved that is committed by now."""
    self.manager.wait_until_finished()
    steps, self._unlisted = self._unlisted, []
    if jax.process_index() != 0:
      return
    for step in steps:
      folder = os.path.join(self.directory, str(step))
      if not os.path.isdir(folder):  # already removed by keep-N
        continue
      sizes = {}
      for root, _, files in os.walk(folder):
        for name in files:
          path = os.path.join(root, name)
          sizes[os.path.relpath(path, folder)] = os.path.getsize(path)
      sizes.pop(FILES, None)
      tmp = os.path.join(folder, FILES + ".tmp")
      with open(tmp, "w") as f:
        json.dump(sizes, f, indent=0, sort_keys=True)
      os.replace(tmp, os.path.join(folder, FILES))


def _read_through(folder: str) -> str | None:
  """Reads every stored value of a checkpoint without FILES, synchronously (a failed orbax
  restore leaves reads behind that report themselves at exit): what fails, or None."""
  for item in ("state", "data"):
    if not os.path.isdir(os.path.join(folder, item)):
      return f"{item}/ is missing"
  data = os.path.join(folder, "data", "metadata")  # orbax's JSON item
  if os.path.isfile(data):
    try:
      with open(data) as f:
        json.load(f)
    except (OSError, ValueError):
      return "data/metadata is unreadable"
  state = os.path.join(folder, "state")
  if not os.path.isfile(os.path.join(state, "manifest.ocdbt")):
    return None  # not an OCDBT checkpoint: left to the restore
  import tensorstore as ts  # pylint: disable=g-import-not-at-top
  try:
    kv = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{state}"}).result()
    for key in kv.list().result():
      kv.read(key).result()
  except (ValueError, RuntimeError) as e:  # tensorstore's statuses
    return " ".join(str(e).split())[:160]
  return None


# How a restore of a checkpoint without FILES fails when its files are damaged: tensorstore's
# status codes for a missing or short file, orbax's missing item, an empty metadata file.
_DAMAGE = re.compile(r"^(NOT_FOUND|OUT_OF_RANGE|DATA_LOSS)\b|was not found in the checkpoint")


def looks_damaged(error: BaseException) -> bool:
  if isinstance(error, (FileNotFoundError, json.JSONDecodeError)):
    return True
  message = str(error).strip("'\"")
  return isinstance(error, (ValueError, KeyError)) and bool(_DAMAGE.search(message))
