"""Every preprocessor: the NumPy cores and their seqio (tf.data) wrappers."""
import os

import numpy as np
import pytest
import tensorflow as tf

from audio_files import tone, write_bad, write_good
from soundgen_jax.data import feature_converters
from soundgen_jax.data import preprocessors as prep
from soundgen_jax.data import sources
from soundgen_jax.data import token_cache
from soundgen_jax.data.corpora import manifest as mf

RATE = 8000
OPTIONS = sources.AudioOptions(sample_rate=RATE, channels=1, crop_seconds=0.25)


def _rms(x):
  return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _records(split, indices, epoch=0, seed=0):
  n = len(indices)
  return tf.data.Dataset.from_tensor_slices({
      "split": np.array([split] * n, dtype=np.bytes_), "index": np.array(indices, np.int64),
      "epoch": np.full(n, epoch, np.int64), "seed": np.full(n, seed, np.int64)})


def _entries_source(tmp_path, text=True):
  folder = tmp_path / "clips"
  folder.mkdir()
  good = write_good(str(folder), 3, seconds=0.5)
  bad = write_bad(str(folder))
  entries = [mf.Entry(path=p, caption=f"tag{i}, sound {i}, loud") for i, p in enumerate(good)]
  entries.append(mf.Entry(path=bad["silent"], caption="quiet"))
  return sources.EntrySource({"train": entries, "valid": entries}, OPTIONS, text=text)


def test_fit_length_crops_at_random_and_pads_at_the_end():
  x = np.arange(10, dtype=np.float32)[None]
  assert sources.fit_length(x, 4).tolist() == [[0, 1, 2, 3]]
  crops = {tuple(sources.fit_length(x, 4, np.random.default_rng(s))[0]) for s in range(20)}
  assert len(crops) > 3 and all(c == tuple(range(int(c[0]), int(c[0]) + 4)) for c in crops)
  assert sources.fit_length(x, 12)[0].tolist() == list(range(10)) + [0, 0]


def test_decode_clips_gives_fixed_length_audio_and_skip_reasons(tmp_path):
  source = _entries_source(tmp_path)
  out = list(prep.decode_clips(_records("train", [0, 1, 2, 3]), source).as_numpy_iterator())
  assert [o["skip"] for o in out] == [b"", b"", b"", b"silent"]
  for o in out[:3]:
    # Resampled (16 kHz files too), downmixed (stereo files too), cropped to 0.25 s.
    assert o["audio"].shape == (1, 2000) and o["audio"].dtype == np.float32
    assert 0.3 < np.abs(o["audio"]).max() < 0.6
  assert not out[3]["audio"].any() and out[3]["caption"] == b""
  assert out[1]["caption"] == b"tag1, sound 1, loud"
  # The crop depends on (seed, epoch, index), not on what else was read.
  again = list(prep.decode_clips(_records("train", [2]), source).as_numpy_iterator())
  np.testing.assert_array_equal(again[0]["audio"], out[2]["audio"])
  other_epoch = list(prep.decode_clips(_records("train", [2], epoch=1), source)
                     .as_numpy_iterator())
  assert not np.array_equal(other_epoch[0]["audio"], out[2]["audio"])


def test_normalize_loudness():
  x = tone(0.5, amp=0.01).T
  y = prep.normalize_loudness_np(x, target_db=-20.0)
  assert abs(20 * np.log10(_rms(y)) + 20.0) < 0.01
  # The gain is capped, and the peak limit wins over the RMS target.
  quiet = prep.normalize_loudness_np(x * 1e-3, target_db=-20.0, max_gain_db=30.0)
  assert abs(_rms(quiet) / _rms(x * 1e-3) - 10 ** 1.5) < 1e-3
  spiky = np.zeros((1, 1000), np.float32)
  spiky[0, 10] = 0.5
  limited = prep.normalize_loudness_np(spiky, target_db=0.0, peak=0.9)
  assert abs(np.abs(limited).max() - 0.9) < 1e-6
  assert not prep.normalize_loudness_np(np.zeros((1, 10), np.float32)).any()
  ds = tf.data.Dataset.from_tensors({"audio": x})
  (got,) = list(prep.normalize_loudness(ds, target_db=-20.0).as_numpy_iterator())
  np.testing.assert_allclose(got["audio"], y, rtol=1e-6)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.0])
def test_mix_np_sets_the_snr(snr):
  rng = np.random.default_rng(0)
  a = (0.01 * rng.standard_normal((1, 4000))).astype(np.float32)
  b = (0.05 * rng.standard_normal((1, 4000))).astype(np.float32)
  out = prep.mix_np(a, b, snr)  # far from clipping: out = a + gain * b
  assert abs(20 * np.log10(_rms(a) / _rms(out - a)) - snr) < 1e-3
  np.testing.assert_allclose((out - a) / b, (out - a)[0, 0] / b[0, 0], rtol=1e-3)
  # Loud inputs: the whole mix is scaled down below the peak, the SNR stays.
  loud = prep.mix_np(a * 60, b * 60, snr)
  assert abs(np.abs(loud).max() - 0.99) < 1e-6
  np.testing.assert_allclose(loud / np.abs(loud).max(), out / np.abs(out).max(), atol=1e-5)
  assert prep.join_captions("a dog barks", "rain") == "a dog barks and rain"


