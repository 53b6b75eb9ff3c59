"""Codebook interleaving patterns: hand-worked layouts (checked against audiocraft's providers
when written), round trips, the logits shift, jit, and transformers' MusicGen delay pattern."""
import jax
import numpy as np
import pytest

from soundgen_jax.lm import patterns

_ = -1  # the special token in the literal layouts below

# (name, K, options, T=3) -> frames[K, S], worked out by hand from audiocraft's providers.
LAYOUTS = [
    ("parallel", 3, {}, [[_, 0, 1, 2],
                         [_, 0, 1, 2],
                         [_, 0, 1, 2]]),
    ("delay", 3, {}, [[_, 0, 1, 2, _, _],
                      [_, _, 0, 1, 2, _],
                      [_, _, _, 0, 1, 2]]),
    ("delay", 3, {"delays": (0, 2, 2)}, [[_, 0, 1, 2, _, _],
                                         [_, _, _, 0, 1, 2],
                                         [_, _, _, 0, 1, 2]]),
    ("unroll", 3, {}, [[_, 0, _, _, 1, _, _, 2, _, _],
                       [_, _, 0, _, _, 1, _, _, 2, _],
                       [_, _, _, 0, _, _, 1, _, _, 2]]),
    ("unroll", 3, {"flattening": (0, 1, 1)}, [[_, 0, _, 1, _, 2, _],
                                              [_, _, 0, _, 1, _, 2],
                                              [_, _, 0, _, 1, _, 2]]),
    # audiocraft's docstring example 3 (there with T=4): codebook 0 runs on alone for 3 frames;
    # steps 5, 7, 9 would hold codebook 0's frames 3..5, which do not exist, so stay special.
    ("unroll", 3, {"flattening": (0, 1, 1), "delays": (0, 3, 3)},
     [[_, 0, 1, 2, _, _, _, _, _, _],
      [_, _, _, _, 0, _, 1, _, 2, _],
      [_, _, _, _, 0, _, 1, _, 2, _]]),
    ("coarse_first", 3, {}, [[_, 0, 1, 2, _, _, _],
                             [_, _, _, _, 0, 1, 2],
                             [_, _, _, _, 0, 1, 2]]),
    ("coarse_first", 3, {"delays": (0, 1)}, [[_, 0, 1, 2, _, _, _, _],
                                             [_, _, _, _, 0, 1, 2, _],
                                             [_, _, _, _, _, 0, 1, 2]]),
    ("musiclm", 4, {}, [[_, 0, _, 1, _, 2, _, _, _, _, _, _, _],
                        [_, _, 0, _, 1, _, 2, _, _, _, _, _, _],
                        [_, _, _, _, _, _, _, 0, _, 1, _, 2, _],
                        [_, _, _, _, _, _, _, _, 0, _, 1, _, 2]]),
]

# Options that exercise every branch, for the generic tests.
CONFIGS = [("parallel", {}), ("delay", {}), ("delay", {"delays": (0, 0, 3)}), ("unroll", {}),
           ("unroll", {"flattening": (0, 1, 1), "delays": (0, 3, 3)}), ("coarse_first", {}),
           ("coarse_first", {"delays": (1, 2)}), ("musiclm", {"group_size": 1}),
           ("musiclm", {"group_size": 3})]


def _codes(k, t, batch=2, seed=0):
  return np.random.default_rng(seed).integers(0, 50, (batch, k, t)).astype(np.int32)


@pytest.mark.parametrize("name,k,options,expected", LAYOUTS)
def test_hand_worked_layouts(name, k, options, expected):
  p = patterns.make(name, k, **options)
  expected = np.array(expected)
  np.testing.assert_array_equal(p.frames(3), expected)
  assert p.length(3) == expected.shape[1]
  np.testing.assert_array_equal(p.valid(3), expected >= 0)


def test_build_literal_sequence():
  codes = 10 * np.arange(3)[None, :, None] + np.arange(3)[None, None, :]  # code 10k + t
  seq, valid = patterns.build(patterns.make("delay", 3), codes, special_token=99)
  np.testing.assert_array_equal(seq[0], [[99, 0, 1, 2, 99, 99],
                                         [99, 99, 10, 11, 12, 99],
                                         [99, 99, 99, 20, 21, 22]])
  assert seq.dtype == np.int32 and valid.sum() == 9


