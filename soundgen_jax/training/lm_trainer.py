"""Audio LM training (AudioGen / MusicGen) on the shared loop: a model, a step and a config.

Host side (`prepare_batch`): audio is encoded by the frozen codec (or cached codes are read),
captions go through the frozen text encoder. Step: condition dropout (per example, the null
condition: zero states and an empty mask), the pattern sequence, teacher-forced logits,
cross-entropy per codebook on the pattern-aligned logits with invalid and padded positions
masked, averaged over codebooks (audiocraft's loss).
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from soundgen_jax import assets
from soundgen_jax.lm import patterns as patterns_lib
from soundgen_jax.lm import pretrained
from soundgen_jax.lm.model import AudioLM, LMConfig
from soundgen_jax.training import trainer as trainer_lib
from soundgen_jax.training.optimizers import make_optimizer
from soundgen_jax.training.train_state import TrainState, tree_norm

ConfigError = trainer_lib.ConfigError


def codec_dir(config: Any) -> str:
  return config.codec.checkpoint or assets.path(assets.CODEC_TINY)


def pattern_options(config: Any) -> dict[str, Any]:
  p = config.pattern.to_dict()
  return {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}


@functools.partial(jax.jit, static_argnums=(0, 3))
def _encode(graphdef, state, audio, n_q):
  return nnx.merge(graphdef, state).encode_frame(audio, n_q)[0]


class LMTrainer(trainer_lib.Trainer):

  def __init__(self, config: Any):
    super().__init__(config)
    try:
      self.lm = LMConfig.from_dict(config.model.to_dict())
      self.pattern = pretrained.make_pattern(pattern_options(config), self.lm.num_codebooks)
    except (TypeError, ValueError) as e:
      raise ConfigError(f"config.model / config.pattern: {e}") from None
    if not 0.0 <= config.condition_dropout <= 1.0:
      raise ConfigError(f"config.condition_dropout must be in [0, 1], got "
                        f"{config.condition_dropout}")
    try:
      self.tx = make_optimizer(config.optimizer, config.total_steps)
    except ValueError as e:
      raise ConfigError(f"config.optimizer: {e}") from None
    self._codec = self._conditioner = None

  # --- frozen parts, built on first use ----------------------------------------------------

  @property
  def codec(self):
    if self._codec is None:
      from soundgen_jax.convert import encodec  # pylint: disable=g-import-not-at-top
      codec = encodec.load(codec_dir(self.config))
      c = codec.config
      if c.codebook_size != self.lm.codebook_size or c.num_quantizers < self.lm.num_codebooks:
        raise ConfigError(f"the codec at {codec_dir(self.config)} has {c.num_quantizers} "
                          f"codebooks of {c.codebook_size}; config.model wants "
                          f"{self.lm.num_codebooks} of {self.lm.codebook_size}: set "
                          "--config.codec.checkpoint to a matching codec (launch/convert.py "
                          "encodec, or a codec training WORKDIR/export)")
      self._codec = codec
      self._codec_split = nnx.split(codec)
    return self._codec

  @property
  def conditioner(self):
    if self._conditioner is None and self.lm.text_dim:
      cond = pretrained.text_conditioner(self.config.text.to_dict())
      if cond.encoder_dim != self.lm.text_dim:
        raise ConfigError(f"config.model.text_dim={self.lm.text_dim} but the {cond.config.encoder}"
                          f" text encoder gives {cond.encoder_dim}-wide states")
      self._conditioner = cond
    return self._conditioner

  # --- the trainer interface ---------------------------------------------------------------

  def build_models(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    return {"lm": AudioLM(self.lm, rngs=rngs)}

  def prepare_batch(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "audio" in batch:
      codec = self.codec
      audio = np.asarray(batch["audio"], np.float32)
      hop = codec.config.hop_length
      audio = audio[..., :audio.shape[-1] // hop * hop]
      codes = np.asarray(_encode(*self._codec_split, jnp.asarray(audio),
                                 self.lm.num_codebooks))
      codes_mask = np.ones((codes.shape[0], codes.shape[-1]), bool)
    else:
      codes, codes_mask = batch["codes"], batch["codes_mask"]
      if codes.shape[1] < self.lm.num_codebooks:
        raise ConfigError(f"cached codes have {codes.shape[1]} codebooks, config.model wants "
                          f"{self.lm.num_codebooks}")
      codes = codes[:, :self.lm.num_codebooks]
    out = {"codes": np.asarray(codes, np.int32), "codes_mask": np.asarray(codes_mask, bool)}
    if self.lm.text_dim:
      captions = [str(c.decode() if isinstance(c, bytes) else c) for c in batch["caption"]]
      text, text_mask = self.conditioner.encode(captions)
      out.update(text=np.asarray(text), text_mask=np.asarray(text_mask))
    if "valid" in batch:
      out["valid"] = np.asarray(batch["valid"], bool)
    return out

  def _losses(self, lm: AudioLM, batch, dropout_key=None, condition_key=None):
    """Per-codebook (ce sum, correct sum, count) on the pattern-aligned logits."""
    codes = batch["codes"]
    b, k, t = codes.shape
    text, text_mask = batch.get("text"), batch.get("text_mask")
    if text is not None and condition_key is not None and self.config.condition_dropout > 0:
      keep = ~jax.random.bernoulli(condition_key, self.config.condition_dropout, (b,))
      text = text * keep[:, None, None]
      text_mask = text_mask & keep[:, None]
    seq, _ = patterns_lib.build(self.pattern, codes, self.lm.special_token)
    logits = lm(seq[:, :, :-1], text, text_mask, dropout_key=dropout_key)
    logits, aligned = patterns_lib.revert_logits(self.pattern, logits, t)
    mask = jnp.asarray(aligned)[None] & batch["codes_mask"][:, None, :]
    if "valid" in batch:
      mask = mask & batch["valid"][:, None, None]
    logp = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.take_along_axis(logp, codes[..., None], axis=-1)[..., 0]
    correct = jnp.argmax(logits, axis=-1) == codes
    m = mask.astype(jnp.float32)
    return (jnp.sum(ce * m, axis=(0, 2)), jnp.sum(correct * m, axis=(0, 2)),
            jnp.sum(m, axis=(0, 2)))

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], phase: str = "train"
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    dropout_key, condition_key = state.step_key("dropout", "condition")

    def loss_fn(params):
      lm = state.model("lm", params)
      ce, correct, count = self._losses(lm, batch, dropout_key if self.lm.dropout else None,
                                        condition_key)
      per_codebook = ce / jnp.maximum(count, 1.0)
      return jnp.mean(per_codebook), (per_codebook, correct / jnp.maximum(count, 1.0))

    (loss, (ce, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params["lm"])
    updates, opt = self.tx.update(grads, state.opt_state["lm"], state.params["lm"])
    params = optax.apply_updates(state.params["lm"], updates)
    metrics = {"loss": loss, "grad_norm": tree_norm(grads)}
    for q in range(self.lm.num_codebooks):
      metrics[f"ce/q{q}"] = ce[q]
      metrics[f"accuracy/q{q}"] = acc[q]
      metrics[f"perplexity/q{q}"] = jnp.exp(ce[q])
    return state.replace(params=dict(state.params, lm=params),
                         opt_state=dict(state.opt_state, lm=opt)), metrics

  def optimizers(self) -> dict[str, optax.GradientTransformation]:
    return {"lm": self.tx}

  def eval_step(self, state: TrainState, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    ce, correct, count = self._losses(state.model("lm"), batch)
    return {"ce": ce, "correct": correct, "count": count}

  def eval_finalize(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
    count = np.maximum(np.asarray(sums["count"]), 1.0)
    ce, acc = np.asarray(sums["ce"]) / count, np.asarray(sums["correct"]) / count
    out = {"loss": float(np.mean(ce)), "perplexity": float(np.exp(np.mean(ce)))}
    for q in range(len(ce)):
      out[f"ce/q{q}"] = float(ce[q])
      out[f"accuracy/q{q}"] = float(acc[q])
      out[f"perplexity/q{q}"] = float(np.exp(ce[q]))
    return out

  def export(self, state: TrainState, directory: str) -> None:
    """A model folder for launch/generate.py --model and soundgen_jax.api."""
    text = self.config.text.to_dict() if self.lm.text_dim else None
    g = self.config.generation
    pretrained.save(directory, state.model("lm"), pattern=pattern_options(self.config),
                    text=text, codec_dir=codec_dir(self.config),
                    max_duration=float(g.max_duration), extend_stride=float(g.extend_stride),
                    source="training", variant=self.config.get("variant", ""))