def test_mix_mixes_train_examples_only(tmp_path):
  source = _entries_source(tmp_path)
  for split, mixed in (("train", True), ("valid", False)):
    ds = prep.decode_clips(_records(split, [0, 1, 2]), source)
    plain = list(ds.as_numpy_iterator())
    out = list(prep.mix(ds, source, probability=1.0, snr_db=(0.0, 0.0)).as_numpy_iterator())
    for p, o in zip(plain, out):
      if mixed:
        # The partner is another good clip, or the silent one (then no mix).
        assert o["caption"].startswith(p["caption"] + b" and ") or o["caption"] == p["caption"]
      else:
        assert o["caption"] == p["caption"]
        np.testing.assert_array_equal(o["audio"], p["audio"])
    if mixed:
      assert sum(b" and " in o["caption"] for o in out) >= 2
  never = prep.mix(prep.decode_clips(_records("train", [0, 1]), source), source, 0.0)
  assert all(b" and " not in o["caption"] for o in never.as_numpy_iterator())


def test_augment_caption_np():
  caption = "dog, bark, outdoors, distant"
  rng = np.random.default_rng(0)
  shuffled = {prep.augment_caption_np(caption, rng, shuffle_probability=1.0)
              for _ in range(20)}
  assert len(shuffled) > 3
  assert all(sorted(s.split(", ")) == sorted(caption.split(", ")) for s in shuffled)
  for _ in range(50):
    dropped = prep.augment_caption_np(caption, rng, drop_probability=0.7)
    tags = dropped.split(", ")
    assert 1 <= len(tags) <= 4 and set(tags) <= set(caption.split(", "))
    assert [t for t in caption.split(", ") if t in tags] == tags  # order kept without shuffle
  assert prep.augment_caption_np("a single sentence", rng, 1.0, 0.9) == "a single sentence"
  a = prep.augment_caption_np(caption, np.random.default_rng(5), 1.0, 0.3)
  assert a == prep.augment_caption_np(caption, np.random.default_rng(5), 1.0, 0.3)


def test_augment_caption_wrapper_is_train_only(tmp_path):
  source = _entries_source(tmp_path)
  for split in ("train", "valid"):
    ds = prep.decode_clips(_records(split, [0, 1, 2], seed=3), source)
    out = list(prep.augment_caption(ds, 1.0, 0.5).as_numpy_iterator())
    captions = [o["caption"].decode() for o in out]
    originals = [f"tag{i}, sound {i}, loud" for i in range(3)]
    if split == "valid":
      assert captions == originals
    else:
      assert captions != originals
      for c, o in zip(captions, originals):
        assert set(c.split(", ")) <= set(o.split(", "))


def _codes_records(tmp_path, shapes):
  path = str(tmp_path / "codes.tfrecord")
  rng = np.random.default_rng(0)
  arrays = []
  with tf.io.TFRecordWriter(path) as w:
    for i, (q, t) in enumerate(shapes):
      codes = rng.integers(0, 1024, (q, t))
      arrays.append(codes)
      clip = {"caption": f"clip {i}" if t else "", "id": f"id{i}", "length": t * 10}
      w.write(token_cache.encode_example(codes, clip, 1000))
  ds = tf.data.TFRecordDataset(path).map(
      lambda pb: tf.io.parse_single_example(pb, prep.CODES_FEATURES))
  return ds, arrays


def test_parse_crop_and_convert_codes(tmp_path):
  ds, arrays = _codes_records(tmp_path, [(4, 30), (4, 7), (4, 0)])
  parsed = list(prep.parse_codes(ds).as_numpy_iterator())
  for p, a in zip(parsed, arrays):
    np.testing.assert_array_equal(p["codes"], a)
    assert p["codes"].dtype == np.int32
  assert [p["skip"] for p in parsed] == [b"", b"", b"too_short"]
  assert parsed[0]["duration"] == pytest.approx(0.3)

  cropped = list(prep.crop_codes(prep.parse_codes(ds), max_frames=10).as_numpy_iterator())
  long_crop = cropped[0]["codes"]
  assert long_crop.shape == (4, 10)
  start = [s for s in range(21) if np.array_equal(arrays[0][:, s:s + 10], long_crop)]
  assert start  # a window of the original
  assert cropped[1]["codes"].shape == (4, 7)
  again = list(prep.crop_codes(prep.parse_codes(ds), max_frames=10).as_numpy_iterator())
  np.testing.assert_array_equal(again[0]["codes"], long_crop)  # stateless: same crop
  seeded = prep.parse_codes(ds).map(lambda ex: {**ex, "seed": tf.constant(9, tf.int64),
                                                "epoch": tf.constant(0, tf.int64)})
  offsets = {tuple(np.asarray(x["codes"][0, :3])) for x in
             prep.crop_codes(seeded, max_frames=10).take(1).as_numpy_iterator()}
  assert offsets  # runs with the pipeline's seed fields too

  converter = feature_converters.CodesFeatureConverter()
  conv = converter(prep.crop_codes(prep.parse_codes(ds), max_frames=10),
                   converter.task_feature_lengths(10))
  out = list(conv.as_numpy_iterator())
  assert set(out[0]) == {"codes", "codes_mask", "caption", "id", "skip"}
  assert out[0]["codes_mask"].all() and out[0]["codes"].shape == (4, 10)
  assert out[1]["codes_mask"].tolist() == [True] * 7 + [False] * 3
  np.testing.assert_array_equal(out[1]["codes"][:, :7], arrays[1])
  assert not out[1]["codes"][:, 7:].any()
  assert not out[2]["codes_mask"].any()


def test_codes_info_missing_is_empty(tmp_path):
  assert prep.codes_info(str(tmp_path)) == {}
  assert os.path.exists(str(tmp_path))


def test_example_rng_depends_on_every_part():
  draws = {prep.example_rng(*key).random() for key in
           [(0, 0, 0, "crop"), (1, 0, 0, "crop"), (0, 1, 0, "crop"), (0, 0, 1, "crop"),
            (0, 0, 0, "mix")]}
  assert len(draws) == 5
  assert prep.example_rng(2**70, 3, 4, "caption").random() == \
      prep.example_rng(2**70, 3, 4, "caption").random()
