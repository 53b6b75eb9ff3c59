"""The `debian` corpus: fetch the small set (cached under the repo's ignored data/ folder), check
its manifests, audio and splits; caption and split rules on their own."""
import json
import os
import subprocess
import sys
import wave
import zipfile

import numpy as np
import pytest

from soundgen_jax.data.corpora import debian
from soundgen_jax.data.corpora import manifest as mf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "data", "debian")


@pytest.fixture(scope="module")
def corpus():
  """Builds the small set once (fast on re-runs: built sources are skipped)."""
  summary = debian.fetch(["small"], DATA, log=lambda msg: None)
  assert not summary["failed"], summary["failed"]
  return summary


def _small_entries(split):
  return [e for e in debian.load_split(split, DATA) if e.source in debian.SMALL]


def test_small_set_sizes_and_skips(corpus):
  stats = {s["source"]: s for s in corpus["sources"]}
  opensfx, desktop = stats["openttd-opensfx"], stats["sound-theme-freedesktop"]
  # opensfx.cat holds 73 samples, two of them empty placeholders ("Unused/Nothing").
  assert opensfx["clips"] == 71 and opensfx["skipped"] == {mf.EMPTY: 2}
  # 35 .oga names, 8 of them symlinks to other files.
  assert desktop["clips"] == 27 and desktop["skipped"] == {"duplicate": 8}
  assert 0.04 < opensfx["hours"] < 0.05 and 0.005 < desktop["hours"] < 0.02


def test_manifest_fields_and_audio(corpus):
  entries = _small_entries("all")
  assert {e.source for e in entries} == set(debian.SMALL)
  for e in entries:
    assert os.path.isfile(e.path), e.path
    assert isinstance(e.caption, str) and e.caption.strip() and mf.check_caption(e.caption) is None
    assert e.split in debian.SPLITS
    assert e.meta["duration"] >= debian.MIN_DURATION and e.meta["sample_rate"] > 0
    assert isinstance(e.meta["tags"], list) and e.meta["group"]
  by_source = {}
  for e in entries:
    by_source.setdefault(e.source, []).append(e)
  for source, items in by_source.items():
    folder = os.path.join(DATA, source)
    assert os.path.getsize(os.path.join(folder, "copyright")) > 100
    with open(os.path.join(folder, "manifest.jsonl"), encoding="utf-8") as f:
      first = json.loads(f.readline())
    assert not os.path.isabs(first["path"])  # relative to the package manifest's folder
    # Every clip decodes through the robust reader, resampled to 16 kHz mono.
    counter = mf.SkipCounter()
    examples = list(mf.iter_examples(items, counter=counter, sample_rate=16000, channels=1,
                                     min_duration=debian.MIN_DURATION))
    assert counter.kept == len(items) and not counter.counts, counter.summary(details=True)
    for ex in examples[:5]:
      assert ex.audio.shape[0] == 1 and ex.sample_rate == 16000
      assert abs(ex.audio.shape[1] / 16000 - ex.entry.meta["duration"]) < 0.01


def test_opensfx_titles_become_captions(corpus):
  captions = {os.path.basename(e.path): e for e in _small_entries("all")
              if e.source == "openttd-opensfx"}
  lion = captions["67_tropical_lion_roar.wav"]
  assert lion.caption == "lion roar in the tropics"
  assert "elaine-growl.wav" in lion.meta["credit"]
  assert captions["03_factory_whistle.wav"].caption == "factory whistle"


def test_splits_hold_out_whole_groups(corpus):
  groups = {}
  for split in debian.SPLITS:
    entries = _small_entries(split)
    for source in debian.SMALL:
      assert any(e.source == source for e in entries), (split, source)
    groups[split] = {(e.source, e.meta["group"]) for e in entries}
  assert not groups["train"] & groups["valid"]
  assert not groups["train"] & groups["test"]
  assert not groups["valid"] & groups["test"]
  together = sum(len(_small_entries(s)) for s in debian.SPLITS)
  assert together == len(_small_entries("all"))


def test_cli_is_idempotent_and_summarises(corpus):
  r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "fetch_corpus.py"),
                      "--packages", "small", "--out", DATA], capture_output=True, text=True,
                     timeout=300)
  assert r.returncode == 0, r.stderr
  assert "openttd-opensfx: already built" in r.stdout
  assert "sound-theme-freedesktop: already built" in r.stdout
  assert "downloading" not in r.stdout
  total = [l for l in r.stdout.splitlines() if l.startswith("total")]
  assert total and int(total[0].split()[1]) >= 98


