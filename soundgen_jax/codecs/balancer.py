"""EnCodec's loss balancer (paper section 3.4), functional and jit-friendly.

For losses l_i(y_hat) with weights w_i and g_i = dl_i / dy_hat, the balancer returns the gradient
w.r.t. the decoder output

    G = sum_i total_norm * w_i / sum_j w_j * g_i / (ema(||g_i||_2) + eps)

so each loss supplies a fixed fraction w_i / sum w of the gradient whatever its own scale; with
`balance_grads=False`, G = sum_i w_i g_i. The trainer then backpropagates G through the
generator with `jax.vjp`:

    y_hat, gen_vjp = jax.vjp(lambda p: decode(p, batch), params)
    grad_y, ema, metrics = balancer.backward(loss_fns, y_hat, ema)
    (param_grads,) = gen_vjp(grad_y)

Losses that do not go through y_hat (e.g. the commitment loss) are added to `param_grads`
outside the balancer. The EMA is an explicit pytree of plain arrays (`Balancer.init()`), so it
lives in and is checkpointed with the train state; like audiocraft's averager it is
bias-corrected (the first step's average is that step's norm). Inside jit the norms cover the
global batch, so no cross-device averaging is needed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

Array = jax.Array
# {"norm_sum": {loss name: f32[]}, "weight_sum": f32[]}: EMA numerator and denominator.
BalancerState = dict
LossFns = Callable[[Array], Mapping[str, Array]] | Mapping[str, Callable[[Array], Array]]


@dataclasses.dataclass(frozen=True)
class Balancer:
  """Static balancer settings; `backward` is a pure function of (y_hat, state).

  weights: loss name -> weight w_i (every loss passed to `backward` needs one).
  balance_grads: rescale each g_i by its EMA norm; False gives the plain weighted sum.
  total_norm: reference norm R of the balanced gradient.
  ema_decay: decay of the EMA of the gradient norms.
  per_batch_item: ||g_i|| per batch item (over all axes but the first), then the batch mean;
    else one norm over the whole gradient.
  epsilon: added to the EMA norm before dividing.
  """
  weights: Mapping[str, float]
  balance_grads: bool = True
  total_norm: float = 1.0
  ema_decay: float = 0.999
  per_batch_item: bool = True
  epsilon: float = 1e-12

  def init(self) -> BalancerState:
    return {"norm_sum": {k: jnp.zeros((), jnp.float32) for k in self.weights},
            "weight_sum": jnp.zeros((), jnp.float32)}

  def backward(self, loss_fns: LossFns, y_hat: Array,
               state: BalancerState) -> tuple[Array, BalancerState, dict[str, Array]]:
    """Returns (dL/dy_hat balanced, new EMA state, metrics).

    `loss_fns` is either one function y_hat -> {name: scalar loss} (its forward pass, e.g. one
    discriminator call for both the adversarial and feature losses, runs once) or a mapping
    name -> (y_hat -> scalar loss). Metrics: each loss, `grad_norm/<name>` (this step),
    `ema_grad_norm/<name>`, `ratio/<name>` (its share of the summed EMA norms), `scale/<name>`
    (the factor on g_i) and `effective_loss` (sum of scale_i * loss_i).
    """
    fn = loss_fns if callable(loss_fns) else (
        lambda y: {k: f(y) for k, f in loss_fns.items()})
    losses, vjp = jax.vjp(fn, y_hat)
    missing = set(losses) - set(self.weights)
    if missing:
      raise ValueError(f"no balancer weight for losses {sorted(missing)}; add them to weights")
    total_weight = sum(self.weights[k] for k in losses)
    if total_weight <= 0:
      raise ValueError(f"balancer weights must sum to > 0, got {dict(self.weights)}")

    grads, norms = {}, {}
    for name in losses:
      cotangent = {k: jnp.ones_like(v) if k == name else jnp.zeros_like(v)
                   for k, v in losses.items()}
      (grads[name],) = vjp(cotangent)
      norms[name] = self._norm(grads[name])

    decay = jnp.float32(self.ema_decay)
    weight_sum = state["weight_sum"] * decay + 1.0
    norm_sum = dict(state["norm_sum"])
    for name in losses:
      norm_sum[name] = norm_sum[name] * decay + norms[name]
    ema = {k: norm_sum[k] / weight_sum for k in losses}
    ema_total = sum(ema.values())

    out = jnp.zeros_like(y_hat)
    metrics = {}
    effective = jnp.zeros((), jnp.float32)
    for name, loss in losses.items():
      if self.balance_grads:
        scale = self.total_norm * self.weights[name] / total_weight / (ema[name] + self.epsilon)
      else:
        scale = jnp.float32(self.weights[name])
      out = out + (scale * grads[name]).astype(y_hat.dtype)
      effective = effective + scale * loss
      metrics.update({name: loss, f"grad_norm/{name}": norms[name],
                      f"ema_grad_norm/{name}": ema[name],
                      f"ratio/{name}": ema[name] / (ema_total + self.epsilon),
                      f"scale/{name}": scale})
    metrics["effective_loss"] = effective
    return out, {"norm_sum": norm_sum, "weight_sum": weight_sum}, metrics

  def _norm(self, g: Array) -> Array:
    g = g.astype(jnp.float32)
    if self.per_batch_item:
      return jnp.mean(jnp.sqrt(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=1)))
    return jnp.sqrt(jnp.sum(jnp.square(g)))
