"""Hugging Face BERT / MiniLM (BertModel, or BertFor* with a `bert.` prefix) -> our BertEncoder.

The pooler and pre-training heads are skipped on purpose (conditioning uses token states);
any other tensor we do not know, or one we need and do not find, is an error naming it.

  convert(src_dir, out_dir)   writes an orbax checkpoint + config.json (`save_model`)
  load(out_dir)               -> BertEncoder
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.convert import common
from soundgen_jax.text.bert import BertConfig, BertEncoder

ARCHITECTURE = "bert_encoder"
# The tokenizer of the checkpoint, copied next to our weights.
VOCAB_FILES = ("tokenizer.json", "vocab.txt")
# Pooler, pre-training heads, and the position/type id buffers some versions save.
IGNORED_PREFIXES = ("pooler.", "cls.", "embeddings.position_ids", "embeddings.token_type_ids")


def build(config: dict[str, Any], dtype: Any = jnp.float32) -> BertEncoder:
  """The encoder `config` describes (random weights); `dtype` is the compute dtype."""
  return BertEncoder(BertConfig.from_dict(config), dtype=dtype, rngs=nnx.Rngs(0))


def _normalise_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Drops the `bert.` prefix of BertFor* models; old TF-era LayerNorm gamma/beta names."""
  out = {}
  for name, value in tensors.items():
    if name.startswith("bert."):
      name = name[len("bert."):]
    if ".LayerNorm." in name:
      name = name.replace(".gamma", ".weight").replace(".beta", ".bias")
    out[name] = value
  return out


def _params(tensors: common.TensorMap, cfg: BertConfig) -> dict[tuple, np.ndarray]:
  """Our flat parameter paths -> arrays, from the PyTorch names ([out, in] linear weights)."""
  d, h = cfg.hidden_size, cfg.num_attention_heads
  k = d // h
  p = {
      ("word_embed",): tensors.take("embeddings.word_embeddings.weight"),
      ("pos_embed",): tensors.take("embeddings.position_embeddings.weight"),
      ("type_embed",): tensors.take("embeddings.token_type_embeddings.weight"),
      ("embed_norm", "scale"): tensors.take("embeddings.LayerNorm.weight"),
      ("embed_norm", "bias"): tensors.take("embeddings.LayerNorm.bias"),
  }
  for i in range(cfg.num_hidden_layers):
    src, dst = f"encoder.layer.{i}.", ("layers", i)
    for ours, theirs in (("q", "query"), ("k", "key"), ("v", "value")):
      p[dst + (ours,)] = tensors.take(f"{src}attention.self.{theirs}.weight").T.reshape(d, h, k)
      p[dst + (ours + "_bias",)] = tensors.take(f"{src}attention.self.{theirs}.bias").reshape(h, k)
    p[dst + ("o",)] = tensors.take(src + "attention.output.dense.weight").T.reshape(h, k, d)
    p[dst + ("o_bias",)] = tensors.take(src + "attention.output.dense.bias")
    p[dst + ("attn_norm", "scale")] = tensors.take(src + "attention.output.LayerNorm.weight")
    p[dst + ("attn_norm", "bias")] = tensors.take(src + "attention.output.LayerNorm.bias")
    p[dst + ("wi",)] = tensors.take(src + "intermediate.dense.weight").T
    p[dst + ("wi_bias",)] = tensors.take(src + "intermediate.dense.bias")
    p[dst + ("wo",)] = tensors.take(src + "output.dense.weight").T
    p[dst + ("wo_bias",)] = tensors.take(src + "output.dense.bias")
    p[dst + ("ff_norm", "scale")] = tensors.take(src + "output.LayerNorm.weight")
    p[dst + ("ff_norm", "bias")] = tensors.take(src + "output.LayerNorm.bias")
  return p


def from_hf(src_dir: str, dtype: Any = jnp.float32) -> tuple[BertEncoder, dict[str, Any]]:
  """Converts in memory: (model, the config dict that `build` / `load_model` rebuild it from)."""
  hf_config = common.read_config(src_dir)
  if hf_config.get("model_type") != "bert":
    raise common.ConversionError(f"{src_dir}: model_type {hf_config.get('model_type')!r} is "
                                 "not a BERT checkpoint (expected 'bert')")
  try:
    cfg = BertConfig.from_dict(hf_config)
  except ValueError as e:
    raise common.ConversionError(f"{src_dir}: {e}") from None
  tensors = common.TensorMap(_normalise_names(common.read_tensors(src_dir)), src_dir)
  params = _params(tensors, cfg)
  tensors.finish(IGNORED_PREFIXES)
  model = common.fill_state(nnx.eval_shape(lambda: build(cfg.to_dict(), dtype)), params)
  return model, {"architecture": ARCHITECTURE, **cfg.to_dict()}


def convert(src_dir: str, out_dir: str) -> None:
  """Hugging Face BERT folder -> soundgen_jax checkpoint (+ its tokenizer files, if present)."""
  model, config = from_hf(src_dir)
  common.save_converted(out_dir, model, config, src_dir, VOCAB_FILES)


def load(directory: str, dtype: Any = jnp.float32) -> BertEncoder:
  return common.load_converted(directory, ARCHITECTURE, lambda c: build(c, dtype))