def test_cli_bad_package_name_is_one_line(tmp_path):
  r = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "fetch_corpus.py"),
                      "--packages", "Not_A_Package!", "--out", str(tmp_path)],
                     capture_output=True, text=True, timeout=60)
  assert r.returncode == 1
  assert r.stderr.strip().count("\n") == 0 and "not a package name" in r.stderr


def test_missing_corpus_says_how_to_fetch(tmp_path):
  with pytest.raises(mf.DataNotFoundError, match=r"fetch_corpus.py --packages small"):
    debian.load_split("train", str(tmp_path / "nothing"))


# --- rules, without fetching ----------------------------------------------------------------

def test_words_and_captions():
  assert debian.words("airplane_jetEngine-2") == "airplane jet engine"
  assert debian.words("WilhelmScream") == "wilhelm scream"
  assert debian.caption_openttd("Toyland: Comedy bus start (1)") == (
      "comedy bus start in a cartoon toy world")
  assert debian.caption_openttd("Truck/old bus start, pull away") == (
      "truck or old bus start, pull away")
  assert debian.caption_0ad("audio/attack/impact/arrow_wood_06.ogg", "arrow_wood") == (
      "arrow impact on wood, attack")
  assert debian.caption_0ad("audio/music/Honor_Bound.ogg").startswith('"Honor Bound", music')
  assert debian.caption_0ad("audio/voice/hellenes/civ/female/civ_female_my_lord_1.ogg") == (
      "a female hellenes voice: my lord")
  caption, transcript = debian.caption_hedgewars_voice("Pirate", "Leavemealone")
  assert caption == 'a pirate voice exclaims "leave me alone"' and transcript == "leave me alone"
  caption, transcript = debian.caption_hedgewars_voice("Default_ru", "Hello")
  assert "in Russian" in caption and transcript is None
  assert debian.score_title("haydn/opus1no1/movement5.mxl") == "opus 1 no 1, movement 5"
  assert debian.score_title("bach/bwv1.6.mxl") == "chorale BWV 1.6"
  assert debian.caption_music("Battle Epic", "Doug Kaufman", "Romantic Classical",
                              context="from a game") == (
      'romantic classical music, "Battle Epic" by Doug Kaufman, from a game')


def test_assign_splits_is_deterministic_and_by_group():
  clips = [debian.Clip(f"{g}/{i}.wav", "c", f"g{g}", [])
           for g in range(40) for i in range(g % 3 + 1)]
  a = debian.assign_splits(clips, "src")
  assert a == debian.assign_splits(list(clips), "src")
  split_of = {}
  for clip, split in zip(clips, a):
    assert split_of.setdefault(clip.group, split) == split  # a group never straddles splits
  for split in ("valid", "test"):
    n = a.count(split)
    assert 0.05 * len(clips) <= n <= 0.1 * len(clips) + 2
  # Too few groups: everything trains.
  assert set(debian.assign_splits(clips[:3], "src")) == {"train"}


def _tiny_wav(path, seconds=0.2, rate=8000):
  x = (np.random.default_rng(0).uniform(-0.5, 0.5, int(seconds * rate)) * 32767).astype("<i2")
  with wave.open(path, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(x.tobytes())


def test_0ad_extractor_on_a_miniature_public_zip(tmp_path):
  """0ad-data is 1.4 GB, so its zip layout (audio/ + sound group .xml) is checked in miniature."""
  root, out = tmp_path / "root", tmp_path / "out"
  public = root / "usr/share/games/0ad/mods/public"
  public.mkdir(parents=True)
  out.mkdir()
  _tiny_wav(str(tmp_path / "a.wav"))
  with zipfile.ZipFile(public / "public.zip", "w") as z:
    for name in ("audio/attack/impact/arrow_wood_01.wav", "audio/attack/impact/arrow_wood_02.wav",
                 "audio/music/Honor_Bound.wav", "art/textures/skip_me.wav"):
      z.write(tmp_path / "a.wav", name)
    z.writestr("audio/attack/impact/arrow_wood.xml",
               "<SoundGroup><Path>audio/attack/impact/</Path><Sound>arrow_wood_01.wav</Sound>"
               "<Sound>arrow_wood_02.wav</Sound></SoundGroup>")
  clips = debian.extract_0ad(str(root), str(out), mf.SkipCounter())
  got = {c.path: (c.caption, c.group) for c in clips}
  assert got["audio/attack/impact/arrow_wood_01.wav"] == (
      "arrow impact on wood, attack", "attack/impact")
  assert got["audio/music/Honor_Bound.wav"][1] == "music/Honor_Bound"
  assert len(got) == 3 and not os.path.exists(out / "art")
