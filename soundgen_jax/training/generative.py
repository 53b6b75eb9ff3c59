"""What the generative trainers (audio LM, SoundStorm) share: the frozen codec that turns audio
into codes on the host, the frozen text encoder, and condition dropout.

A subclass sets `num_codebooks`, `codebook_size` and `text_dim` (from its model config) before
the first batch; `prepare_batch` then gives {"codes" [B, K, T], "codes_mask" [B, T], "text",
"text_mask", "valid"} whether the data holds audio (encoded here) or cached codes.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax import assets
from soundgen_jax.lm import pretrained
from soundgen_jax.training import trainer as trainer_lib

ConfigError = trainer_lib.ConfigError


def codec_dir(config: Any) -> str:
  return config.codec.checkpoint or assets.path(assets.CODEC_TINY)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _encode(graphdef, state, audio, n_q):
  return nnx.merge(graphdef, state).encode_frame(audio, n_q)[0]


def drop_condition(text, text_mask, key, rate: float):
  """Per example, with probability `rate`, the null condition: zero states, an empty mask."""
  if text is None or key is None or rate <= 0:
    return text, text_mask
  keep = ~jax.random.bernoulli(key, rate, (text.shape[0],))
  return text * keep[:, None, None], text_mask & keep[:, None]


class CodecTextTrainer(trainer_lib.Trainer):
  num_codebooks: int
  codebook_size: int
  text_dim: int

  def __init__(self, config: Any):
    super().__init__(config)
    if not 0.0 <= config.condition_dropout <= 1.0:
      raise ConfigError(f"config.condition_dropout must be in [0, 1], got "
                        f"{config.condition_dropout}")
    self._codec = self._conditioner = None

  @property
  def codec(self):
    if self._codec is None:
      from soundgen_jax.convert import encodec  # pylint: disable=g-import-not-at-top
      codec = encodec.load(codec_dir(self.config))
      c = codec.config
      if c.codebook_size != self.codebook_size or c.num_quantizers < self.num_codebooks:
        raise ConfigError(f"the codec at {codec_dir(self.config)} has {c.num_quantizers} "
                          f"codebooks of {c.codebook_size}; config.model wants "
                          f"{self.num_codebooks} of {self.codebook_size}: set "
                          "--config.codec.checkpoint to a matching codec (launch/convert.py "
                          "encodec, or a codec training WORKDIR/export)")
      self._codec = codec
      self._codec_split = nnx.split(codec)
    return self._codec

  @property
  def conditioner(self):
    if self._conditioner is None and self.text_dim:
      cond = pretrained.text_conditioner(self.config.text.to_dict())
      if cond.encoder_dim != self.text_dim:
        raise ConfigError(f"config.model.text_dim={self.text_dim} but the {cond.config.encoder}"
                          f" text encoder gives {cond.encoder_dim}-wide states")
      self._conditioner = cond
    return self._conditioner

  def encode_audio(self, audio: np.ndarray) -> np.ndarray:
    """audio [B, C, S] -> codes [B, num_codebooks, T] by the frozen codec (cut to whole hops)."""
    hop = self.codec.config.hop_length
    audio = np.asarray(audio, np.float32)[..., :audio.shape[-1] // hop * hop]
    return np.asarray(_encode(*self._codec_split, jnp.asarray(audio), self.num_codebooks))

  def prepare_batch(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "audio" in batch:
      codes = self.encode_audio(batch["audio"])
      codes_mask = np.ones((codes.shape[0], codes.shape[-1]), bool)
    else:
      codes, codes_mask = batch["codes"], batch["codes_mask"]
      if codes.shape[1] < self.num_codebooks:
        raise ConfigError(f"cached codes have {codes.shape[1]} codebooks, config.model wants "
                          f"{self.num_codebooks}")
      codes = codes[:, :self.num_codebooks]
    out = {"codes": np.asarray(codes, np.int32), "codes_mask": np.asarray(codes_mask, bool)}
    if self.text_dim:
      captions = [str(c.decode() if isinstance(c, bytes) else c) for c in batch["caption"]]
      text, text_mask = self.conditioner.encode(captions)
      out.update(text=np.asarray(text), text_mask=np.asarray(text_mask))
    if "valid" in batch:
      out["valid"] = np.asarray(batch["valid"], bool)
    return out
