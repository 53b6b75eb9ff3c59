"""Loss balancer: each loss gets its weight's share of the gradient whatever its scale."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import soundgen_jax  # noqa: F401
from soundgen_jax.codecs.balancer import Balancer

WEIGHTS = {"big": 2.0, "small": 1.0}


@pytest.fixture(scope="module")
def setup():
  rng = np.random.default_rng(0)
  y_hat = jnp.asarray(rng.normal(size=(3, 1, 64)).astype(np.float32))
  target = jnp.asarray(rng.normal(size=(3, 1, 64)).astype(np.float32))
  # Gradients about 1000x apart in norm.
  loss_fns = {"big": lambda y: 1000.0 * jnp.mean(jnp.square(y - target)),
              "small": lambda y: 0.5 * jnp.mean(jnp.square(y - 2 * target))}
  grads = {k: jax.grad(f)(y_hat) for k, f in loss_fns.items()}
  return y_hat, loss_fns, grads


def _norm(g, per_batch_item):
  g = np.asarray(g, np.float64)
  if per_batch_item:
    return np.mean(np.linalg.norm(g.reshape(g.shape[0], -1), axis=1))
  return np.linalg.norm(g)


@pytest.mark.parametrize("per_batch_item", [True, False])
def test_contributions_follow_weights(setup, per_batch_item):
  y_hat, loss_fns, grads = setup
  norms = {k: _norm(g, per_batch_item) for k, g in grads.items()}
  assert norms["big"] / norms["small"] > 300
  balancer = Balancer(WEIGHTS, total_norm=1.0, per_batch_item=per_batch_item)
  out, state, metrics = jax.jit(lambda y, s: balancer.backward(loss_fns, y, s))(
      y_hat, balancer.init())
  contributions = {k: float(metrics[f"scale/{k}"]) * np.asarray(g) for k, g in grads.items()}
  np.testing.assert_allclose(out, sum(contributions.values()), rtol=1e-5, atol=1e-8)
  # First step: the bias-corrected EMA is this step's norm, so the shares are exact.
  c_norms = {k: _norm(c, per_batch_item) for k, c in contributions.items()}
  np.testing.assert_allclose(c_norms["big"] / c_norms["small"], 2.0, rtol=1e-5)
  np.testing.assert_allclose(c_norms["big"] + c_norms["small"], 1.0, rtol=1e-5)
  np.testing.assert_allclose(metrics["grad_norm/big"], norms["big"], rtol=1e-5)
  np.testing.assert_allclose(metrics["ratio/big"], norms["big"] / sum(norms.values()), rtol=1e-5)
  np.testing.assert_allclose(state["weight_sum"], 1.0)


def test_switched_off_is_plain_weighted_sum(setup):
  y_hat, loss_fns, grads = setup
  balancer = Balancer(WEIGHTS, balance_grads=False)
  out, _, metrics = balancer.backward(loss_fns, y_hat, balancer.init())
  np.testing.assert_allclose(out, 2.0 * grads["big"] + grads["small"], rtol=1e-6, atol=1e-7)
  expected_loss = sum(WEIGHTS[k] * float(f(y_hat)) for k, f in loss_fns.items())
  np.testing.assert_allclose(metrics["effective_loss"], expected_loss, rtol=1e-6)


def test_ema_over_steps_and_single_function_form(setup):
  y_hat, loss_fns, grads = setup
  balancer = Balancer(WEIGHTS, ema_decay=0.9, per_batch_item=False)
  step = jax.jit(lambda y, s: balancer.backward(loss_fns, y, s))
  _, state, _ = step(y_hat, balancer.init())
  out, state, metrics = step(3.0 * y_hat, state)
  # One function returning all losses (one shared forward) gives the same result.
  joint = lambda y: {k: f(y) for k, f in loss_fns.items()}  # noqa: E731
  _, state1, _ = balancer.backward(joint, y_hat, balancer.init())
  out_joint, _, _ = balancer.backward(joint, 3.0 * y_hat, state1)
  np.testing.assert_allclose(out_joint, out, rtol=1e-6, atol=1e-9)
  n1 = _norm(grads["small"], False)
  n2 = _norm(jax.grad(loss_fns["small"])(3.0 * y_hat), False)
  ema = (0.9 * n1 + n2) / (0.9 + 1.0)
  np.testing.assert_allclose(metrics["ema_grad_norm/small"], ema, rtol=1e-5)
  np.testing.assert_allclose(metrics["scale/small"], (1 / 3) / ema, rtol=1e-5)
  assert set(state) == {"norm_sum", "weight_sum"} and set(state["norm_sum"]) == set(WEIGHTS)


def test_unknown_loss_is_an_error(setup):
  y_hat, loss_fns, _ = setup
  balancer = Balancer({"big": 1.0})
  with pytest.raises(ValueError, match="small"):
    balancer.backward(loss_fns, y_hat, balancer.init())
