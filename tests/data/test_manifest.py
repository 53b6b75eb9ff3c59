"""JSONL manifests, AudioCaps / Clotho / MusicCaps CSV readers, and bad-input handling."""
import csv
import json
import os

import numpy as np
import pytest
import soundfile

from soundgen_jax.data.corpora import manifest as mf


def _noise(path, seconds=0.5, rate=22050, channels=2, subtype="PCM_16", seed=0):
  x = np.random.default_rng(seed).uniform(-0.5, 0.5, (int(seconds * rate), channels))
  soundfile.write(path, x.astype(np.float32), rate, subtype=subtype)
  return path


def _write_jsonl(path, objs):
  with open(path, "wb") as f:
    for o in objs:
      f.write(o if isinstance(o, bytes) else json.dumps(o).encode() + b"\n")


def test_write_read_roundtrip_relative_paths(tmp_path):
  audio_dir = tmp_path / "corpus" / "clips"
  audio_dir.mkdir(parents=True)
  wav = _noise(str(audio_dir / "a.wav"))
  entries = [mf.Entry(path=wav, caption="rain on a tin roof", start=0.1, end=0.4, split="train",
                      source="mine", meta={"tags": ["rain"], "duration": 0.3}),
             mf.Entry(path=wav, caption="ünïcode caption ✓", split="test")]
  out = tmp_path / "corpus" / "manifest.jsonl"
  assert mf.write_manifest(str(out), entries) == 2
  first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
  assert first["path"] == "clips/a.wav"  # relative to the manifest's folder
  back = mf.read_manifest(str(out))
  assert back == entries
  assert back[0].duration == pytest.approx(0.3)
  assert [e.caption for e in mf.read_manifest(str(out), split="test")] == ["ünïcode caption ✓"]


def test_missing_manifest_says_how_to_fetch(tmp_path):
  with pytest.raises(mf.DataNotFoundError, match="fetch_corpus.py --packages small"):
    mf.read_manifest(str(tmp_path / "nope.jsonl"))


def test_bad_manifest_lines_are_counted_not_fatal(tmp_path):
  path = tmp_path / "m.jsonl"
  _write_jsonl(path, [{"path": "a.wav", "caption": "ok"}, b"{not json\n", b"[1, 2]\n",
                      {"caption": "no path"}, {"path": "b.wav", "caption": "x", "start": 2,
                                               "end": 1}, b"\n"])
  counter = mf.SkipCounter()
  entries = mf.read_manifest(str(path), counter=counter)
  assert [os.path.basename(e.path) for e in entries] == ["a.wav"]
  assert counter.counts == {mf.BAD_LINE: 4}


def _csv(path, header, rows):
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  return str(path)


def test_audiocaps_reader(tmp_path):
  clips = tmp_path / "clips"
  clips.mkdir()
  _noise(str(clips / "vid_whole.wav"), seconds=45, rate=8000, channels=1)  # a whole video
  _noise(str(clips / "777.flac"), seconds=10, rate=8000, channels=1)  # clip named by id
  _noise(str(clips / "vid_short.wav"), seconds=10, rate=8000, channels=1)  # already cut
  csv_path = _csv(tmp_path / "val.csv", ["audiocap_id", "youtube_id", "start_time", "caption"],
                  [["1", "vid_whole", "30", "A dog barks, then a car passes"],
                   ["777", "other", "0", "Wind blows"],
                   ["3", "vid_short", "50", "Birds chirp"],
                   ["4", "gone", "0", "Not downloaded"]])
  counter = mf.SkipCounter()
  entries = mf.read_audiocaps(csv_path, str(clips), counter=counter)
  assert [e.caption for e in entries] == ["A dog barks, then a car passes", "Wind blows",
                                          "Birds chirp"]
  assert (entries[0].start, entries[0].end) == (30.0, 40.0)
  assert entries[1].start is None and entries[1].path.endswith("777.flac")
  assert entries[2].start is None  # the file is shorter than start_time: it is the clip
  assert {e.split for e in entries} == {"valid"}
  assert counter.counts == {mf.MISSING: 1}


