"""SoundStorm's training mask over 4000 examples drawn in one jitted call, and the masked loss."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soundgen_jax.soundstorm import masking

B, Q, T = 4000, 4, 32
LENGTHS = (1, 5, 32, 20)  # example b has LENGTHS[b % 4] real frames
FIRST = 1


@functools.lru_cache(maxsize=None)
def _draw_fn():
  return jax.jit(lambda k, fm, first: masking.draw(k, fm, Q, first_level=first))


@functools.lru_cache(maxsize=None)
def _draws(first=FIRST):
  lengths = np.array(LENGTHS)[np.arange(B) % len(LENGTHS)]
  frame_mask = np.arange(T)[None] < lengths[:, None]
  m = _draw_fn()(jax.random.key(first), jnp.asarray(frame_mask), first)
  return lengths, frame_mask, jax.tree.map(np.asarray, m)


@functools.lru_cache(maxsize=None)
def _cross_entropy():
  return jax.jit(masking.masked_cross_entropy)


def _chi2(counts):
  expected = counts.sum() / len(counts)
  return float(((counts - expected) ** 2 / expected).sum())


def test_boundary_uniform_over_each_examples_real_frames():
  lengths, _, m = _draws()
  t = m.prompt_end
  assert t.dtype == np.int32 and t.shape == (B,)
  assert (t >= 0).all() and (t < lengths).all()
  assert (t[lengths == 1] == 0).all()
  # Chi-square against uniform: 4 dof -> 18.5 and 31 dof -> 61 are p = 1e-3.
  assert _chi2(np.bincount(t[lengths == 5], minlength=5)) < 18.5
  counts = np.bincount(t[lengths == 32], minlength=32)
  assert _chi2(counts) < 61
  # Drawn per example: the boundaries of one batch are not all alike.
  assert counts.min() > 0


def test_level_uniform_over_allowed_levels():
  _, _, m = _draws()
  assert m.level.dtype == np.int32
  assert (m.level >= FIRST).all() and (m.level < Q).all()
  assert _chi2(np.bincount(m.level, minlength=Q)[FIRST:]) < 13.8  # 2 dof, p = 1e-3


def test_structure_of_every_mask():
  lengths, frame_mask, m = _draws()
  time = np.arange(T)[None]
  after = (time >= m.prompt_end[:, None]) & frame_mask                   # [B, T]
  levels = np.arange(Q)[None, :, None]
  q = m.level[:, None, None]
  masked = m.inputs_masked
  assert masked.dtype == bool and masked.shape == (B, Q, T)
  # Finer levels: exactly the frames from t to the end of the real frames.
  np.testing.assert_array_equal(np.where(levels > q, masked, False),
                                (levels > q) & after[:, None])
  # Coarser levels (so also the conditioning levels below FIRST): never.
  assert not np.where(levels < q, masked, False).any()
  assert not masked[:, :FIRST].any()
  # Prompt and padding: never, at any level.
  assert not (masked & ~after[:, None]).any()
  assert not (masked & ~frame_mask[:, None]).any()
  # The loss is exactly level q's masked tokens.
  np.testing.assert_array_equal(m.loss_mask, masked & (levels == q))
  # At least one loss token per example, and exactly one when there is a single real frame.
  per_example = m.loss_mask.sum(axis=(1, 2))
  assert (per_example >= 1).all()
  assert (per_example[lengths == 1] == 1).all()


def test_masked_fraction_follows_cos_u():
  lengths, _, m = _draws()
  span = (lengths - m.prompt_end).astype(float)
  k = m.inputs_masked[np.arange(B), m.level].sum(-1).astype(float)  # level q's masked count
  # k ~ Binomial(span, p), p = cos(u), u ~ U[0, pi/2]. Factorial moments estimate p's moments
  # without the binomial noise: E[k(k-1) / (n(n-1))] = E[p^2] = 1/2, and E[p^3] = 4 / (3 pi).
  # A fixed rate of 2/pi would give 0.41 and 0.26, a uniform p 1/3 and 1/4.
  # (The forced single token when the draw is empty adds nothing to either.)
  n = span[span >= 3]
  kk = k[span >= 3]
  assert len(n) > 2000
  p2 = np.mean(kk * (kk - 1) / (n * (n - 1)))
  p3 = np.mean(kk * (kk - 1) * (kk - 2) / (n * (n - 1) * (n - 2)))
  assert abs(p2 - 0.5) < 0.04
  assert abs(p3 - 4 / (3 * math.pi)) < 0.04
  # The mean rate is 2/pi; only long spans, where a forced token barely moves it.
  f = (k / span)[span >= 8]
  assert len(f) > 1000
  assert abs(f.mean() - 2 / math.pi) < 0.04
  # cos(u) spreads the rate: P(p < 0.3) = 0.19, P(p > 0.95) = 0.20.
  assert np.mean(f < 0.3) > 0.1 and np.mean(f > 0.95) > 0.1


def test_first_level_zero_and_validation():
  _, _, m = _draws(0)  # the same executable: first_level may be traced
  assert m.level.min() == 0
  assert _chi2(np.bincount(m.level, minlength=Q)) < 16.3  # 3 dof, p = 1e-3
  assert m.inputs_masked[:, 0].any()
  with pytest.raises(ValueError):
    masking.draw(jax.random.key(1), jnp.ones((2, 3), bool), 2, first_level=2)


def test_apply_sets_each_levels_mask_token():
  _, _, m = _draws()
  sub = masking.Masking(*(jnp.asarray(x[:6]) for x in m))
  codes = jnp.asarray(np.random.default_rng(0).integers(0, 10, (6, Q, T)), jnp.int32)
  tokens = jnp.array([10, 11, 12, 13])
  out = np.asarray(masking.apply(codes, sub, tokens))
  want = np.where(m.inputs_masked[:6], np.array([10, 11, 12, 13])[None, :, None], codes)
  np.testing.assert_array_equal(out, want)
  out = np.asarray(masking.apply(codes, sub, 10))
  np.testing.assert_array_equal(out, np.where(m.inputs_masked[:6], 10, codes))
  assert out.dtype == np.int32


def test_masked_cross_entropy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
  targets = rng.integers(0, 5, (2, 3, 4))
  mask = rng.random((2, 3, 4)) < 0.5
  loss, acc, count = _cross_entropy()(jnp.asarray(logits), jnp.asarray(targets),
                                      jnp.asarray(mask))
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
  assert int(count) == mask.sum()
  assert float(loss) == pytest.approx(nll[mask].mean(), rel=1e-5)
  assert float(acc) == pytest.approx((logits.argmax(-1) == targets)[mask].mean())
  # Nothing masked: finite zeros, even with inf / nan logits where the loss is not taken.
  logits[0, 0, 0] = np.nan
  logits[1, 2, 3, 1] = np.inf
  loss, acc, count = _cross_entropy()(jnp.asarray(logits), jnp.asarray(targets),
                                      jnp.zeros(mask.shape, bool))
  assert int(count) == 0 and float(loss) == 0.0 and float(acc) == 0.0
  mask[0, 0, 0] = mask[1, 2, 3] = False
  loss, _, _ = _cross_entropy()(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask))
  assert np.isfinite(float(loss))
