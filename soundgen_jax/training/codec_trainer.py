"""GAN training of the codec (EnCodec / SoundStream) on the shared loop.

One step, as in EnCodec / audiocraft:
1. Generator forward with quantizer dropout (EnCodec: a bandwidth per example; SoundStream:
   U{1..Q} levels), under `jax.vjp` so the gradient can be put together at the decoder output.
2. Every `discriminator.update_every` steps, one discriminator update on the hinge loss of
   real vs (stopped) reconstructed audio.
3. Generator losses on the reconstruction with the (updated) discriminator: time L1 (l_t),
   optionally negative SI-SNR (l_sisnr, audiocraft's `sisnr`), multi-scale mel (l_f), hinge
   adversarial (l_g), feature matching (l_feat). The balancer turns them into one gradient
   w.r.t. the decoder output (each loss's gradient normalised and weighted;
   `balancer.enabled=False`: the plain weighted sum), and the generator's vjp carries it,
   together with the weighted commitment loss, to the parameters.
4. Separate optax optimizers (clipped Adam), optional EMA of the generator weights.
The quantizer's EMA codebooks (k-means init, dead-code restarts) change in the forward pass and
come back as the generator's new `variables`.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from soundgen_jax.codecs import discriminators, losses
from soundgen_jax.codecs.balancer import Balancer
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.eval import codec_metrics
from soundgen_jax.training import checkpoints, trainer as trainer_lib
from soundgen_jax.training.optimizers import learning_rate_schedule, make_optimizer
from soundgen_jax.training.train_state import TrainState, tree_norm

ConfigError = trainer_lib.ConfigError
DROPOUT_MODES = ("bandwidths", "levels", "off")
DISCRIMINATORS = ("msstft", "soundstream")
# Generator losses that go through the balancer: config.loss field -> metric name.
RECONSTRUCTION = ("l_t", "l_sisnr", "l_f")  # those that need no discriminator
BALANCED = {"time": "l_t", "sisnr": "l_sisnr", "freq": "l_f", "adversarial": "l_g",
            "feature": "l_feat"}


def codec_config(config: Any) -> CodecConfig:
  try:
    return CodecConfig(**config.model.to_dict())
  except (TypeError, ValueError) as e:
    raise ConfigError(f"config.model: {e}") from None


class CodecTrainer(trainer_lib.Trainer):

  def __init__(self, config: Any):
    super().__init__(config)
    self.codec = codec_config(config)
    c, cfg = self.codec, config
    if cfg.quantizer_dropout not in DROPOUT_MODES:
      raise ConfigError(f"config.quantizer_dropout={cfg.quantizer_dropout!r}: choose one of "
                        f"{', '.join(DROPOUT_MODES)}")
    if cfg.discriminator.kind not in DISCRIMINATORS:
      raise ConfigError(f"config.discriminator.kind={cfg.discriminator.kind!r}: choose one of "
                        f"{', '.join(DISCRIMINATORS)}")
    if cfg.discriminator.update_every < 1:
      raise ConfigError("config.discriminator.update_every must be >= 1")
    if not 0.0 <= cfg.ema_decay < 1.0:
      raise ConfigError(f"config.ema_decay must be in [0, 1) (0: off), got {cfg.ema_decay}")
    self.weights = {name: float(cfg.loss[field]) for field, name in BALANCED.items()
                    if float(cfg.loss[field]) > 0}
    if not self.weights:
      raise ConfigError("config.loss: at least one of time, sisnr, freq, adversarial, feature "
                        "must be > 0")
    self.adversarial = "l_g" in self.weights or "l_feat" in self.weights
    self.balancer = self._balancer(self.weights)
    # Reconstruction-only warmup: its own balancer (and EMA state), so the GAN phase's gradient
    # norm averages start from its own first step.
    self.warmup_steps = int(cfg.loss.adversarial_start_step) if self.adversarial else 0
    if self.warmup_steps:
      recon = {k: w for k, w in self.weights.items() if k in RECONSTRUCTION}
      if not recon:
        raise ConfigError("config.loss.adversarial_start_step > 0 needs loss.time, loss.sisnr "
                          "or loss.freq")
      self.warmup_balancer = self._balancer(recon)
    self.levels = np.array([c.num_quantizers_for(b) for b in c.bandwidths], np.int32)
    bandwidths = tuple(cfg.eval.bandwidths) or c.bandwidths
    for b in bandwidths:
      if b not in c.bandwidths:
        raise ConfigError(f"config.eval.bandwidths: {b} kbps is not one of the codec's "
                          f"{list(c.bandwidths)}")
    self.eval_bandwidths = bandwidths
    self.mel_scales = tuple(int(i) for i in cfg.loss.mel_scales)
    try:
      self.txs = {"generator": make_optimizer(cfg.optimizer.generator, cfg.total_steps)}
      if self.adversarial:
        self.txs["discriminator"] = make_optimizer(cfg.optimizer.discriminator, cfg.total_steps)
    except ValueError as e:
      raise ConfigError(f"config.optimizer: {e}") from None

  def _balancer(self, weights: dict[str, float]) -> Balancer:
    b = self.config.balancer
    return Balancer(weights, balance_grads=bool(b.enabled), total_norm=b.total_norm,
                    ema_decay=b.ema_decay, per_batch_item=bool(b.per_batch_item))

  # --- models and optimizers --------------------------------------------------------------------

  def build_models(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    models = {"generator": Codec(self.codec, rngs=rngs)}
    if self.adversarial:
      models["discriminator"] = self._discriminator(rngs)
    return models

  def _discriminator(self, rngs: nnx.Rngs) -> nnx.Module:
    d, channels = self.config.discriminator, self.codec.channels
    if d.kind == "msstft":
      scales = tuple((int(n), int(n) // 4, int(n)) for n in d.n_ffts)
      return discriminators.MultiScaleSTFTDiscriminator(
          d.filters, in_channels=channels, scales=scales, rngs=rngs)
    return discriminators.SoundStreamDiscriminator(
        in_channels=channels, rngs=rngs,
        wave_kwargs=dict(filters=d.wave_filters, num_scales=d.wave_scales),
        stft_kwargs=dict(filters=d.filters))

  def optimizers(self) -> dict[str, optax.GradientTransformation]:
    return self.txs

  def learning_rates(self, step: int) -> dict[str, float]:
    out = {}
    for name in ("generator", "discriminator") if self.adversarial else ("generator",):
      schedule = learning_rate_schedule(self.config.optimizer[name], self.config.total_steps)
      out[f"learning_rate/{name}"] = float(schedule(step))
    return out

  def init_extra(self, params: dict[str, nnx.State]) -> dict[str, Any]:
    extra = {"balancer": self.balancer.init()}
    if self.warmup_steps:
      extra["balancer_warmup"] = self.warmup_balancer.init()
    if self.config.ema_decay:
      extra["ema"] = jax.tree.map(jnp.copy, params["generator"])
    return extra

  # --- training ---------------------------------------------------------------------------------

  def n_active(self, key: jax.Array, batch: int) -> jax.Array:
    """Quantizer dropout: the RVQ levels each example of the batch goes through."""
    q = self.codec.num_quantizers
    mode = self.config.quantizer_dropout
    if mode == "bandwidths":
      return jnp.asarray(self.levels)[jax.random.randint(key, (batch,), 0, len(self.levels))]
    if mode == "levels":
      return jax.random.randint(key, (batch,), 1, q + 1).astype(jnp.int32)
    return jnp.full((batch,), q, jnp.int32)

  def phase(self, step: int) -> str:
    """"warmup" (reconstruction losses only, discriminator idle) for the first
    `loss.adversarial_start_step` steps, then "gan"."""
    return "warmup" if step <= self.warmup_steps else "gan"

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], phase: str = "gan"
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    cfg = self.config
    x = self._audio(batch)
    n_active = self.n_active(state.step_key(), x.shape[0])
    gdef = state.graphdefs["generator"]

    def generate(params):
      model = nnx.merge(gdef, params, state.variables["generator"], copy=True)
      out = model(x, n_active, train=True)
      return (out.audio, out.quantized.commitment_loss), nnx.split(model, nnx.Param, ...)[2]

    (y_hat, commitment), gen_vjp, gen_vars = jax.vjp(generate, state.params["generator"],
                                                     has_aux=True)
    if y_hat.shape != x.shape:
      raise ValueError(f"codec output {y_hat.shape} != input {x.shape}")
    params, opt_state = dict(state.params), dict(state.opt_state)
    metrics = {"commitment": commitment,
               "n_active": jnp.mean(n_active.astype(jnp.float32))}

    loss_fns: Any = self._reconstruction_losses(x)
    balancer, balancer_key = self.balancer, "balancer"
    if phase == "warmup":
      balancer, balancer_key = self.warmup_balancer, "balancer_warmup"
    elif self.adversarial:
      d_params, d_opt, d_loss, d_norm = self._discriminator_update(state, x, y_hat)
      params["discriminator"], opt_state["discriminator"] = d_params, d_opt
      metrics.update(d_loss=d_loss, **{"grad_norm/discriminator": d_norm})
      loss_fns = self._generator_losses(state.model("discriminator", d_params), x, loss_fns)

    grad_y, balancer_state, balancer_metrics = balancer.backward(
        loss_fns, y_hat, state.extra[balancer_key])
    (grads,) = gen_vjp((grad_y, jnp.asarray(cfg.loss.commitment, commitment.dtype)))
    tx = self.txs["generator"]
    updates, opt_state["generator"] = tx.update(grads, state.opt_state["generator"],
                                                state.params["generator"])
    params["generator"] = optax.apply_updates(state.params["generator"], updates)
    extra = dict(state.extra, **{balancer_key: balancer_state})
    if cfg.ema_decay:
      extra["ema"] = jax.tree.map(lambda e, p: cfg.ema_decay * e + (1.0 - cfg.ema_decay) * p,
                                  state.extra["ema"], params["generator"])

    raw = {name: balancer_metrics[name] for name in balancer.weights}
    metrics.update(raw)
    metrics.update({k: v for k, v in balancer_metrics.items() if k.startswith("ratio/")})
    metrics["loss"] = sum(self.weights[k] * v for k, v in raw.items()) + \
        cfg.loss.commitment * commitment
    metrics["grad_norm/generator"] = tree_norm(grads)
    variables = dict(state.variables, generator=gen_vars)
    return state.replace(params=params, variables=variables, opt_state=opt_state,
                         extra=extra), metrics

  def _audio(self, batch: dict[str, jax.Array]) -> jax.Array:
    """batch["audio"] cut to a whole number of codec frames."""
    x = batch["audio"]
    if x.ndim != 3 or x.shape[1] != self.codec.channels:
      raise ValueError(f"batch['audio'] must be [batch, {self.codec.channels}, samples], got "
                       f"{x.shape}")
    hop = self.codec.hop_length
    if x.shape[-1] < hop:
      raise ValueError(f"clips of {x.shape[-1]} samples are shorter than one codec frame ({hop})")
    return x[..., :x.shape[-1] // hop * hop].astype(jnp.float32)

  def _reconstruction_losses(self, x):
    fns = {}
    if "l_t" in self.weights:
      fns["l_t"] = lambda y: losses.waveform_l1_loss(y, x)
    if "l_sisnr" in self.weights:
      fns["l_sisnr"] = lambda y: losses.si_snr_loss(y, x)
    if "l_f" in self.weights:
      fns["l_f"] = lambda y: losses.multiscale_mel_loss(
          y, x, self.codec.sample_rate, scales=self.mel_scales, n_mels=self.config.loss.mel_bins)
    return fns

  def _generator_losses(self, disc, x, reconstruction):
    """Adds l_g and l_feat (y -> loss each) to the reconstruction losses.

    Separate functions, so the balancer's per-loss backward passes do not run through the
    discriminator for l_t and l_f (one extra discriminator forward is cheaper than two
    backwards through it, which cost several forwards each).
    """
    _, fmaps_real = disc(x)
    fmaps_real = jax.lax.stop_gradient(fmaps_real)
    fns = dict(reconstruction)
    if "l_g" in self.weights:
      fns["l_g"] = lambda y: losses.hinge_generator_loss(disc(y)[0])
    if "l_feat" in self.weights:
      fns["l_feat"] = lambda y: losses.feature_matching_loss(fmaps_real, disc(y)[1])
    return fns

  def _discriminator_update(self, state: TrainState, x, y_hat):
    tx = self.txs["discriminator"]
    gdef, variables = state.graphdefs["discriminator"], state.variables["discriminator"]
    fake = jax.lax.stop_gradient(y_hat)

    def loss_fn(p):
      disc = nnx.merge(gdef, p, variables)
      return losses.hinge_discriminator_loss(disc(x)[0], disc(fake)[0])

    def update(operands):
      p, opt = operands
      loss, grads = jax.value_and_grad(loss_fn)(p)
      updates, opt = tx.update(grads, opt, p)
      return optax.apply_updates(p, updates), opt, loss, tree_norm(grads)

    def skip(operands):
      p, opt = operands
      return p, opt, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32)

    every = self.config.discriminator.update_every
    operands = (state.params["discriminator"], state.opt_state["discriminator"])
    if every == 1:
      return update(operands)
    return jax.lax.cond(state.step % every == 0, update, skip, operands)

  # --- evaluation and export --------------------------------------------------------------------

  def eval_params(self, state: TrainState) -> Any:
    return state.extra["ema"] if "ema" in state.extra else state.params["generator"]

  def eval_step(self, state: TrainState, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Per bandwidth: sums of SI-SNR (over non-silent references) and mel distance; code
    counts per level at the highest bandwidth."""
    x = self._audio(batch)
    model = state.model("generator", self.eval_params(state))
    b = x.shape[0]
    valid = batch["valid"] if "valid" in batch else jnp.ones((b,), bool)
    loud = valid & (jnp.sqrt(jnp.mean(jnp.square(x), axis=(1, 2))) > self.config.eval.silence_rms)
    out = {"count": jnp.sum(valid.astype(jnp.float32)),
           "loud_count": jnp.sum(loud.astype(jnp.float32))}
    codes = None
    for bw in self.eval_bandwidths:
      n_q = self.codec.num_quantizers_for(bw)
      res = model(x, jnp.full((b,), n_q, jnp.int32), train=False)
      snr = codec_metrics.si_snr(x, res.audio)
      out[f"{bw}kbps/si_snr"] = jnp.sum(jnp.where(loud, snr, 0.0))
      mel = codec_metrics.mel_distance(x, res.audio, self.codec.sample_rate,
                                       scales=self.mel_scales)
      out[f"{bw}kbps/mel_distance"] = jnp.sum(jnp.where(valid, mel, 0.0))
      if n_q == max(self.codec.num_quantizers_for(v) for v in self.eval_bandwidths):
        codes = res.quantized.codes[:, :n_q]
    # Padding rows get an out-of-range code, which code_counts does not count.
    codes = jnp.where(valid[:, None, None], codes, self.codec.codebook_size)
    out["code_counts"] = codec_metrics.code_counts(codes, self.codec.codebook_size)
    return out

  def eval_finalize(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
    count, loud = float(sums["count"]), max(float(sums["loud_count"]), 1.0)
    out = {}
    usage = jax.device_get(codec_metrics.codebook_usage(jnp.asarray(sums["code_counts"])))
    for bw in self.eval_bandwidths:
      n_q = self.codec.num_quantizers_for(bw)
      out[f"{bw}kbps/si_snr"] = float(sums[f"{bw}kbps/si_snr"]) / loud
      out[f"{bw}kbps/mel_distance"] = float(sums[f"{bw}kbps/mel_distance"]) / count
      out[f"{bw}kbps/perplexity"] = float(np.mean(usage["perplexity"][:n_q]))
      out[f"{bw}kbps/dead_codes"] = float(np.sum(usage["dead_codes"][:n_q]))
    for q, (ppl, dead) in enumerate(zip(usage["perplexity"], usage["dead_codes"])):
      out[f"codebook/perplexity_q{q}"] = float(ppl)
      out[f"codebook/dead_codes_q{q}"] = float(dead)
    return out

  def export(self, state: TrainState, directory: str) -> None:
    """The generator (EMA weights if enabled), loadable by `launch/codec.py --checkpoint`."""
    model = state.model("generator", self.eval_params(state))
    checkpoints.save_model(directory, model, {"family": "codec", "model": self.codec.to_dict()})