def test_clotho_reader_all_captions(tmp_path):
  audio = tmp_path / "development"
  audio.mkdir()
  _noise(str(audio / "Creek, flowing water.wav"), seconds=1, rate=8000, channels=1)
  header = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
  csv_path = _csv(tmp_path / "clotho_captions_development.csv", header,
                  [["Creek, flowing water.wav"] + [f"water flows, take {i}" for i in range(5)],
                   ["missing.wav"] + ["x"] * 5])
  counter = mf.SkipCounter()
  entries = mf.read_clotho(csv_path, str(audio), counter=counter)
  assert len(entries) == 5 and entries[4].caption == "water flows, take 4"
  assert {e.split for e in entries} == {"train"}
  assert len(mf.read_clotho(csv_path, str(audio), all_captions=False)) == 1
  assert counter.counts == {mf.MISSING: 1}


def test_musiccaps_reader(tmp_path):
  audio = tmp_path / "mc"
  audio.mkdir()
  _noise(str(audio / "[abc]-[30-40].wav"), seconds=10, rate=8000, channels=1)
  _noise(str(audio / "def.wav"), seconds=60, rate=8000, channels=1)
  header = ["ytid", "start_s", "end_s", "audioset_positive_labels", "aspect_list", "caption",
            "author_id", "is_balanced_subset", "is_audioset_eval"]
  csv_path = _csv(tmp_path / "musiccaps-public.csv", header, [
      ["abc", "30", "40", "/m/0", "['low quality', 'jazz']", "A mellow jazz trio.", "1",
       "False", "True"],
      ["def", "10", "20", "/m/0", "['rock']", "Loud rock guitar.", "2", "True", "False"],
      ["ghi", "0", "10", "/m/0", "[]", "Missing.", "3", "False", "False"]])
  counter = mf.SkipCounter()
  entries = mf.read_musiccaps(csv_path, str(audio), counter=counter)
  assert [e.split for e in entries] == ["test", "train"]
  assert entries[0].meta["tags"] == ["low quality", "jazz"] and entries[0].start is None
  assert (entries[1].start, entries[1].end) == (10.0, 20.0)
  assert counter.counts == {mf.MISSING: 1}


def test_csv_errors_are_one_line_and_actionable(tmp_path):
  (tmp_path / "clips").mkdir()
  with pytest.raises(mf.DataNotFoundError, match="no such AudioCaps CSV"):
    mf.read_audiocaps(str(tmp_path / "train.csv"), str(tmp_path / "clips"))
  bad = _csv(tmp_path / "train.csv", ["youtube_id", "caption"], [["a", "b"]])
  with pytest.raises(mf.ManifestError, match="lacks the column"):
    mf.read_audiocaps(bad, str(tmp_path / "clips"))
  good = _csv(tmp_path / "ok.csv", ["audiocap_id", "youtube_id", "start_time", "caption"], [])
  with pytest.raises(mf.DataNotFoundError, match="no such audio folder") as e:
    mf.read_audiocaps(good, str(tmp_path / "absent"))
  assert "\n" not in str(e.value)


