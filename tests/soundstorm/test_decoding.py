"""SoundStorm / MaskGIT decoding with tiny pure logits functions: pass counts, the schedule,
rank-based re-masking, greedy last iterations, prompts, padding and seeding."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from soundgen_jax.soundstorm import decoding

PAPER = (16,) + (1,) * 11
V = 8  # codebook size; the mask token is V


def _count_passes(num_levels, steps, first_level=0):
  """decode's pass count from tracing alone (nothing compiled)."""
  out = {}

  def run(codes):
    fn = lambda x: jnp.zeros(x.shape + (V,))
    decoded, out["passes"] = decoding.decode(fn, codes, None, steps_per_level=steps,
                                             first_level=first_level, key=jax.random.key(0))
    return decoded

  jax.eval_shape(run, jax.ShapeDtypeStruct((1, num_levels, 4), jnp.int32))
  return out["passes"]


def test_pass_counts():
  assert _count_passes(12, PAPER) == 27
  # The coarse level given by the LM: 12 levels still decoded with the paper's steps.
  assert _count_passes(13, PAPER, first_level=1) == 27
  # Steps given for all levels: the given ones are not run.
  assert _count_passes(12, (16,) + (1,) * 11, first_level=1) == 11
  assert _count_passes(12, (16,) + (1,) * 10, first_level=1) == 26
  assert _count_passes(3, (4, 2, 2)) == 8
  with pytest.raises(ValueError):
    _count_passes(3, (4, 2))
  with pytest.raises(ValueError):
    _count_passes(3, (4, 0, 1))


# ---- schedule and rank selection ------------------------------------------------------------


def _reference_schedule(n_unknown, step, num_steps):
  if step >= num_steps:
    return 0
  kept = math.floor(n_unknown * math.cos(math.pi / 2 * step / num_steps) + 1e-9)
  return max(0, min(kept, n_unknown - step))


def test_schedule():
  unknown = np.arange(0, 65)
  steps = (1, 2, 3, 4, 6, 8, 12, 16)
  table = jax.jit(lambda u: [decoding.schedule(u[None], jnp.arange(n + 1)[:, None], n)
                             for n in steps])(unknown)   # one compile, [s, N] for each n
  for n, got in zip(steps, table):
    got = np.asarray(got)
    want = np.array([[_reference_schedule(int(u), s, n) for u in unknown]
                     for s in range(n + 1)])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[0], unknown)
    assert (got[-1] == 0).all()
    # At least one revealed per iteration while any remain.
    drop = got[:-1] - got[1:]
    assert ((drop >= 1) | (got[:-1] == 0)).all()
  # The cosine itself: 100 tokens over 4 steps keep floor(100 cos(pi/8 s)).
  assert [int(decoding.schedule(100, s, 4)) for s in range(5)] == [100, 92, 70, 38, 0]
  # cos(pi/3) = 1/2 exactly: 6 of 12 stay masked after step 2 of 3.
  assert int(decoding.schedule(12, 2, 3)) == 6


def test_keep_masked_is_by_rank_with_ties():
  inf = np.inf
  conf = np.array([
      [0.5, -1.0, 0.5, 2.0, -1.0, 0.1],
      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
      [1.0, 0.3, 0.3, 0.3, -2.0, 5.0],
      [inf, 0.0, inf, -3.0, inf, inf],   # +inf: a fixed token
      [inf, 0.0, inf, -3.0, inf, inf],
      [4.0, 3.0, 2.0, 1.0, 0.0, -1.0],
      [4.0, 3.0, 2.0, 1.0, 0.0, -1.0],
  ], np.float32)
  num = np.array([3, 2, 3, 2, 1, 0, 6])
  want = np.array([
      [0, 1, 0, 0, 1, 1],
      [1, 1, 0, 0, 0, 0],   # ties: exactly k, the lower positions first
      [0, 1, 1, 0, 1, 0],   # a threshold at the k-th value would keep all three 0.3s
      [0, 1, 0, 1, 0, 0],   # fixed tokens never picked while enough finite ones exist
      [0, 0, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 0],
      [1, 1, 1, 1, 1, 1],
  ], bool)
  got = np.asarray(jax.jit(decoding.keep_masked)(conf, num))
  np.testing.assert_array_equal(got, want)
  # The public port's bug (argsort indices compared to the count) picks other positions.
  assert not np.array_equal(np.argsort(conf[0], kind="stable") < 3, want[0])
  assert (got.sum(-1) == num).all()


