"""Conformer: shapes, padding never leaks (attention and conv), the conv sees its kernel's
neighbours, scanned == unscanned stacks, logical axis names on every parameter."""
import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from soundgen_jax.nn.conformer import Conformer, ConformerConfig
from model_helpers import random_weights

CFG = ConformerConfig(dim=16, num_heads=2, num_layers=2, ffn_dim=32, conv_kernel=5)
B, T = 2, 12
LENGTHS = np.array([T, 7])
MASK = np.arange(T)[None] < LENGTHS[:, None]
FULL = np.ones_like(MASK)


@pytest.fixture(scope="module")
def model():
  return random_weights(lambda: Conformer(CFG, rngs=nnx.Rngs(0)))


@pytest.fixture(scope="module")
def forward():
  return nnx.jit(lambda m, x, mask: m(x, mask=mask))


def _inputs(seed=0):
  return np.random.default_rng(seed).normal(size=(B, T, CFG.dim)).astype(np.float32)


def _junk(x, seed):
  """x with its padded frames replaced by large random values."""
  junk = 1e3 * np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
  return np.where(MASK[:, :, None], x, junk)


def _assert_real_frames_equal(a, b):
  a, b = np.asarray(a), np.asarray(b)
  for i, n in enumerate(LENGTHS):
    np.testing.assert_allclose(a[i, :n], b[i, :n], atol=1e-5, rtol=1e-5)


def test_shape_and_finite(model, forward):
  y = forward(model, _inputs(), MASK)
  assert y.shape == (B, T, CFG.dim)
  assert np.isfinite(np.asarray(y)).all()


def test_padding_never_leaks_through_the_stack(model, forward):
  x = _inputs()
  ref = forward(model, x, MASK)
  _assert_real_frames_equal(ref, forward(model, _junk(x, 1), MASK))
  # NaN in a padded frame (an out-of-range id's gather) cannot leak either.
  nan = np.where(MASK[:, :, None], x, np.float32(np.nan))
  _assert_real_frames_equal(ref, forward(model, nan, MASK))
  # The short example alone, cropped to its length, gives its real frames' outputs: padded
  # frames are not attended to even when they hold the same (zeroed) values in every run.
  short = LENGTHS[1]
  alone = forward(model, x[1:, :short], FULL[1:, :short])
  np.testing.assert_allclose(np.asarray(alone)[0], np.asarray(ref)[1, :short], atol=1e-5,
                             rtol=1e-5)
  # Without the mask the junk does reach the real frames: the test can fail.
  leaky = forward(model, _junk(x, 1), FULL)
  assert np.abs(np.asarray(leaky)[1, :LENGTHS[1]] - np.asarray(ref)[1, :LENGTHS[1]]).max() > 1e-3


def test_padding_never_leaks_through_one_block(model):
  # The block alone (no zeroing at the stack's input): attention and conv must mask by
  # themselves.
  run = nnx.jit(lambda m, x: m(x, mask=MASK))
  block = model.blocks[0]
  x = _inputs(2)
  ref = run(block, x)
  _assert_real_frames_equal(ref, run(block, _junk(x, 3)))
  _assert_real_frames_equal(ref, run(block, _junk(x, 4)))


@pytest.fixture(scope="module")
def conv(model):
  return model.blocks[0].conv, nnx.jit(lambda m, x, mask: m(x, mask))


def test_conv_module_padding_and_kernel_reach(conv):
  module, run = conv
  x = _inputs(5)
  ref = run(module, x, MASK)
  _assert_real_frames_equal(ref, run(module, _junk(x, 6), MASK))
  # Unmasked, frame t's output changes with frames t +- 2 (kernel 5) and not t +- 3.
  base = np.asarray(run(module, x, FULL))
  t = 5
  # Not a constant across channels: the module's LayerNorm would remove it.
  poke = 10.0 * np.random.default_rng(8).normal(size=CFG.dim).astype(np.float32)
  for offset, reached in ((2, True), (-2, True), (3, False), (-3, False)):
    y = x.copy()
    y[:, t + offset] += poke
    poked = np.asarray(run(module, y, FULL))
    diff = np.abs(poked[:, t] - base[:, t]).max()
    assert (diff > 1e-3) == reached, (offset, diff)
  # The padded frame next to a sequence's end is zeroed before the depthwise conv: the last
  # real frame of the short example does not see it.
  last = LENGTHS[1] - 1
  y = x.copy()
  y[1, last + 1] += poke
  poked = np.asarray(run(module, y, MASK))
  np.testing.assert_allclose(poked[1, last], np.asarray(ref)[1, last], atol=1e-6)


def _params(m):
  return jax.tree_util.tree_leaves_with_path(nnx.state(m, nnx.Param),
                                             is_leaf=lambda v: isinstance(v, nnx.Variable))


def test_scanned_equals_unscanned(model, forward):
  scanned = nnx.eval_shape(lambda: Conformer(dataclasses.replace(CFG, scan_layers=True),
                                              rngs=nnx.Rngs(0)))
  # The list's weights stacked into the scanned block (values only: keep its metadata).
  stacked = jax.tree.map(lambda *a: np.stack(a),
                         *[nnx.state(b, nnx.Param).to_pure_dict() for b in model.blocks])
  state = nnx.state(scanned.blocks, nnx.Param)
  nnx.replace_by_pure_dict(state, stacked)
  nnx.update(scanned.blocks, state)
  x = _inputs(7)
  np.testing.assert_allclose(np.asarray(forward(scanned, x, MASK)),
                             np.asarray(forward(model, x, MASK)), atol=1e-5, rtol=1e-5)
  for path, var in _params(scanned):
    names = var.get_metadata().get("out_sharding")
    assert names[0] == "layers" and var.shape[0] == CFG.num_layers, path


def test_every_parameter_has_logical_axis_names():
  cfg = dataclasses.replace(CFG, cross_attention=True, context_dim=8)
  m = nnx.eval_shape(lambda: Conformer(cfg, rngs=nnx.Rngs(0)))
  params = _params(m)
  assert any("cross_attn" in jax.tree_util.keystr(p) for p, _ in params)
  for path, var in params:
    names = var.get_metadata().get("out_sharding")
    assert names is not None and len(names) == len(var.shape), (jax.tree_util.keystr(path),
                                                                  names, var.shape)
