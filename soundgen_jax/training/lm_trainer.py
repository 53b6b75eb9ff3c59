"""Audio LM training (AudioGen / MusicGen) on the shared loop: a model, a step and a config.

Host side (`prepare_batch`): audio is encoded by the frozen codec (or cached codes are read),
captions go through the frozen text encoder. Step: condition dropout (per example, the null
condition: zero states and an empty mask), the pattern sequence, teacher-forced logits,
cross-entropy per codebook on the pattern-aligned logits with invalid and padded positions
masked, averaged over codebooks (audiocraft's loss).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from soundgen_jax.lm import patterns as patterns_lib
from soundgen_jax.lm import pretrained
from soundgen_jax.lm.model import AudioLM, LMConfig
from soundgen_jax.training import generative
from soundgen_jax.training.generative import ConfigError, codec_dir
from soundgen_jax.training.optimizers import make_optimizer
from soundgen_jax.training.train_state import TrainState, tree_norm


def pattern_options(config: Any) -> dict[str, Any]:
  p = config.pattern.to_dict()
  return {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}


class LMTrainer(generative.CodecTextTrainer):

  def __init__(self, config: Any):
    super().__init__(config)
    try:
      self.lm = LMConfig.from_dict(config.model.to_dict())
      self.pattern = pretrained.make_pattern(pattern_options(config), self.lm.num_codebooks)
    except (TypeError, ValueError) as e:
      raise ConfigError(f"config.model / config.pattern: {e}") from None
    self.num_codebooks, self.codebook_size = self.lm.num_codebooks, self.lm.codebook_size
    self.text_dim = self.lm.text_dim
    try:
      self.tx = make_optimizer(config.optimizer, config.total_steps)
    except ValueError as e:
      raise ConfigError(f"config.optimizer: {e}") from None

  # --- the trainer interface ---------------------------------------------------------------

  def build_models(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    return {"lm": AudioLM(self.lm, rngs=rngs)}

  def _losses(self, lm: AudioLM, batch, dropout_key=None, condition_key=None):
    """Per-codebook (ce sum, correct sum, count) on the pattern-aligned logits."""
    codes = batch["codes"]
    t = codes.shape[-1]
    text, text_mask = batch.get("text"), batch.get("text_mask")
    text, text_mask = generative.drop_condition(text, text_mask, condition_key,
                                                self.config.condition_dropout)
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
