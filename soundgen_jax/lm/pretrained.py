"""A model folder: everything text-to-audio generation needs, in one place.

  DIR/config.json   {"architecture": "audio_lm", "model": LMConfig, "pattern": {...},
                     "text": TextConditioner config, "codec": "codec", "max_duration": ...}
  DIR/state/        the LM's weights (orbax)
  DIR/codec/        the codec checkpoint (launch/codec.py --checkpoint reads it too)
  DIR/text/         the text encoder checkpoint, when it is not the bundled MiniLM

`launch/convert.py musicgen|audiocraft` and the LM trainer's export both write it; the
generation CLI and `soundgen_jax.api` read it with `load`.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Any

import jax
import ml_collections
from flax import nnx

from soundgen_jax.lm import patterns as patterns_lib
from soundgen_jax.lm.model import AudioLM, LMConfig
from soundgen_jax.training import checkpoints

ARCHITECTURE = "audio_lm"
CODEC_DIR, TEXT_DIR = "codec", "text"


@dataclasses.dataclass
class Parts:
  """What every generator folder holds besides its model."""
  conditioner: Any              # text.conditioner.TextConditioner or None (unconditional)
  codec: Any                    # codecs.codec.Codec
  meta: dict[str, Any]          # the whole config.json

  @property
  def sample_rate(self) -> int:
    return int(self.codec.config.sample_rate)

  @property
  def frame_rate(self) -> float:
    return self.codec.config.sample_rate / self.codec.config.hop_length

  @property
  def channels(self) -> int:
    return int(self.meta.get("channels", self.codec.config.channels))


@dataclasses.dataclass
class Pretrained(Parts):
  lm: AudioLM = None
  config: LMConfig = None
  pattern: Any = None           # patterns.Pattern


def build(config: dict[str, Any]) -> AudioLM:
  return AudioLM(LMConfig.from_dict(config["model"]), rngs=nnx.Rngs(0))


def save(out_dir: str, lm: AudioLM, *, pattern: dict[str, Any], text: dict[str, Any] | None,
         codec_dir: str | None = None, codec: Any = None, text_dir: str | None = None,
         **meta) -> None:
  """Writes a model folder. The codec comes as a checkpoint folder to copy (`codec_dir`) or a
  model to save (`codec`); `text_dir` (a converted text encoder) is copied to DIR/text."""
  save_folder(out_dir, lm, {"architecture": ARCHITECTURE, "family": "lm",
                            "pattern": dict(pattern), **meta},
              text=text, codec_dir=codec_dir, codec=codec, text_dir=text_dir)


def save_folder(out_dir: str, model: Any, entries: dict[str, Any], *,
                text: dict[str, Any] | None, codec_dir: str | None = None, codec: Any = None,
                text_dir: str | None = None) -> None:
  """A generator's folder (this layout, any architecture): config.json = `entries` + the
  model's config + text + codec, the weights, the codec and the text encoder beside them."""
  from soundgen_jax.convert import encodec  # pylint: disable=g-import-not-at-top
  out_dir = os.path.abspath(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  text = dict(text) if text else None
  first = jax.process_index() == 0  # with several processes all call this; one copies
  if text_dir:
    if first:
      _copy_tree(text_dir, os.path.join(out_dir, TEXT_DIR))
    text["checkpoint"] = TEXT_DIR
  if codec_dir:
    if first:
      _copy_tree(codec_dir, os.path.join(out_dir, CODEC_DIR))
  elif codec is not None:
    checkpoints.save_model(os.path.join(out_dir, CODEC_DIR), codec,
                           {"family": encodec.FAMILY, "model": codec.config.to_dict()})
  else:
    raise ValueError("save needs codec_dir or codec")
  config = {**entries, "model": model.cfg.to_dict(), "text": text, "codec": CODEC_DIR}
  checkpoints.save_model(out_dir, model, config)


def _copy_tree(src: str, dst: str) -> None:
  if os.path.abspath(src) == os.path.abspath(dst):
    return
  if os.path.isdir(dst):
    shutil.rmtree(dst)
  shutil.copytree(src, dst)


def make_pattern(config: dict[str, Any], num_codebooks: int):
  options = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()
             if k != "name"}
  return patterns_lib.make(config["name"], num_codebooks, **options)


def text_conditioner(text: dict[str, Any] | None, base_dir: str = ""):
  """The TextConditioner a folder's `text` entry describes (checkpoint paths relative to it)."""
  if not text:
    return None
  from soundgen_jax.text import conditioner as cond_lib  # pylint: disable=g-import-not-at-top
  c = cond_lib.get_config(text.get("encoder", "minilm"))
  c.update({k: v for k, v in text.items() if k in c})
  for key in ("checkpoint", "vocab"):
    if c[key] and c[key] != "byte" and not os.path.isabs(c[key]) and base_dir:
      c[key] = os.path.join(base_dir, c[key])
  return cond_lib.TextConditioner(ml_collections.ConfigDict(c.to_dict()))


def read_config(directory: str, architecture: str, what: str, hint: str) -> dict[str, Any]:
  """A folder's config.json, checked to be `architecture`'s (a one-line error otherwise)."""
  from soundgen_jax.convert.common import ConversionError  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{directory}: no such model folder")
  meta = checkpoints.load_config(directory)
  if meta.get("architecture") != architecture:
    raise ConversionError(f"{directory}: not {what} folder (it holds "
                          f"{meta.get('architecture') or meta.get('family')!r}); {hint}")
  return meta


def load_parts(directory: str, meta: dict[str, Any]) -> dict[str, Any]:
  """The text conditioner, codec and meta of a folder, as `Parts` keyword arguments."""
  from soundgen_jax.convert import encodec  # pylint: disable=g-import-not-at-top
  return dict(conditioner=text_conditioner(meta.get("text"), directory), meta=meta,
              codec=encodec.load(os.path.join(directory, meta.get("codec", CODEC_DIR))))


def load(directory: str) -> Pretrained:
  """Reads a model folder; a folder that is not one is a one-line error."""
  directory = os.path.abspath(directory)
  meta = read_config(directory, ARCHITECTURE, "an audio LM",
                     "pass a folder written by launch/convert.py musicgen|audiocraft or an LM "
                     "training WORKDIR/export")
  lm, _ = checkpoints.load_model(directory, build)
  cfg = lm.cfg
  return Pretrained(lm=lm, config=cfg, pattern=make_pattern(meta["pattern"], cfg.num_codebooks),
                    **load_parts(directory, meta))
