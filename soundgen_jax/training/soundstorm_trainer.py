"""SoundStorm training on the shared loop: a model, a step and a config.

Host side: as the audio LM (generative.py): codes from the frozen codec or cached, captions
through the frozen text encoder. Step: condition dropout (per example, the null text), the
paper's mask drawn per example (masking.draw), the masked codes through the Conformer, and the
cross-entropy on the masked tokens of the drawn level only.

Levels below `config.first_level` are the conditioning's and never masked. With 0 (default)
one model serves both uses: text alone (every level decoded) and behind the LM (level 0 given),
since the masking keeps the levels coarser than the drawn one at every frame.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from soundgen_jax.soundstorm import masking
from soundgen_jax.soundstorm import pretrained
from soundgen_jax.soundstorm.model import SoundStorm, SoundStormConfig
from soundgen_jax.training import generative
from soundgen_jax.training.generative import ConfigError, codec_dir
from soundgen_jax.training.optimizers import make_optimizer
from soundgen_jax.training.train_state import TrainState, tree_norm

EVAL_MASK_SEED = 1234  # every eval draws the same masks on the same clips


class SoundStormTrainer(generative.CodecTextTrainer):

  def __init__(self, config: Any):
    super().__init__(config)
    try:
      self.cfg = SoundStormConfig.from_dict(config.model.to_dict())
    except (TypeError, ValueError) as e:
      raise ConfigError(f"config.model: {e}") from None
    if self.cfg.cond_vocab:
      raise ConfigError("config.model.cond_vocab: conditioning tokens (semantic) need a data "
                        "source of them, which the built-in tasks do not have; set it to 0")
    if not 0 <= config.first_level < self.cfg.num_levels:
      raise ConfigError(f"config.first_level must be in [0, {self.cfg.num_levels}), got "
                        f"{config.first_level}")
    self.num_codebooks, self.codebook_size = self.cfg.num_levels, self.cfg.codebook_size
    self.text_dim = self.cfg.text_dim
    try:
      self.tx = make_optimizer(config.optimizer, config.total_steps)
    except ValueError as e:
      raise ConfigError(f"config.optimizer: {e}") from None

  def build_models(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    return {"soundstorm": SoundStorm(self.cfg, rngs=rngs)}

  def optimizers(self) -> dict[str, optax.GradientTransformation]:
    return {"soundstorm": self.tx}

  def _masked_logits(self, model: SoundStorm, batch, mask_key, dropout_key=None,
                     condition_key=None):
    """(logits [B, Q, T, V], the masking drawn) for a batch."""
    frames = batch["codes_mask"]
    if "valid" in batch:  # padding rows of an eval batch: no real frames, nothing masked
      frames = frames & batch["valid"][:, None]
    m = masking.draw(mask_key, frames, self.cfg.num_levels, self.config.first_level)
    inputs = masking.apply(batch["codes"], m, self.cfg.mask_token)
    text, text_mask = generative.drop_condition(batch.get("text"), batch.get("text_mask"),
                                                condition_key, self.config.condition_dropout)
    logits = model(inputs, frames, None, text, text_mask, dropout_key=dropout_key)
    return logits, m

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], phase: str = "train"
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    mask_key, dropout_key, condition_key = state.step_key("mask", "dropout", "condition")

    def loss_fn(params):
      model = state.model("soundstorm", params)
      logits, m = self._masked_logits(model, batch, mask_key,
                                      dropout_key if self.cfg.dropout else None, condition_key)
      loss, acc, count = masking.masked_cross_entropy(logits, batch["codes"], m.loss_mask)
      return loss, (acc, count, m)

    (loss, (acc, count, m)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params["soundstorm"])
    updates, opt = self.tx.update(grads, state.opt_state["soundstorm"],
                                  state.params["soundstorm"])
    params = optax.apply_updates(state.params["soundstorm"], updates)
    metrics = {"loss": loss, "accuracy": acc, "grad_norm": tree_norm(grads),
               "masked_tokens": count.astype(jnp.float32),
               "mean_level": jnp.mean(m.level.astype(jnp.float32))}
    return state.replace(params=dict(state.params, soundstorm=params),
                         opt_state=dict(state.opt_state, soundstorm=opt)), metrics

  def eval_step(self, state: TrainState, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Per level: masked cross-entropy and accuracy sums, and the count of masked tokens."""
    logits, m = self._masked_logits(state.model("soundstorm"), batch,
                                    jax.random.key(EVAL_MASK_SEED))
    logp = jax.nn.log_softmax(logits, axis=-1)
    codes = batch["codes"]
    nll = -jnp.take_along_axis(logp, codes[..., None], axis=-1)[..., 0]
    hit = jnp.argmax(logits, axis=-1) == codes
    w = m.loss_mask.astype(jnp.float32)
    return {"ce": jnp.sum(jnp.where(m.loss_mask, nll, 0.0), axis=(0, 2)),
            "correct": jnp.sum(hit * w, axis=(0, 2)), "count": jnp.sum(w, axis=(0, 2))}

  def eval_finalize(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
    ce, correct = np.asarray(sums["ce"]), np.asarray(sums["correct"])
    count = np.asarray(sums["count"])
    out = {"loss": float(ce.sum() / max(count.sum(), 1.0)),
           "accuracy": float(correct.sum() / max(count.sum(), 1.0))}
    for q in range(len(ce)):
      if count[q]:  # a level no eval example drew has no figure
        out[f"ce/q{q}"] = float(ce[q] / count[q])
        out[f"accuracy/q{q}"] = float(correct[q] / count[q])
    return out

  def export(self, state: TrainState, directory: str) -> None:
    """A SoundStorm folder for launch/generate.py --soundstorm and soundgen_jax.api."""
    text = self.config.text.to_dict() if self.cfg.text_dim else None
    d = self.config.decoding
    pretrained.save(directory, state.model("soundstorm"), text=text,
                    codec_dir=codec_dir(self.config), first_level=int(self.config.first_level),
                    max_duration=float(self.config.data.crop_seconds),
                    decoding={"steps": list(d.steps), "temperature": float(d.temperature),
                              "top_k": int(d.top_k),
                              "choice_temperature": float(d.choice_temperature),
                              "cfg_coef": float(d.cfg_coef)},
                    source="training", variant=self.config.get("variant", ""))