# ---- one executable for most tests: 4 levels, logits = table + scale * embedding sum ---------

Q, B, T = 4, 4, 10
STEPS = (6, 3, 1, 2)
_CALLS = []


@functools.lru_cache(maxsize=None)
def _decoder():
  """Everything a test varies is an argument, so this compiles once."""

  def run(table, emb, scale, codes, known, frame_mask, key, temperature, choice_temperature):
    def logits_fn(x):  # a fixed table plus a one-layer embedding sum (scale 0: input ignored)
      jax.debug.callback(lambda: _CALLS.append(1))
      h = emb[jnp.arange(Q)[None, :, None], x].sum(1)                      # [B, T, V]
      return table[None] + scale * h[:, None]

    out, passes, history = decoding.decode(
        logits_fn, codes, known, steps_per_level=STEPS, key=key, temperature=temperature,
        choice_temperature=choice_temperature, frame_mask=frame_mask, trace=True)
    assert passes == sum(STEPS)
    return out, history

  codes = np.zeros((B, Q, T), np.int32)
  known = np.zeros(codes.shape, bool)
  known[1, :, :3] = True            # a 3-frame acoustic prompt
  known[2, :, :2] = True            # a 2-frame one ...
  known[2, 1, 5] = True             # ... and one more given token on level 1
  known[3, 0] = True                # level 0 given whole, as by the LM
  codes[known] = 5
  frame_mask = np.ones((B, T), bool)
  frame_mask[2, 7:] = False         # 7 real frames
  frame_mask[3, 9:] = False         # 9
  codes[~np.broadcast_to(frame_mask[:, None], codes.shape)] = V + 3  # no decoder writes that
  todo = ~known & frame_mask[:, None]
  return jax.jit(run), codes, known, frame_mask, todo


def _random_table(seed):
  return np.random.default_rng(seed).normal(size=(Q, T, V)) * 2


def _decode(table, scale=0.0, key=0, temperature=1.0, choice_temperature=4.5):
  run, codes, known, frame_mask, todo = _decoder()
  emb = np.random.default_rng(99).normal(size=(Q, V + 4, V))
  out, history = run(jnp.asarray(table, jnp.float32), jnp.asarray(emb, jnp.float32), scale,
                     codes, known, frame_mask, jax.random.key(key), temperature,
                     choice_temperature)
  return np.asarray(out), [np.asarray(h) for h in history], codes, known, todo


def test_runs_as_many_forward_passes_as_counted():
  _CALLS.clear()
  out, _, _, _, _ = _decode(_random_table(0), scale=1.0)
  jax.effects_barrier()
  assert len(_CALLS) == sum(STEPS) == 12  # executed, not only counted at trace time


def test_prompt_and_padding_kept_and_everything_decoded():
  out, _, codes, known, todo = _decode(_random_table(0), scale=1.0)
  np.testing.assert_array_equal(out[known], codes[known])
  np.testing.assert_array_equal(out[2, :, 7:], codes[2, :, 7:])
  np.testing.assert_array_equal(out[3, :, 9:], codes[3, :, 9:])
  assert ((out[todo] >= 0) & (out[todo] < V)).all()  # no mask token left in real frames


def test_masked_counts_follow_the_schedule_per_example():
  out, history, codes, known, todo = _decode(_random_table(1), scale=1.0)
  for q, (n, h) in enumerate(zip(STEPS, history)):
    assert h.shape == (n, B, T)
    unknown = todo[:, q].sum(-1)                                        # differs per example
    assert len(set(unknown.tolist())) >= 3
    for i in range(n):
      want = [_reference_schedule(int(u), i + 1, n) for u in unknown]
      np.testing.assert_array_equal(h[i].sum(-1), want)
      previous = todo[:, q] if i == 0 else h[i - 1]
      assert not (h[i] & ~previous).any()   # never re-masked, never outside the unknown ones
  assert history[0][:, 3].sum() == 0        # nothing to decode on a level given whole


