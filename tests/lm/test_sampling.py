"""sample_tokens' truncation: top-k keeps exactly the k most likely tokens, whichever way the
k-th largest logit is selected (top k, or bottom V - k + 1 when that is shorter)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soundgen_jax.lm import sampling


@pytest.mark.parametrize("k", [1, 5, 128, 129, 250, 255])
def test_kth_largest(k):
  x = np.random.default_rng(k).normal(size=(3, 4, 256)).astype(np.float32)
  got = np.asarray(sampling._kth_largest(jnp.asarray(x), k))  # pylint: disable=protected-access
  np.testing.assert_array_equal(got[..., 0], np.sort(x, axis=-1)[..., -k])


@pytest.mark.parametrize("k", [3, 14])
def test_top_k_samples_only_the_k_most_likely(k):
  v = 16
  logits = jnp.tile(jnp.linspace(-1.0, 1.0, v), (512, 1))  # distinct, token v - 1 most likely
  tokens = np.asarray(sampling.sample_tokens(jax.random.key(0), logits,
                                             sampling.Sampling(top_k=k, cfg_coef=1.0)))
  assert set(tokens.tolist()) == set(range(v - k, v))
