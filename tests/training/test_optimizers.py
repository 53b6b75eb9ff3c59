import ml_collections
import numpy as np
import pytest

from soundgen_jax.training import optimizers


def _cfg(**kw):
  base = dict(learning_rate=1e-3, b1=0.9, b2=0.99, eps=1e-8, weight_decay=0.0,
              grad_clip_norm=0.0, warmup_steps=0, schedule="constant")
  return ml_collections.ConfigDict({**base, **kw})


def test_cosine_without_warmup_starts_at_the_peak():
  # The first update must not be skipped (optax's warmup-cosine with 1 warmup step starts at 0).
  lr = optimizers.learning_rate_schedule(_cfg(schedule="cosine"), total_steps=100)
  assert float(lr(0)) == pytest.approx(1e-3)
  assert float(lr(50)) == pytest.approx(5e-4, rel=1e-3)
  assert float(lr(100)) == pytest.approx(0.0, abs=1e-9)


def test_warmup_then_cosine_and_constant():
  lr = optimizers.learning_rate_schedule(_cfg(schedule="cosine", warmup_steps=10), 110)
  np.testing.assert_allclose([float(lr(s)) for s in (0, 5, 10, 110)], [0, 5e-4, 1e-3, 0],
                             atol=1e-9)
  const = optimizers.learning_rate_schedule(_cfg(warmup_steps=4), 100)
  np.testing.assert_allclose([float(const(s)) for s in (0, 2, 4, 99)], [0, 5e-4, 1e-3, 1e-3])


def test_unknown_schedule_is_an_error():
  with pytest.raises(ValueError, match="schedule"):
    optimizers.learning_rate_schedule(_cfg(schedule="linear"), 10)
