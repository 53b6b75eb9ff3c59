"""make_iterator: default data, determinism, resumption, host sharding, bad input."""
import json
import os

import numpy as np
import pytest

from audio_files import make_audio_folder, make_bad_manifest, write_good
from soundgen_jax.data import pipeline
from soundgen_jax.data.corpora import manifest as mf

RATE = 8000
SMALL = dict(sample_rate=RATE, crop_seconds=0.25)


def test_default_is_synthetic_audio_only():
  it = pipeline.make_iterator({}, split="train", batch_size=3, seed=0)
  b = next(it)
  assert set(b) == {"audio", "valid"}
  assert b["audio"].shape == (3, 1, 24000) and b["audio"].dtype == np.float32
  assert np.isfinite(b["audio"]).all() and np.abs(b["audio"]).max() > 0.01
  assert b["valid"].all()
  # Different examples in a batch.
  assert not np.allclose(b["audio"][0], b["audio"][1])
  assert it.task.name == "synthetic_audio"


def test_default_config_fields_build_an_iterator():
  config = pipeline.default_config()
  config.sample_rate, config.crop_seconds, config.channels = RATE, 0.25, 2
  b = next(pipeline.make_iterator(config, split="valid", batch_size=2, seed=0))
  assert b["audio"].shape == (2, 2, 2000)


def _take(it, n):
  return [next(it) for _ in range(n)]


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for k in a:
    if a[k].dtype == object:
      assert list(a[k]) == list(b[k]), k
    else:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_deterministic_given_seed():
  config = dict(task="synthetic_text_audio", mix_probability=0.5, **SMALL)
  a = _take(pipeline.make_iterator(config, split="train", batch_size=2, seed=3), 2)
  b = _take(pipeline.make_iterator(config, split="train", batch_size=2, seed=3), 2)
  c = _take(pipeline.make_iterator(config, split="train", batch_size=2, seed=4), 2)
  for x, y in zip(a, b):
    _assert_same(x, y)
  assert not np.array_equal(a[0]["audio"], c[0]["audio"])


@pytest.mark.parametrize("kind", ["synthetic_text_audio", "files"])
def test_resume_yields_the_same_next_batches(tmp_path, kind):
  if kind == "files":  # crosses epoch boundaries (5 train clips, 2 per batch)
    config = dict(task="files", path=make_audio_folder(tmp_path), eval_fraction=0.0, **SMALL)
  else:
    config = dict(task=kind, mix_probability=0.5, tag_shuffle_probability=1.0, **SMALL)
  it = pipeline.make_iterator(config, split="train", batch_size=2, seed=7)
  _take(it, 4)
  state = json.loads(json.dumps(it.get_state()))  # survives JSON
  expected = _take(it, 3)
  restored = pipeline.make_iterator(config, split="train", batch_size=2, seed=7)
  restored.set_state(state)
  for want, got in zip(expected, _take(restored, 3)):
    _assert_same(want, got)
  # set_state on a used iterator rewinds it too.
  it.set_state(state)
  _assert_same(expected[0], next(it))


def test_state_of_another_run_is_refused():
  it = pipeline.make_iterator({}, split="train", batch_size=1, seed=0)
  state = it.get_state()
  other = pipeline.make_iterator({}, split="train", batch_size=1, seed=0, shard_index=1,
                                 num_shards=2)
  with pytest.raises(pipeline.DataError, match="shard_index"):
    other.set_state(state)


def test_epochs_are_reshuffled_and_cover_the_data(tmp_path):
  folder = make_audio_folder(tmp_path)
  config = dict(task="manifest", **SMALL)
  manifest = tmp_path / "m.jsonl"
  manifest.write_text("".join(json.dumps({"path": f"audio/{n}", "caption": n}) + "\n"
                              for n in sorted(os.listdir(folder))))
  config.update(manifest=str(manifest), eval_fraction=0.0)
  it = pipeline.make_iterator(dict(config, task="user_text_audio"), split="train",
                              batch_size=6, seed=0)
  first, second = next(it), next(it)
  assert sorted(first["caption"]) == sorted(second["caption"]) == sorted(os.listdir(folder))
  assert list(first["caption"]) != list(second["caption"])


