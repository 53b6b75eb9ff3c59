"""Training: the shared loop (trainer.py), train state, optimizers, checkpoints, metrics, and one
trainer per model family. `launch/train.py` picks the trainer by `config.family`."""
from __future__ import annotations

import importlib
from typing import Any

# config.family -> "module:class" of its `trainer.Trainer` subclass.
TRAINERS = {
    "codec": "soundgen_jax.training.codec_trainer:CodecTrainer",
    "lm": "soundgen_jax.training.lm_trainer:LMTrainer",
    "soundstorm": "soundgen_jax.training.soundstorm_trainer:SoundStormTrainer",
}


def get_trainer(config: Any):
  """The family's trainer built from `config` (unknown family: ValueError naming the choices)."""
  family = config.get("family")
  if family not in TRAINERS:
    raise ValueError(f"config.family={family!r} has no trainer; choose one of "
                     f"{', '.join(sorted(TRAINERS))}")
  module, name = TRAINERS[family].split(":")
  return getattr(importlib.import_module(module), name)(config)
