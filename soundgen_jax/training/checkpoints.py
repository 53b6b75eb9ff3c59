"""Orbax checkpoints: whole models with their config (converted official weights, exported
generators), read back with the same call whatever wrote them."""
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
