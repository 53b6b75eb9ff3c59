"""Shared pieces of the checkpoint converters: reading Hugging Face folders (as
`save_pretrained` writes them), a strict name-by-name tensor mapping, filling an abstract nnx
state so that nothing is silently dropped or left uninitialised, and saving / loading the
converted model.

Every converter reads with `read_config` + `read_tensors`, hands tensors out through a
`TensorMap` (each checkpoint tensor is used or ignored on purpose) and fills with `fill_state`.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.training import checkpoints


class ConversionError(ValueError):
  """A checkpoint that does not match the model; the message names the tensor."""


def read_config(src_dir: str) -> dict[str, Any]:
  """The config.json of a Hugging Face checkpoint folder."""
  path = os.path.join(src_dir, "config.json")
  if not os.path.isfile(path):
    raise ConversionError(f"{src_dir}: no config.json; pass a folder written by "
                          "save_pretrained (config.json + model.safetensors)")
  with open(path) as f:
    return json.load(f)


def _weight_files(src_dir: str) -> list[str]:
  """The tensor files of a checkpoint folder, safetensors first, following shard indexes."""
  for single, index in (("model.safetensors", "model.safetensors.index.json"),
                        ("pytorch_model.bin", "pytorch_model.bin.index.json")):
    if os.path.isfile(os.path.join(src_dir, single)):
      return [os.path.join(src_dir, single)]
    if os.path.isfile(os.path.join(src_dir, index)):
      with open(os.path.join(src_dir, index)) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
      return [os.path.join(src_dir, s) for s in shards]
  raise ConversionError(f"{src_dir}: no model.safetensors or pytorch_model.bin (nor a sharded "
                        "index); pass a folder written by save_pretrained")


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
  from safetensors import safe_open  # pylint: disable=g-import-not-at-top
  out = {}
  with safe_open(path, framework="numpy") as f:
    for name in f.keys():
      try:
        out[name] = f.get_tensor(name)
      except TypeError:  # bfloat16 has no numpy dtype: read it through jax, keep float32
        with safe_open(path, framework="flax") as g:
          out[name] = np.asarray(g.get_tensor(name).astype(np.float32))
  return out


def _read_torch(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConversionError(f"{path}: reading a PyTorch pickle needs torch (pip install torch), "
                          "or re-save the checkpoint as model.safetensors") from e
  state = torch.load(path, map_location="cpu", weights_only=True)
  return {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in state.items()}


def read_tensors(src_dir: str) -> dict[str, np.ndarray]:
  """All tensors of a Hugging Face checkpoint folder, by their PyTorch names."""
  tensors = {}
  for path in _weight_files(src_dir):
    read = _read_safetensors if path.endswith(".safetensors") else _read_torch
    tensors.update(read(path))
  return tensors


class TensorMap:
  """Hands out checkpoint tensors by name and remembers which were used.

  `take` raises on a missing tensor, `finish` on any tensor neither used nor ignored, so a
  checkpoint of another architecture (or a changed naming) fails loudly instead of loading
  half its weights.
  """

  def __init__(self, tensors: dict[str, np.ndarray], source: str):
    self.tensors = tensors
    self.source = source
    self.used: set[str] = set()

  def __contains__(self, name: str) -> bool:
    return name in self.tensors

  def __iter__(self) -> Iterator[str]:
    return iter(list(self.tensors))

  def take(self, name: str) -> np.ndarray:
    if name not in self.tensors:
      raise ConversionError(f"{self.source}: missing tensor {name}")
    self.used.add(name)
    return np.asarray(self.tensors[name], np.float32)

  def ignore(self, name: str) -> None:
    self.used.add(name)

  def finish(self, ignored_prefixes: Iterable[str] = ()) -> None:
    unknown = sorted(n for n in self.tensors if n not in self.used
                     and not n.startswith(tuple(ignored_prefixes)))
    if unknown:
      more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
      raise ConversionError(f"{self.source}: unknown tensor {unknown[0]}{more}")


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
  """Puts `values` (keyed by state path) into an abstract model (`nnx.eval_shape(build)`), as
  jnp arrays; every leaf must be given with the right shape and no value may be left over.
  No random init runs, so converting a large model costs only its weights. RNG streams, which
  no checkpoint holds, start from `rng_seed` when one is given."""
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
      out[path] = jnp.asarray(value, leaf.dtype)
    elif rng_seed is not None and path[-1] in ("key", "count") and "rngs" in path:
      out[path] = jax.random.key(rng_seed) if path[-1] == "key" else jnp.zeros((), leaf.dtype)
    else:
      raise ConversionError(f"missing tensor for {name}: the checkpoint does not provide it")
  extra = set(values) - set(target)
  if extra:
    raise ConversionError(f"unexpected value for {'.'.join(map(str, sorted(extra)[0]))}")
  nnx.replace_by_pure_dict(state, unflatten(out))
  return nnx.merge(graphdef, state)


def save_converted(out_dir: str, model: nnx.Module, config: dict[str, Any], src_dir: str,
                   extra_files: Iterable[str] = ()) -> None:
  """Writes `model` with `save_model`, plus those of `extra_files` (the checkpoint's
  vocabulary) that `src_dir` has, so the converted folder is complete on its own."""
  checkpoints.save_model(out_dir, model, config)
  for name in extra_files:
    if os.path.isfile(os.path.join(src_dir, name)):
      shutil.copy(os.path.join(src_dir, name), os.path.join(out_dir, name))


def load_converted(directory: str, architecture: str,
                   build: Callable[[dict[str, Any]], nnx.Module]) -> nnx.Module:
  """A model saved by `save_converted`; a folder of another architecture is an error."""
  found = checkpoints.load_config(directory).get("architecture")
  if found != architecture:
    raise ConversionError(f"{directory}: holds a {found!r} model, not {architecture!r}")
  return checkpoints.load_model(directory, build)[0]
