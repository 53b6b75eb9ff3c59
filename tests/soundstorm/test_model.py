"""SoundStorm model: logits shape, padding frames, conditioning tokens and their upsampling, text
cross-attention and the null text, the paper config's parameter count."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from soundgen_jax.soundstorm.model import SoundStorm, SoundStormConfig
from model_helpers import random_weights

CFG = SoundStormConfig(num_levels=3, codebook_size=8, dim=16, num_heads=2, num_layers=1,
                       ffn_dim=32, cond_vocab=5, cond_upsample=2, text_dim=12)
B, T, L = 2, 8, 4
LENGTHS = np.array([T, 5])
FRAME_MASK = np.arange(T)[None] < LENGTHS[:, None]
TEXT_MASK = np.arange(L)[None] < np.array([[L], [2]])


@pytest.fixture(scope="module")
def model():
  return random_weights(lambda: SoundStorm(CFG, rngs=nnx.Rngs(0)))


@pytest.fixture(scope="module")
def forward():
  return nnx.jit(lambda m, codes, mask, cond, text, text_mask: m(codes, mask, cond, text,
                                                                  text_mask))


def _codes(seed=0):
  codes = np.random.default_rng(seed).integers(0, CFG.codebook_size, (B, CFG.num_levels, T))
  codes[:, 2, 3:] = CFG.mask_token  # some mask tokens, as in training
  return codes.astype(np.int32)


def _cond(seed=1, length=T // 2, vocab=CFG.cond_vocab):
  return np.random.default_rng(seed).integers(0, vocab, (B, length)).astype(np.int32)


def _text(seed=2):
  return np.random.default_rng(seed).normal(size=(B, L, CFG.text_dim)).astype(np.float32)


def _real(a):
  return [np.asarray(a)[i, :, :n] for i, n in enumerate(LENGTHS)]


@pytest.fixture(scope="module")
def reference(model, forward):
  return forward(model, _codes(), FRAME_MASK, _cond(), _text(), TEXT_MASK)


def test_logits_shape(reference):
  assert reference.shape == (B, CFG.num_levels, T, CFG.codebook_size)
  assert reference.dtype == jnp.float32 and np.isfinite(np.asarray(reference)).all()


def test_padding_frames_do_not_change_real_frames(model, forward, reference):
  codes = _codes()
  padded = ~FRAME_MASK[:, None, :]
  other = np.where(padded, _codes(9), codes)
  cond = _cond()
  cond_other = cond.copy()
  cond_other[1, 3:] = (cond[1, 3:] + 1) % CFG.cond_vocab  # frames 6, 7: padding
  out = forward(model, other, FRAME_MASK, cond_other, _text(), TEXT_MASK)
  for a, b in zip(_real(reference), _real(out)):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
  # The short example alone, cropped to its frames (and its 3 conditioning tokens), gives the
  # same logits: padded frames are not attended to at all.
  short = LENGTHS[1]
  alone = forward(model, codes[1:, :, :short], FRAME_MASK[1:, :short], cond[1:, :3],
                  _text()[1:], TEXT_MASK[1:])
  np.testing.assert_allclose(np.asarray(alone)[0], _real(reference)[1], atol=1e-5, rtol=1e-5)
  # The change is seen where the frames are real.
  out = forward(model, other, np.ones_like(FRAME_MASK), cond_other, _text(), TEXT_MASK)
  assert np.abs(_real(out)[1] - _real(reference)[1]).max() > 1e-4


def test_conditioning_tokens_change_the_logits(model, forward, reference):
  out = forward(model, _codes(), FRAME_MASK, _cond(seed=3), _text(), TEXT_MASK)
  assert np.abs(np.asarray(out) - np.asarray(reference)).max() > 1e-3


def test_upsampling_repeats_the_tokens_and_no_text_is_null_text(model, forward):
  # cond_upsample=2 with T/2 tokens == cond_upsample=1 with each token repeated twice; and (one
  # compile for both) text=None, which skips the cross-attention, == a fully masked text.
  once = nnx.eval_shape(lambda: SoundStorm(dataclasses.replace(CFG, cond_upsample=1),
                                           rngs=nnx.Rngs(0)))
  nnx.update(once, nnx.state(model))
  null_text = np.zeros_like(TEXT_MASK)
  ref = forward(model, _codes(), FRAME_MASK, _cond(), _text(), null_text)
  out = nnx.jit(lambda m, codes, mask, cond: m(codes, mask, cond))(
      once, _codes(), FRAME_MASK, np.repeat(_cond(), 2, axis=1))
  np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5, rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(model.upsample_cond(_cond(), B, T)),
                                np.repeat(_cond(), 2, axis=1))
  # A length the rate cannot explain is a mistake, reported as one.
  with pytest.raises(ValueError, match="cond_upsample"):
    model.upsample_cond(_cond(length=T // 2 - 1), B, T)
  # One frame short of a whole token (framings differ by a frame): cropped; a token short by
  # less than a token: padded with the null row.
  assert model.upsample_cond(_cond(), B, T - 1).shape == (B, T - 1)
  ids = np.asarray(model.upsample_cond(_cond(length=3), B, T - 1))
  assert (ids[:, -1] == CFG.null_cond).all() and (ids[:, :-1] != CFG.null_cond).all()


def test_text_changes_logits_and_null_text_is_finite(model, forward, reference):
  out = forward(model, _codes(), FRAME_MASK, _cond(), _text(seed=5), TEXT_MASK)
  assert np.abs(np.asarray(out) - np.asarray(reference)).max() > 1e-3
  null = np.asarray(forward(model, _codes(), FRAME_MASK, _cond(), _text(),
                            np.zeros_like(TEXT_MASK)))
  assert np.isfinite(null).all()
  assert np.abs(null - np.asarray(reference)).max() > 1e-3


def test_paper_config_parameter_count():
  # nnx.eval_shape allocates nothing; the scanned stack traces one block (same count as the
  # list). The paper config: 12 x 24.15M per Conformer block = 289.8M, Q=12 embedding tables
  # of 1025 x 1024 = 12.6M, 12 heads of 1024 x 1024 = 12.6M, 1025 semantic rows = 1.05M:
  # 316,015,616 in all (the paper says "350M"; 367M with text cross-attention to 768-d T5).
  cfg = dataclasses.replace(SoundStormConfig(), scan_layers=True)
  abstract = nnx.eval_shape(lambda: SoundStorm(cfg, rngs=nnx.Rngs(0)))
  count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
  print(f"SoundStorm paper config: {count:,} parameters")
  assert count == 316_015_616
  assert 300e6 < count < 400e6