def test_last_iteration_is_greedy():
  table = _random_table(2)
  argmax = np.broadcast_to(table.argmax(-1)[None], (B, Q, T))
  out, history, _, _, todo = _decode(table, temperature=3.0)
  for q, h in enumerate(history):
    last = todo[:, q] if len(h) == 1 else h[-2]   # still masked before the last iteration
    assert last.any()
    np.testing.assert_array_equal(out[:, q][last], argmax[:, q][last])
  # The earlier iterations sample at temperature 3, which does not always give the argmax.
  earlier = todo[:, 0] & ~history[0][-2]
  assert (out[:, 0][earlier] != argmax[:, 0][earlier]).any()


def test_constant_preference_wins():
  table = _random_table(3)
  table[..., 6] += 30.0
  out, _, _, _, todo = _decode(table)
  assert (out[todo] == 6).all()


def test_each_position_is_revealed_by_its_own_confidence():
  # Position t's log-prob of its best token rises with margin[q, t], a shuffled order; with a
  # near-zero sampling temperature and no Gumbel noise the most confident go first.
  rng = np.random.default_rng(4)
  margin = np.stack([rng.permutation(T) for _ in range(Q)]) * 0.5 + 1.0  # [Q, T]
  table = np.zeros((Q, T, V))
  best = rng.integers(0, V, (Q, T))
  np.put_along_axis(table, best[..., None], margin[..., None], axis=-1)
  out, history, _, _, todo = _decode(table, temperature=1e-4, choice_temperature=0.0)
  np.testing.assert_array_equal(out[todo], np.broadcast_to(best[None], out.shape)[todo])
  for q, h in enumerate(history):
    for b in range(B):
      order = [t for t in np.argsort(margin[q]) if todo[b, q, t]]  # least confident first
      for i in range(len(h)):
        still = np.flatnonzero(h[i, b])
        assert sorted(still) == sorted(order[:len(still)])
  # The positions kept are shuffled ones, not the leading ones that equal scores would give.
  kept = [np.flatnonzero(h) for h in history[0][:, 0]]
  assert any(list(k) != list(range(len(k))) for k in kept)
  # With Gumbel noise the order is no longer the confidence order.
  _, noisy, _, _, _ = _decode(table, temperature=1e-4, choice_temperature=4.5)
  assert any((a != b).any() for a, b in zip(noisy[0], history[0]))


def test_seeded():
  table = _random_table(5)
  a, ha, _, _, _ = _decode(table, scale=1.0, key=5)
  b, hb, _, _, _ = _decode(table, scale=1.0, key=5)
  c, _, _, _, _ = _decode(table, scale=1.0, key=6)
  np.testing.assert_array_equal(a, b)
  for x, y in zip(ha, hb):
    np.testing.assert_array_equal(x, y)
  assert (a != c).any()


# ---- top-k, with the coarse level given (first_level=1) -------------------------------------


def test_top_k_and_first_level():
  rng = np.random.default_rng(6)
  table = jnp.asarray(rng.normal(size=(2, 16, V)), jnp.float32)
  fn = lambda x: jnp.broadcast_to(table, x.shape + (V,))
  codes = np.full((2, 2, 16), V, np.int32)  # level 0 holds the mask token: still "given"
  run = jax.jit(lambda c, k: decoding.decode(fn, c, None, steps_per_level=(4,), first_level=1,
                                             key=k, top_k=2, temperature=100.0)[0])
  out = np.asarray(run(codes, jax.random.key(0)))
  np.testing.assert_array_equal(out[:, 0], codes[:, 0])
  top2 = np.argsort(-np.asarray(table[1]), axis=-1)[:, :2]                # [T, 2]
  picked = (out[:, 1, :, None] == top2[None]).any(-1)
  assert picked.all()                                   # only the two best tokens are drawn
  assert (out[:, 1] == top2[None, :, 1]).any()          # and not only the best one
