"""Reading Hugging Face checkpoint folders (as `save_pretrained` writes them) into NNX models.

Shared by the T5 and BERT converters: the config, the tensors (safetensors or PyTorch pickles,
sharded or not), and a strict name-by-name mapping in which every tensor of the checkpoint is
either used, or ignored on purpose, and every parameter of ours is filled.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.convert import common


ConversionError = common.ConversionError


def read_config(src_dir: str) -> dict:
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


def fill(build: Callable[[], nnx.Module], params: dict[tuple, np.ndarray]) -> nnx.Module:
  """Builds the module abstractly and fills every parameter from `params` (flat path -> array).

  No random init runs, so converting a billion-parameter encoder costs only its weights.
  """
  model = common.fill_state(nnx.eval_shape(build), params)
  graphdef, state = nnx.split(model)
  return nnx.merge(graphdef, jax.tree.map(jnp.asarray, state))
