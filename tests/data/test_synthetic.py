"""The built-in synthetic corpus: format, determinism, splits, levels, captions."""
import re

import numpy as np
import pytest

from soundgen_jax.data.corpora import synthetic
from soundgen_jax.data.corpora.synthetic import SyntheticCorpus


@pytest.fixture(scope="module")
def corpus():
  return SyntheticCorpus(sample_rate=16000, duration=2.0, seed=7)


def test_example_format(corpus):
  for i in range(10):  # One full cycle: every kind.
    ex = corpus.example("train", i)
    assert set(ex) == {"audio", "caption", "attributes", "sample_rate", "id"}
    assert ex["audio"].dtype == np.float32 and ex["audio"].shape == (1, 32000)
    assert ex["sample_rate"] == 16000
    assert ex["id"] == f"synthetic-train-{i:08d}"
    assert ex["attributes"]["kind"] in synthetic.KINDS
    assert ex["caption"] == synthetic.caption(ex["attributes"])
  kinds = {corpus.example("test", i)["attributes"]["kind"] for i in range(10)}
  assert kinds == set(synthetic.KINDS)


def test_same_seed_same_audio():
  a = SyntheticCorpus(16000, 2.0, seed=3)
  b = SyntheticCorpus(16000, 2.0, seed=3)
  for i in (0, 5, 123):
    ea, eb = a.example("train", i), b.example("train", i)
    np.testing.assert_array_equal(ea["audio"], eb["audio"])
    assert ea["caption"] == eb["caption"] and ea["attributes"] == eb["attributes"]
  # The iterator yields the same examples as direct indexing.
  it = a.examples("validation", start=4)
  for i in range(4, 7):
    np.testing.assert_array_equal(next(it)["audio"], a.example("validation", i)["audio"])


def test_splits_and_seeds_differ(corpus):
  for i in (0, 1, 3):
    clips = [corpus.example(s, i)["audio"] for s in synthetic.SPLITS]
    clips.append(SyntheticCorpus(16000, 2.0, seed=8).example("train", i)["audio"])
    for j in range(len(clips)):
      for k in range(j):
        assert not np.array_equal(clips[j], clips[k])
  np.testing.assert_array_equal(corpus.example("valid", 2)["audio"],
                                corpus.example("validation", 2)["audio"])


def test_levels(corpus):
  peaks = np.array([np.abs(corpus.example("train", i)["audio"]).max() for i in range(60)])
  assert np.all(peaks < 1.0) and np.all(peaks > 0.03)
  for i in range(60):
    assert np.isfinite(corpus.example("train", i)["audio"]).all()
  # Loudness words are honest: every "soft" note peaks below every "loud" one.
  notes = [corpus.example("train", i) for i in range(0, 200, 10)]
  soft = [np.abs(e["audio"]).max() for e in notes if e["attributes"].get("loudness") == "soft"]
  loud = [np.abs(e["audio"]).max() for e in notes if e["attributes"].get("loudness") == "loud"]
  assert soft and loud and max(soft) < 0.2 < min(loud)


def test_rate_duration_and_kinds_are_options():
  c = SyntheticCorpus(sample_rate=32000, duration=1.5, kinds=["drums", "siren"])
  kinds = [c.example("train", i)["attributes"]["kind"] for i in range(6)]
  assert kinds == ["drums", "siren"] * 3
  assert c.example("train", 0)["audio"].shape == (1, 48000)


def test_captions():
  cap = synthetic.caption
  assert cap({"kind": "note", "instrument": "flute", "pitch": "A4", "loudness": "soft"}) == (
      "a soft flute playing A4")
  assert cap({"kind": "note", "instrument": "organ", "pitch": "C#3"}) == "an organ playing C#3"
  assert cap({"kind": "chord", "instrument": "piano", "root": "F#", "quality": "minor"}) == (
      "an F# minor chord on the piano")
  assert cap({"kind": "drums", "tempo": 120}) == "a drum beat at 120 BPM"
  assert cap({"kind": "noise", "colour": "pink", "envelope": "fade_out"}) == (
      "pink noise fading out")
  assert cap({"kind": "siren", "direction": "rising"}) == "a siren rising"
  bell = {"kind": "note", "instrument": "bell", "pitch": "C5"}
  assert cap({"kind": "sequence", "parts": [bell, {"kind": "noise", "colour": "brown"}]}) == (
      "a bell playing C5 followed by brown noise")
  assert cap({"kind": "mix", "parts": [bell, {"kind": "drums", "tempo": 90}]}) == (
      "a bell playing C5 over a drum beat at 90 BPM")


def test_attributes_match_captions(corpus):
  for i in range(40):
    ex = corpus.example("test", i)
    a, text = ex["attributes"], ex["caption"]
    if a["kind"] == "note":
      assert re.fullmatch(r"an? (soft|loud) [a-z ]+ playing [A-G]#?\d", text), text
      assert synthetic.note_to_midi(a["pitch"]) == a["midi"]
      assert synthetic.NOTE_RANGE[0] <= a["midi"] <= synthetic.NOTE_RANGE[1]
    elif a["kind"] == "drums":
      assert synthetic.TEMPO_RANGE[0] <= a["tempo"] <= synthetic.TEMPO_RANGE[1]
      assert f"{a['tempo']} BPM" in text
    elif a["kind"] == "sequence":
      first, second = a["parts"]
      assert text == f"{synthetic.caption(first)} followed by {synthetic.caption(second)}"
      # The two parts are of different coarse kinds, so their order can be heard.
      assert synthetic.coarse_kind(first["kind"]) != synthetic.coarse_kind(second["kind"])
      assert a["order"] == [first["kind"], second["kind"]]
    elif a["kind"] == "mix":
      assert a["parts"][0]["kind"] in ("note", "chord", "siren")
      assert a["parts"][1]["kind"] in ("drums", "noise")
      assert " over " in text


def test_note_names():
  assert synthetic.midi_to_note(69) == "A4" and synthetic.midi_to_note(49) == "C#3"
  assert synthetic.note_to_midi("A4") == 69 and synthetic.note_to_midi("C#3") == 49
  assert synthetic.note_to_midi("Db3") == 49 and synthetic.note_to_midi("C-1") == 0
  assert synthetic.pitch_class("Bb") == 10 and synthetic.pitch_class("E4") == 4
  assert all(synthetic.note_to_midi(synthetic.midi_to_note(m)) == m for m in range(0, 128))
  for bad in ("H4", "A", "C##4", ""):
    with pytest.raises(ValueError, match="not a note name"):
      synthetic.note_to_midi(bad)


def test_bad_arguments(corpus):
  with pytest.raises(ValueError, match="unknown split"):
    corpus.example("training", 0)
  with pytest.raises(ValueError, match="index"):
    corpus.example("train", -1)
  with pytest.raises(ValueError, match="unknown kinds"):
    SyntheticCorpus(kinds=["note", "violin"])
  with pytest.raises(ValueError, match="too low"):
    SyntheticCorpus(sample_rate=4000)
  with pytest.raises(ValueError, match="too short"):
    SyntheticCorpus(duration=0.5)
