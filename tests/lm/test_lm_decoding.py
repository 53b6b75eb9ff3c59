"""The LM's decoding path: a prefill and single steps through the KV cache give the logits of
one full forward, for every kind of positions (rotary ones are applied at each step's index)."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from soundgen_jax.lm.model import POSITIONS, AudioLM, LMConfig


@pytest.mark.parametrize("positions", POSITIONS)
def test_cached_steps_equal_the_full_forward(positions):
  cfg = LMConfig(num_codebooks=2, codebook_size=16, dim=32, num_heads=2, num_layers=2,
                 ffn_dim=64, text_dim=24, positions=positions)
  lm = AudioLM(cfg, rngs=nnx.Rngs(0))
  b, k, s, prefill = 2, cfg.num_codebooks, 9, 4
  rng = np.random.default_rng(0)
  seq = jnp.asarray(rng.integers(0, cfg.codebook_size + 1, (b, k, s)), jnp.int32)
  text = jnp.asarray(rng.normal(size=(b, 5, cfg.text_dim)), jnp.float32)
  text_mask = jnp.asarray([[True] * 5, [True] * 3 + [False] * 2])
  full = np.asarray(lm(seq, text, text_mask))

  kv = lm.context_kv(text, text_mask)
  cache = lm.init_cache(b, s)
  logits, cache = lm.step(seq[:, :, :prefill], kv, text_mask, cache, 0)
  steps = [logits]
  for i in range(prefill, s):
    logits, cache = lm.step(seq[:, :, i:i + 1], kv, text_mask, cache, i)
    steps.append(logits)
  np.testing.assert_allclose(np.concatenate(steps, axis=2), full, atol=2e-5, rtol=0)


def test_unknown_positions_is_an_error():
  with pytest.raises(ValueError, match="positions='alibi'"):
    LMConfig(positions="alibi")