@pytest.mark.parametrize("name,options", CONFIGS)
def test_round_trip(name, options):
  k = 3
  for t in (1, 2, 5):
    p = patterns.make(name, k, **options)
    codes = _codes(k, t, seed=t)
    seq, valid = patterns.build(p, codes, special_token=99)
    # Every code exactly once, the special token everywhere else.
    assert valid.sum() == k * t and seq.shape == (2, k, p.length(t))
    assert np.all(np.asarray(seq)[:, ~valid] == 99)
    np.testing.assert_array_equal(patterns.revert_codes(p, seq, t), codes)
    # Longer sequences (e.g. a decode buffer) revert the same.
    longer = np.concatenate([np.asarray(seq), np.full((2, k, 4), 7)], axis=2)
    np.testing.assert_array_equal(patterns.revert_codes(p, longer, t), codes)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_round_trip_other_sizes(k):
  for name in ("parallel", "delay", "unroll", "musiclm"):
    p = patterns.make(name, k, **({"group_size": 1} if name == "musiclm" else {}))
    codes = _codes(k, 7, batch=1, seed=k)
    np.testing.assert_array_equal(
        patterns.revert_codes(p, patterns.build(p, codes, 1024)[0], 7), codes)


@pytest.mark.parametrize("name,options", CONFIGS)
def test_revert_logits_shift(name, options):
  k, t, v = 3, 4, 2
  p = patterns.make(name, k, **options)
  s = p.length(t)
  # logits[b, k, s, v] = 1000 b + 100 k + s + v / 4: the value says where it came from.
  logits = (1000 * np.arange(2)[:, None, None, None] + 100 * np.arange(k)[None, :, None, None]
            + np.arange(s)[None, None, :, None] + np.arange(v) / 4).astype(np.float32)
  frames = p.frames(t)
  for length in (s, s - 3):
    out, mask = patterns.revert_logits(p, logits[:, :, :length], t, fill=-5.0)
    assert out.shape == (2, k, t, v) and mask.shape == (k, t)
    for q in range(k):
      for f in range(t):
        (step,) = np.nonzero(frames[q] == f)[0]  # the one step holding (q, f)
        want = (1000 * np.arange(2)[:, None] + 100 * q + step - 1 + np.arange(v) / 4
                if step - 1 < length else np.full((2, v), -5.0))
        assert mask[q, f] == (step - 1 < length)
        np.testing.assert_array_equal(out[:, q, f], want)
  assert not mask.all()  # the shortened logits did cut some frames off


def test_delay_logits_literal():
  logits = (100 * np.arange(3)[:, None] + np.arange(6)[None])[None, :, :, None]
  out, mask = patterns.revert_logits(patterns.make("delay", 3), logits.astype(np.float32), 3)
  # Code (k, t) sits at step t + 1 + k and is predicted from step t + k.
  np.testing.assert_array_equal(out[0, :, :, 0], [[0, 1, 2], [101, 102, 103], [202, 203, 204]])
  assert mask.all()


def test_defaults_and_lists():
  # Defaults are filled in and lists become tuples: equal layouts are equal, hashable patterns.
  assert patterns.make("delay", 4) == patterns.make("delay", 4, delays=[0, 1, 2, 3])
  assert patterns.make("delay", 4).delays == (0, 1, 2, 3)
  assert patterns.make("coarse_first", 3).delays == (0, 0)
  assert hash(patterns.make("unroll", 3, flattening=[0, 1, 1])) == hash(
      patterns.Pattern("unroll", 3, (0, 0, 0), (0, 1, 1)))
  with pytest.raises(ValueError):
    patterns.make("delay", 3).frames(3)[0, 0] = 5  # the cached layout is read-only