def test_host_shards_are_disjoint_and_cover_the_data(tmp_path):
  folder = tmp_path / "a"
  folder.mkdir()
  write_good(str(folder), 7, seconds=0.1)
  config = dict(path=str(folder), eval_fraction=0.0, task="user_text_audio", **SMALL)
  seen = []
  for shard in range(2):
    it = pipeline.make_iterator(config, split="train", batch_size=1, seed=5,
                                shard_index=shard, num_shards=2)
    n = 4 if shard == 0 else 3  # one epoch of this shard
    ids = [next(it)["id"][0] for _ in range(n)]
    assert it.get_state()["epoch"] == 0 and len(set(ids)) == n
    seen.append(set(ids))
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == 7
  # Eval splits are single passes; the shards split them too.
  eval_ids = []
  for shard in range(2):
    it = pipeline.make_iterator(dict(config, eval_fraction=1.0), split="valid", batch_size=3,
                                seed=5, shard_index=shard, num_shards=2)
    eval_ids += [i for b in it for i, v in zip(b["id"], b["valid"]) if v]
  assert len(eval_ids) == len(set(eval_ids)) == 7


def test_host_batches_side_by_side_are_the_one_host_batch_and_resume_on_any_count(tmp_path):
  """Shards take alternate blocks of a batch: disjoint, covering the epoch, and the hosts'
  batches laid side by side are what one host reads; a position saved by 2 hosts continues on
  1 (and back) where it stood."""
  folder = tmp_path / "a"
  folder.mkdir()
  write_good(str(folder), 12, seconds=0.1)
  config = dict(path=str(folder), eval_fraction=0.0, task="user_text_audio", **SMALL)
  make = lambda k, n: pipeline.make_iterator(config, split="train", batch_size=6 // n, seed=5,
                                             shard_index=k, num_shards=n)
  one = _take(make(0, 1), 4)  # two epochs of 12
  hosts = [make(0, 2), make(1, 2)]
  for want in one[:3]:
    got = [next(h) for h in hosts]
    assert list(want["id"]) == [i for g in got for i in g["id"]]
    np.testing.assert_array_equal(want["audio"], np.concatenate([g["audio"] for g in got]))
  epoch = [i for b in one[:2] for i in b["id"]]
  assert len(set(epoch)) == 12  # the shards together covered the epoch, each once
  # 2 -> 1: the next batch is the one-host run's 4th.
  states = json.loads(json.dumps([h.get_state() for h in hosts]))
  resumed = make(0, 1)
  resumed.set_state_from_shards(states)
  _assert_same(one[3], next(resumed))
  # 1 -> 2, and the same count as saved.
  back = [make(0, 2), make(1, 2)]
  for h in back:
    h.set_state_from_shards([resumed.get_state()])
  assert [i for h in back for i in next(h)["id"]] == list(_take(make(0, 1), 5)[4]["id"])
  with pytest.raises(pipeline.DataError, match="mixed up"):
    make(0, 1).set_state_from_shards(states[::-1])


def test_bad_files_are_skipped_and_counted(tmp_path):
  path, n_good, reasons = make_bad_manifest(tmp_path)
  config = dict(task="user_text_audio", manifest=path, **SMALL)
  it = pipeline.make_iterator(config, split="train", batch_size=2, seed=0)
  batches = _take(it, 8)  # several epochs: never raises
  for b in batches:
    assert np.isfinite(b["audio"]).all() and b["valid"].all()
    assert all(c.startswith("tone") for c in b["caption"])
  skipped = it.skipped()
  for reason in reasons:
    assert skipped.get(reason, 0) >= 1, (reason, skipped)
  assert skipped[mf.BAD_CAPTION] >= 2  # the blank one and the non-UTF-8 one
  assert skipped[mf.BAD_LINE] == 1
  # Exactly one epoch on an eval view: every good clip kept, every bad one counted once.
  counts = pipeline.make_iterator(dict(config, task="user_text_audio"), split="train",
                                  batch_size=n_good, seed=0)
  next(counts)
  state = counts.get_state()
  assert state["kept"] == n_good and state["epoch"] == 0
  assert sum(state["skipped"].values()) == state["position"] - n_good


