"""Shared pieces of the checkpoint converters: reading Hugging Face folders and filling an
abstract nnx state so that nothing is silently dropped or left uninitialised."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np
from flax import nnx


class ConversionError(ValueError):
  """A checkpoint that does not match the model; the message names the tensor."""


def read_hf_folder(directory: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """(config.json, state dict as float32 NumPy) of a `save_pretrained` folder."""
  config_path = os.path.join(directory, "config.json")
  if not os.path.isfile(config_path):
    raise ConversionError(f"{directory}: no config.json (expected a Hugging Face "
                          "save_pretrained folder)")
  with open(config_path) as f:
    config = json.load(f)
  safetensors_path = os.path.join(directory, "model.safetensors")
  bin_path = os.path.join(directory, "pytorch_model.bin")
  if os.path.isfile(safetensors_path):
    from safetensors.numpy import load_file
    tensors = load_file(safetensors_path)
  elif os.path.isfile(bin_path):
    try:
      import torch
    except ImportError:
      raise ConversionError(f"{bin_path}: reading .bin checkpoints needs torch "
                            "(pip install torch), or convert from model.safetensors") from None
    tensors = {k: v.float().numpy() for k, v in
               torch.load(bin_path, map_location="cpu", weights_only=True).items()}
  else:
    raise ConversionError(f"{directory}: neither model.safetensors nor pytorch_model.bin found")
  return config, {k: np.asarray(v, np.float32) for k, v in tensors.items()}


def flatten(tree: dict, prefix: tuple = ()) -> dict[tuple, Any]:
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(flatten(v, prefix + (k,)))
    else:
      out[prefix + (k,)] = v
  return out


def unflatten(flat: dict[tuple, Any]) -> dict:
  tree: dict = {}
  for path, v in flat.items():
    node = tree
    for k in path[:-1]:
      node = node.setdefault(k, {})
    node[path[-1]] = v
  return tree


def fill_state(abstract_model: nnx.Module, values: dict[tuple, np.ndarray],
               rng_seed: int | None = None) -> nnx.Module:
  """Puts `values` (keyed by state path) into an abstract model (`nnx.eval_shape`); every
  leaf must be given with the right shape and no value may be left over. RNG streams, which no
  checkpoint holds, start from `rng_seed` when one is given."""
  graphdef, state = nnx.split(abstract_model)
  target = flatten(nnx.to_pure_dict(state))
  out = {}
  for path, leaf in target.items():
    name = ".".join(map(str, path))
    if path in values:
      value = values[path]
      if tuple(value.shape) != tuple(leaf.shape):
        raise ConversionError(f"{name}: checkpoint gives shape {value.shape}, model wants "
                              f"{tuple(leaf.shape)}")
      out[path] = np.asarray(value, leaf.dtype)
    elif rng_seed is not None and path[-1] in ("key", "count") and "rngs" in path:
      out[path] = jax.random.key(rng_seed) if path[-1] == "key" else np.zeros((), leaf.dtype)
    else:
      raise ConversionError(f"missing tensor for {name}: the checkpoint does not provide it")
  extra = set(values) - set(target)
  if extra:
    raise ConversionError(f"unexpected value for {'.'.join(map(str, sorted(extra)[0]))}")
  nnx.replace_by_pure_dict(state, unflatten(out))
  return nnx.merge(graphdef, state)


def take_all(tensors: dict[str, np.ndarray], consumed: Iterable[str]) -> None:
  """Raises on the first checkpoint tensor nobody used."""
  left = sorted(set(tensors) - set(consumed))
  if left:
    raise ConversionError(f"unknown tensor {left[0]!r} in the checkpoint "
                          f"({len(left)} unused); the converter does not know where it goes")
