"""A tiny random text-to-audio model folder (lm/pretrained.py) for the generation API / CLI
tests: 2 codebooks of 16, one width-32 layer, the bundled MiniLM, a 50 frames/s codec."""
from __future__ import annotations

import os

from flax import nnx

from soundgen_jax.lm import pretrained
from soundgen_jax.lm.model import AudioLM, LMConfig
from soundgen_jax.parallel.sharding import sharded_init
from model_helpers import FRAME_RATE, HOP, SAMPLE_RATE, tiny_codec  # pylint: disable=unused-import

MAX_DURATION, EXTEND_STRIDE = 1.0, 0.5
TEXT_MAX_LENGTH = 16
MINILM_WIDTH = 384


def tiny_lm() -> AudioLM:
  cfg = LMConfig(num_codebooks=2, codebook_size=16, dim=32, num_heads=2, num_layers=1,
                 ffn_dim=64, text_dim=MINILM_WIDTH)
  return sharded_init(lambda: AudioLM(cfg, rngs=nnx.Rngs(0)))


def save_tiny_model(directory: str) -> str:
  """Writes the folder (max_duration 1 s, extend_stride 0.5 s) and returns its path."""
  pretrained.save(directory, tiny_lm(), pattern={"name": "delay", "delays": [0, 1]},
                  text={"encoder": "minilm", "max_length": TEXT_MAX_LENGTH}, codec=tiny_codec(),
                  max_duration=MAX_DURATION, extend_stride=EXTEND_STRIDE)
  return directory


def shared_model_dir(tmp_path_factory) -> str:
  """One folder for the whole pytest session (the API and CLI tests share it)."""
  directory = os.path.join(str(tmp_path_factory.getbasetemp()), "tiny_audio_lm")
  if not os.path.isfile(os.path.join(directory, "config.json")):
    save_tiny_model(directory)
  return directory