def test_steps_for_frames():
  delay, coarse = patterns.make("delay", 3), patterns.make("coarse_first", 3)
  assert [delay.steps_for_frames(3, n) for n in range(4)] == [1, 2, 3, 6]
  assert [coarse.steps_for_frames(3, n) for n in range(4)] == [1, 2, 3, 7]
  assert [patterns.make("musiclm", 4).steps_for_frames(3, n) for n in range(4)] == [1, 3, 5, 13]
  np.testing.assert_array_equal(delay.steps(3), [[1, 2, 3], [2, 3, 4], [3, 4, 5]])


def test_jit():
  # numpy in, numpy out (the tests above); jax in (or traced), jax out, the same values.
  p = patterns.make("unroll", 3, flattening=(0, 1, 1), delays=(0, 3, 3))
  codes = _codes(3, 5)
  assert isinstance(patterns.build(p, codes, 99)[0], np.ndarray)
  assert isinstance(patterns.build(p, jax.numpy.asarray(codes), 99)[0], jax.Array)
  seq = jax.jit(lambda c: patterns.build(p, c, 99)[0])(codes)
  np.testing.assert_array_equal(seq, patterns.build(p, codes, 99)[0])
  back = jax.jit(lambda x: patterns.revert_codes(p, x, 5))(seq)
  np.testing.assert_array_equal(back, codes)
  logits = np.random.default_rng(0).standard_normal((2, 3, p.length(5), 4)).astype(np.float32)
  out = jax.jit(lambda x: patterns.revert_logits(p, x, 5)[0])(logits)
  np.testing.assert_array_equal(out, patterns.revert_logits(p, logits, 5)[0])


def test_matches_transformers_delay_pattern():
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  k, t, pad = 4, 5, 8
  config = transformers.MusicgenDecoderConfig(
      vocab_size=pad, max_position_embeddings=32, num_hidden_layers=1, ffn_dim=8,
      num_attention_heads=1, hidden_size=8, num_codebooks=k, pad_token_id=pad, bos_token_id=pad)
  model = transformers.MusicgenForCausalLM(config)
  codes = _codes(k, t, batch=2) % pad
  # transformers' input starts with the start token (= pad) on every codebook, then shifts
  # codebook q right by q; our step 0 is that start token, so S = T + K on both sides.
  ids = np.concatenate([np.full((2, k, 1), pad), codes], axis=2).reshape(2 * k, t + 1)
  _, reference = model.build_delay_pattern_mask(torch.from_numpy(ids).long(), pad_token_id=pad,
                                                max_length=t + k)
  seq, _ = patterns.build(patterns.make("delay", k), codes, special_token=pad)
  np.testing.assert_array_equal(seq, reference.numpy().reshape(2, k, t + k))


@pytest.mark.parametrize("call,message", [
    (lambda: patterns.make("dela", 4), "choose one of .*'delay'.*'musiclm'"),
    (lambda: patterns.make("delay", 4, group_size=2), r"takes options \('delays',\)"),
    (lambda: patterns.make("parallel", 4, delays=(0, 1, 2, 3)), r"takes options \(\)"),
    (lambda: patterns.make("delay", 3, delays=(0, 1)), "delays needs 3 values"),
    (lambda: patterns.make("delay", 3, delays=(0, 2, 1)), "non-decreasing"),
    (lambda: patterns.make("coarse_first", 3, delays=(0, 1, 2)), "needs 2 values"),
    (lambda: patterns.make("coarse_first", 1), "num_codebooks >= 2"),
    (lambda: patterns.make("musiclm", 3), "group_size must divide num_codebooks=3"),
    (lambda: patterns.make("unroll", 3, flattening=(0, 1, 1), delays=(0, 1, 2)),
     "same delay"),
    (lambda: patterns.Pattern("delay", 3, group_size=3), "group_size is an option of 'musiclm'"),
    (lambda: patterns.make("delay", 3).frames(0), "num_frames must be >= 1"),
    (lambda: patterns.build(patterns.make("delay", 3), np.zeros((1, 4, 2), int), 9),
     "codes has 4 codebooks"),
    (lambda: patterns.revert_codes(patterns.make("delay", 3), np.zeros((1, 3, 4), int), 3),
     "frames need 6"),
])
def test_errors(call, message):
  with pytest.raises(ValueError, match=message):
    call()
