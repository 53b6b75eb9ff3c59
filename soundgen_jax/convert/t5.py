"""Hugging Face T5 (T5EncoderModel or T5ForConditionalGeneration) -> our T5 encoder.

Only the encoder and the shared embedding are taken; the decoder and LM head are skipped on
purpose. Any other tensor we do not know, or one we need and do not find, is an error naming it.

  convert(src_dir, out_dir)   writes an orbax checkpoint + config.json (`save_model`)
  load(out_dir)               -> T5Encoder
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax.convert import common
from soundgen_jax.text.t5 import T5Config, T5Encoder

ARCHITECTURE = "t5_encoder"
MODEL_TYPES = ("t5", "mt5")  # same encoder; umt5 (a bias table per layer) is not this model
# The text side of the checkpoint: its sentencepiece model, copied next to our weights.
VOCAB_FILES = ("spiece.model",)
# Parts of an encoder-decoder checkpoint that the encoder does not use.
IGNORED_PREFIXES = ("decoder.", "lm_head.")


def build(config: dict[str, Any], dtype: Any = jnp.float32) -> T5Encoder:
  """The encoder `config` describes (random weights); `dtype` is the compute dtype."""
  return T5Encoder(T5Config.from_dict(config), dtype=dtype, rngs=nnx.Rngs(0))


def _params(tensors: common.TensorMap, cfg: T5Config) -> dict[tuple, np.ndarray]:
  """Our flat parameter paths -> arrays, from the PyTorch names ([out, in] linear weights)."""
  d, h, k = cfg.d_model, cfg.num_heads, cfg.d_kv
  p = {}
  # T5EncoderModel ties encoder.embed_tokens to shared; either name may be the one saved.
  if "shared.weight" in tensors:
    p[("embed", "embedding")] = tensors.take("shared.weight")
    tensors.ignore("encoder.embed_tokens.weight")
  else:
    p[("embed", "embedding")] = tensors.take("encoder.embed_tokens.weight")
  first = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
  p[("rel_bias",)] = tensors.take(first)
  for i in range(cfg.num_layers):
    src, dst = f"encoder.block.{i}.layer.", ("layers", i)
    attn = src + "0.SelfAttention."
    p[dst + ("attn_norm", "scale")] = tensors.take(src + "0.layer_norm.weight")
    for name in ("q", "k", "v"):
      p[dst + (name,)] = tensors.take(f"{attn}{name}.weight").T.reshape(d, h, k)
    p[dst + ("o",)] = tensors.take(attn + "o.weight").T.reshape(h, k, d)
    ff = src + "1.DenseReluDense."
    p[dst + ("ff_norm", "scale")] = tensors.take(src + "1.layer_norm.weight")
    if cfg.gated:
      p[dst + ("wi",)] = tensors.take(ff + "wi_0.weight").T
      p[dst + ("wi_gate",)] = tensors.take(ff + "wi_1.weight").T
    else:
      p[dst + ("wi",)] = tensors.take(ff + "wi.weight").T
    p[dst + ("wo",)] = tensors.take(ff + "wo.weight").T
  p[("final_norm", "scale")] = tensors.take("encoder.final_layer_norm.weight")
  return p


def from_hf(src_dir: str, dtype: Any = jnp.float32) -> tuple[T5Encoder, dict[str, Any]]:
  """Converts in memory: (model, the config dict that `build` / `load_model` rebuild it from)."""
  hf_config = common.read_config(src_dir)
  if hf_config.get("model_type") not in MODEL_TYPES:
    raise common.ConversionError(f"{src_dir}: model_type {hf_config.get('model_type')!r} is "
                                 f"not a T5 checkpoint (expected one of {MODEL_TYPES})")
  cfg = T5Config.from_dict(hf_config)
  try:
    cfg.activation  # pylint: disable=pointless-statement  # validates feed_forward_proj
  except ValueError as e:
    raise common.ConversionError(f"{src_dir}: {e}") from None
  tensors = common.TensorMap(common.read_tensors(src_dir), src_dir)
  params = _params(tensors, cfg)
  tensors.finish(IGNORED_PREFIXES)
  model = common.fill_state(nnx.eval_shape(lambda: build(cfg.to_dict(), dtype)), params)
  return model, {"architecture": ARCHITECTURE, **cfg.to_dict()}


def convert(src_dir: str, out_dir: str) -> None:
  """Hugging Face T5 folder -> soundgen_jax checkpoint (+ its spiece.model, if present)."""
  model, config = from_hf(src_dir)
  common.save_converted(out_dir, model, config, src_dir, VOCAB_FILES)


def load(directory: str, dtype: Any = jnp.float32) -> T5Encoder:
  return common.load_converted(directory, ARCHITECTURE, lambda c: build(c, dtype))