def test_audio_only_manifest_needs_no_caption(tmp_path):
  folder = make_audio_folder(tmp_path)
  manifest = tmp_path / "paths.jsonl"
  manifest.write_text("".join(json.dumps({"path": os.path.join(folder, n)}) + "\n"
                              for n in sorted(os.listdir(folder))))
  it = pipeline.make_iterator(dict(manifest=str(manifest), eval_fraction=0.0, **SMALL),
                              split="train", batch_size=6, seed=0)
  b = next(it)
  assert b["audio"].shape == (6, 1, 2000) and it.skipped() == {}


def test_glob_resamples_converts_channels_and_pads(tmp_path):
  folder = make_audio_folder(tmp_path)  # 0.4 s clips at 8 / 16 kHz, mono / stereo
  config = dict(glob=os.path.join(folder, "*.flac"), sample_rate=RATE, crop_seconds=1.0,
                channels=1, eval_fraction=0.0)
  b = next(pipeline.make_iterator(config, split="train", batch_size=3, seed=0))
  assert b["audio"].shape == (3, 1, RATE)
  # 0.4 s of sound, then zero padding.
  assert (np.abs(b["audio"][:, :, :int(0.35 * RATE)]).max(-1) > 0.1).all()
  assert np.abs(b["audio"][:, :, int(0.45 * RATE):]).max() == 0


def test_eval_last_batch_is_padded_and_masked():
  config = dict(task="synthetic_text_audio", eval_examples=5, **SMALL)
  batches = list(pipeline.make_iterator(config, split="test", batch_size=2, seed=0))
  assert [b["valid"].tolist() for b in batches] == [[True, True]] * 2 + [[True, False]]
  assert batches[-1]["caption"][1] == "" and not batches[-1]["audio"][1].any()
  dropped = list(pipeline.make_iterator(config, split="test", batch_size=2, seed=0,
                                        drop_remainder=True))
  assert len(dropped) == 2


def test_user_mistakes_are_one_line_errors(tmp_path):
  with pytest.raises(mf.DataNotFoundError, match="no such manifest"):
    pipeline.make_iterator({"manifest": str(tmp_path / "nope.jsonl")}, split="train",
                           batch_size=1, seed=0)
  with pytest.raises(ValueError, match="unknown data task"):
    pipeline.make_iterator({"task": "nonsense"}, split="train", batch_size=1, seed=0)
  with pytest.raises(mf.DataNotFoundError, match="no such file or folder"):
    pipeline.make_iterator({"path": str(tmp_path / "missing")}, split="train", batch_size=1,
                           seed=0)
  # A corpus of only bad files stops with a message instead of spinning forever.
  folder = tmp_path / "bad"
  folder.mkdir()
  (folder / "a.wav").write_bytes(b"")
  (folder / "b.wav").write_text("text")
  it = pipeline.make_iterator({"path": str(folder), "eval_fraction": 0.0}, split="train",
                              batch_size=1, seed=0)
  with pytest.raises(pipeline.DataError, match="no usable example"):
    next(it)


def test_a_small_folder_still_holds_out_an_eval_clip(tmp_path):
  folder = tmp_path / "few"
  folder.mkdir()
  write_good(str(folder), 3, seconds=0.1)
  config = dict(task="user_text_audio", path=str(folder), **SMALL)  # eval_fraction 0.05
  (valid,) = list(pipeline.make_iterator(config, split="valid", batch_size=3, seed=0))
  held = {i for i, v in zip(valid["id"], valid["valid"]) if v}
  it = pipeline.make_iterator(config, split="train", batch_size=1, seed=0)
  train = {next(it)["id"][0] for _ in range(2)}  # one epoch
  assert len(held) == 1 and len(train) == 2 and not held & train
