"""Hugging Face `EncodecModel` checkpoints (config.json + model.safetensors | pytorch_model.bin)
-> soundgen_jax Codec saved as an orbax checkpoint."""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from flax import nnx

from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.convert.common import (ConversionError, TensorMap, fill_state, read_config,
                                         read_tensors)
from soundgen_jax.training import checkpoints

FAMILY = "codec"


def config_from_hf(hf: dict[str, Any]) -> CodecConfig:
  if hf.get("codebook_dim", hf["hidden_size"]) != hf["hidden_size"]:
    raise ConversionError("codebook_dim != hidden_size is not an EnCodec layout we know")
  ratios = hf["upsampling_ratios"]
  frame_rate = math.ceil(hf["sampling_rate"] / int(np.prod(ratios)))
  bits = math.ceil(math.log2(hf["codebook_size"]))
  return CodecConfig(
      sample_rate=hf["sampling_rate"], channels=hf["audio_channels"],
      dimension=hf["hidden_size"], num_filters=hf["num_filters"], ratios=tuple(ratios),
      kernel_size=hf["kernel_size"], last_kernel_size=hf["last_kernel_size"],
      residual_kernel_size=hf["residual_kernel_size"],
      num_residual_layers=hf["num_residual_layers"], dilation_base=hf["dilation_growth_rate"],
      compress=hf["compress"], lstm_layers=hf["num_lstm_layers"], causal=hf["use_causal_conv"],
      pad_mode=hf["pad_mode"], norm=hf["norm_type"], conv_shortcut=hf["use_conv_shortcut"],
      trim_right_ratio=hf["trim_right_ratio"], codebook_size=hf["codebook_size"],
      num_quantizers=int(1000 * hf["target_bandwidths"][-1] // (frame_rate * bits)),
      bandwidths=tuple(hf["target_bandwidths"]), normalize=hf["normalize"],
      chunk_length_s=hf["chunk_length_s"], overlap=hf["overlap"])


_CONV = re.compile(r"^(?P<mod>.+)\.conv\.(?P<what>parametrizations\.weight\.original0|"
                   r"parametrizations\.weight\.original1|weight_g|weight_v|weight|bias)$")
_NORM = re.compile(r"^(?P<mod>.+)\.norm\.(?P<what>weight|bias)$")
_LSTM = re.compile(r"^(?P<mod>.+)\.lstm\.(?P<what>weight_ih|weight_hh|bias_ih|bias_hh)"
                   r"_l(?P<k>\d+)$")
_CODEBOOK = re.compile(r"^quantizer\.layers\.(?P<q>\d+)\.codebook\.(?P<what>embed|embed_avg|"
                       r"cluster_size|inited)$")


def _path(module: str) -> tuple:
  return tuple(int(p) if p.isdigit() else p for p in module.split("."))


def state_from_hf(model: Codec, tensors: TensorMap) -> dict[tuple, np.ndarray]:
  """Maps reference tensor names to our state paths (weight norm and LSTM biases folded in);
  a checkpoint tensor no pattern knows is an error naming it."""
  values: dict[tuple, np.ndarray] = {}
  lstm: dict[tuple, dict] = {}
  codebooks: dict[str, dict[int, np.ndarray]] = {}
  for name in tensors:
    if not any(p.match(name) for p in (_CONV, _NORM, _LSTM, _CODEBOOK)):
      continue  # left for `finish`, which names it
    t = tensors.take(name)
    if m := _CONV.match(name):
      mod = _path(m["mod"])
      transposed = t.ndim == 3 and _is_transposed(model, mod)
      what = m["what"]
      if what == "bias":
        values[mod + ("bias",)] = t
      elif what in ("parametrizations.weight.original0", "weight_g"):
        values[mod + ("kernel_g",)] = t.reshape(-1)
      else:
        # Conv1d [out, in, K] / ConvTranspose1d [in, out, K] -> ours [K, in, out].
        kernel = t.transpose(2, 0, 1) if transposed else t.transpose(2, 1, 0)
        key = "kernel" if what == "weight" else "kernel_v"
        values[mod + (key,)] = kernel
    elif m := _NORM.match(name):
      values[_path(m["mod"]) + ("norm_scale" if m["what"] == "weight" else "norm_bias",)] = t
    elif m := _LSTM.match(name):
      lstm.setdefault(_path(m["mod"]), {})[(m["what"], int(m["k"]))] = t
    elif m := _CODEBOOK.match(name):
      codebooks.setdefault(m["what"], {})[int(m["q"])] = t
  tensors.finish()
  for mod, parts in lstm.items():
    layers = sorted({k for _, k in parts})
    values[mod + ("lstm", "w_ih")] = np.stack([parts[("weight_ih", k)].T for k in layers])
    values[mod + ("lstm", "w_hh")] = np.stack([parts[("weight_hh", k)].T for k in layers])
    values[mod + ("lstm", "bias")] = np.stack(
        [parts[("bias_ih", k)] + parts[("bias_hh", k)] for k in layers])
  ours = {"embed": "embed", "embed_avg": "embed_sum", "cluster_size": "cluster_size",
          "inited": "initialized"}
  for what, per_level in codebooks.items():
    levels = [per_level[q] for q in sorted(per_level)]
    if len({x.shape for x in levels}) > 1:
      raise ConversionError(f"quantizer.layers.*.codebook.{what}: levels have different shapes "
                            f"{sorted({x.shape for x in levels})}")
    stacked = np.stack([np.reshape(x, -1)[0] if what == "inited" else x for x in levels])
    values[("quantizer", ours[what])] = stacked
  return values


def _is_transposed(model: Codec, mod: tuple) -> bool:
  from soundgen_jax.nn.convs import ConvTranspose1d
  node = model
  for p in mod:
    node = node[p] if isinstance(p, int) else getattr(node, p)
  return isinstance(node, ConvTranspose1d)


def build(config: dict[str, Any]) -> Codec:
  return Codec(CodecConfig(**config["model"]), rngs=nnx.Rngs(0))


def convert(src_dir: str, out_dir: str | None = None) -> Codec:
  """Converts a Hugging Face EnCodec folder; writes it to `out_dir` when given."""
  hf_config = read_config(src_dir)
  if hf_config.get("model_type", "encodec") != "encodec":
    raise ConversionError(f"{src_dir}: model_type is {hf_config.get('model_type')!r}, "
                          "not 'encodec'")
  tensors = TensorMap(read_tensors(src_dir), src_dir)
  cfg = config_from_hf(hf_config)
  config = {"family": FAMILY, "model": cfg.to_dict()}
  model = nnx.eval_shape(lambda: build(config))  # no random init: every value is given
  values = state_from_hf(model, tensors)
  model = fill_state(model, values, rng_seed=0)
  if out_dir is not None:
    checkpoints.save_model(out_dir, model, config)
  return model


def load(directory: str) -> Codec:
  """A codec saved by `convert` or by codec training."""
  model, config = checkpoints.load_model(directory, build)
  if config.get("family") != FAMILY:
    raise ConversionError(f"{directory}: holds a {config.get('family')!r} model, not a codec")
  return model