def _bad_input_corpus(tmp_path):
  """A manifest over real malformed files, with the reason each one must be skipped for."""
  d = tmp_path / "bad"
  d.mkdir()
  good_wav = _noise(str(d / "good.wav"))
  good_flac = _noise(str(d / "good.flac"), seconds=1.0, rate=44100, channels=1)
  misnamed_ok = str(d / "flac_named.wav")  # real FLAC bytes behind a .wav name still decode
  with open(good_flac, "rb") as src, open(misnamed_ok, "wb") as dst:
    dst.write(src.read())
  full = _noise(str(d / "full.wav"), seconds=1.0)
  with open(full, "rb") as f:
    data = f.read()
  (d / "truncated.wav").write_bytes(data[:len(data) // 2])
  (d / "text.wav").write_text("this is a README, not audio\n")
  (d / "empty.wav").write_bytes(b"")
  soundfile.write(str(d / "silent.wav"), np.zeros((8000, 1), np.float32), 16000)
  nan = np.random.default_rng(1).uniform(-0.5, 0.5, (8000, 1)).astype(np.float32)
  nan[100:200] = np.nan
  soundfile.write(str(d / "nan.wav"), nan, 16000, subtype="FLOAT")
  _noise(str(d / "short.wav"), seconds=0.02, rate=16000, channels=1)
  (d / "corrupt.ogg").write_bytes(b"OggS" + bytes(range(256)) * 8)
  (d / "headerless.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk\x04\x00\x00\x00abcd")
  rows = [
      ({"path": "good.wav", "caption": "noise burst"}, None),
      ({"path": "good.flac", "caption": "hiss", "start": 0.25, "end": 0.75}, None),
      ({"path": "flac_named.wav", "caption": "hiss again"}, None),
      ({"path": "truncated.wav", "caption": "cut short"}, mf.TRUNCATED),
      ({"path": "text.wav", "caption": "a text file"}, mf.WRONG_FORMAT),
      ({"path": "empty.wav", "caption": "nothing"}, mf.EMPTY),
      ({"path": "silent.wav", "caption": "digital silence"}, mf.SILENT),
      ({"path": "nan.wav", "caption": "broken floats"}, mf.NAN),
      ({"path": "short.wav", "caption": "a click"}, mf.TOO_SHORT),
      ({"path": "corrupt.ogg", "caption": "garbage"}, mf.CORRUPT),
      ({"path": "headerless.wav", "caption": "no fmt chunk"}, mf.CORRUPT),
      ({"path": "gone.wav", "caption": "deleted"}, mf.MISSING),
      ({"path": "good.wav", "caption": "   "}, mf.BAD_CAPTION),
      ({"path": "good.wav", "caption": 7}, mf.BAD_CAPTION),
  ]
  lines = [json.dumps(o).encode() + b"\n" for o, _ in rows]
  # A caption with raw Latin-1 bytes: the file is not valid UTF-8 on that line.
  lines.append(b'{"path": "good.wav", "caption": "caf\xe9 ambience"}\n')
  reasons = [r for _, r in rows] + [mf.BAD_CAPTION]
  path = d / "manifest.jsonl"
  path.write_bytes(b"".join(lines))
  return str(path), reasons


def test_bad_input_is_skipped_with_the_right_reason(tmp_path):
  path, reasons = _bad_input_corpus(tmp_path)
  entries = mf.read_manifest(path)
  assert len(entries) == len(reasons)
  for entry, want in zip(entries, reasons):  # one at a time, so each reason is pinned to a file
    counter = mf.SkipCounter()
    example = mf.load_example(entry, sample_rate=16000, channels=1, min_duration=0.1,
                              counter=counter)
    if want is None:
      assert example is not None, (entry.path, counter.summary(details=True))
      assert counter.kept == 1 and not counter.counts
    else:
      assert example is None, entry.path
      assert dict(counter.counts) == {want: 1}, (entry.path, counter.summary(details=True))


def test_iter_examples_never_raises_and_summarises(tmp_path):
  path, reasons = _bad_input_corpus(tmp_path)
  counter = mf.SkipCounter()
  examples = list(mf.iter_examples(mf.read_manifest(path), counter=counter, sample_rate=16000,
                                   channels=1, min_duration=0.1))
  assert [os.path.basename(e.entry.path) for e in examples] == ["good.wav", "good.flac",
                                                                 "flac_named.wav"]
  for ex in examples:  # resampled to 16 kHz mono, float32
    assert ex.sample_rate == 16000 and ex.audio.shape[0] == 1 and ex.audio.dtype == np.float32
  assert examples[0].audio.shape[1] == 8000  # 0.5 s of 22.05 kHz stereo -> 16 kHz mono
  assert examples[1].audio.shape[1] == 8000  # start 0.25, end 0.75 of a 44.1 kHz file
  want = {}
  for r in reasons:
    if r:
      want[r] = want.get(r, 0) + 1
  assert dict(counter.counts) == want and counter.kept == 3
  text = counter.summary(details=True)
  assert text.startswith(f"kept 3, skipped {sum(want.values())} (")
  assert "text.wav: named .wav but holds text" in text


def test_max_duration_reads_only_the_head(tmp_path):
  wav = _noise(str(tmp_path / "long.wav"), seconds=3.0, rate=8000, channels=1)
  ex = mf.load_example(mf.Entry(path=wav, caption="long"), max_duration=1.0)
  assert ex.audio.shape == (1, 8000)


def test_skip_counter_update_merges():
  a, b = mf.SkipCounter(), mf.SkipCounter()
  a.keep()
  a.skip(mf.SILENT, "x.wav")
  b.skip(mf.SILENT, "y.wav")
  b.skip(mf.NAN, "z.wav")
  a.update(b)
  assert a.kept == 1 and a.counts == {mf.SILENT: 2, mf.NAN: 1} and a.skipped == 3
  assert a.as_dict()["examples"][mf.SILENT] == ["x.wav", "y.wav"]
