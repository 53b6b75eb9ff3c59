"""A SoundStorm folder: the model folder layout of lm/pretrained.py with architecture
"soundstorm" (config.json, state/, codec/, text/ when not the bundled MiniLM).

The SoundStorm trainer's export writes it; `launch/generate.py --soundstorm DIR` and
`soundgen_jax.api` read it with `load`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from flax import nnx

from soundgen_jax.lm import pretrained as folders
from soundgen_jax.soundstorm.model import SoundStorm, SoundStormConfig
from soundgen_jax.training import checkpoints

ARCHITECTURE = "soundstorm"


@dataclasses.dataclass
class Pretrained(folders.Parts):
  model: SoundStorm = None
  config: SoundStormConfig = None


def build(config: dict[str, Any]) -> SoundStorm:
  return SoundStorm(SoundStormConfig.from_dict(config["model"]), rngs=nnx.Rngs(0))


def save(out_dir: str, model: SoundStorm, *, text: dict[str, Any] | None,
         codec_dir: str | None = None, codec: Any = None, text_dir: str | None = None,
         **meta) -> None:
  folders.save_folder(out_dir, model, {"architecture": ARCHITECTURE, "family": "soundstorm",
                                       **meta},
                      text=text, codec_dir=codec_dir, codec=codec, text_dir=text_dir)


def load(directory: str) -> Pretrained:
  """Reads a SoundStorm folder; a folder that is not one is a one-line error."""
  directory = os.path.abspath(directory)
  meta = folders.read_config(directory, ARCHITECTURE, "a SoundStorm",
                             "pass a SoundStorm training WORKDIR/export")
  model, _ = checkpoints.load_model(directory, build)
  parts = folders.load_parts(directory, meta)
  if parts["codec"].config.num_quantizers < model.cfg.num_levels:
    raise ValueError(f"{directory}: its codec has {parts['codec'].config.num_quantizers} "
                     f"levels, the model {model.cfg.num_levels}")
  return Pretrained(model=model, config=model.cfg, **parts)
