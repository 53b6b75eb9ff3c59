"""A real-audio text-audio corpus built from Debian packages: sound effects, speech, music.

`fetch()` downloads packages with `apt-get download`, unpacks them with `dpkg-deb -x` (no root
install), keeps their audio and copyright file, captions every clip from its paths, titles, tags
and metadata (as AudioGen turned tags into text), decodes every clip once to drop bad ones, holds
out whole groups for validation and test, and writes JSONL manifests (see manifest.py).

Data folder layout (default data/debian):

  <package>/copyright          the package's Debian copyright file (licences of the audio)
  <package>/...                its audio, under shortened package paths
  <package>/manifest.jsonl     its clips; `path` is relative to this folder
  <package>/skipped.json       files left out, counted by reason, with examples
  train.jsonl valid.jsonl test.jsonl all.jsonl
                               every fetched package together; `path` relative to the data folder
  summary.json                 clips, hours and skips per source
  _cache/, _staging/, _tools/  downloads and unpacked trees (transient), fluidsynth for MIDI

Splits: each source's clips carry a `group` (a sub-folder, recording, voice pack, album track or
composer: clips that share material). Groups are ordered by the SHA-1 of "<source>/<group>" and
taken whole into test, then valid, until each holds HOLDOUT of the source's clips (a group that
would overshoot twice that is passed over); the rest is train. So the split of a clip never
changes between runs or machines, and no group straddles two splits.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import glob
import hashlib
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
import zipfile
from typing import Callable, Iterable, Sequence

import soundfile

from soundgen_jax.data.corpora import manifest as mf

DEFAULT_DIR = os.path.join("data", "debian")
SMALL = ("openttd-opensfx", "sound-theme-freedesktop")
MUSIC21 = "music21-midi"  # scores from the PyPI package music21, rendered with fluidsynth
LARGE = ("0ad-data", "supertuxkart-data", "hedgewars-data", "tuxpaint-stamps-default",
         "wesnoth-1.16-music", "warzone2100-music", MUSIC21)
SPLITS = ("train", "valid", "test")
HOLDOUT = 0.05        # share of each source's clips held out for valid, and again for test
MIN_DURATION = 0.05   # seconds; shorter clips are dropped when the corpus is built
SILENCE_PEAK = 1e-3   # clips whose peak is below this (-60 dBFS) are dropped as silent
MIDI_RATE = 32000     # sample rate of rendered MIDI
MIDI_MAX_SECONDS = 240  # longer scores are passed over
FETCH_HINT = "run: python scripts/fetch_corpus.py --packages small"


class FetchError(RuntimeError):
  """A failure the user can act on (no apt-get, no network, bad package name); one line."""


@dataclasses.dataclass
class Clip:
  """A clip found by an extractor, before decoding and split assignment."""
  path: str                     # relative to the package folder
  caption: str
  group: str                    # clips sharing material; held out together
  tags: list[str]
  meta: dict = dataclasses.field(default_factory=dict)


# --- captions from names, paths and metadata ------------------------------------------------

def words(name: str) -> str:
  """'airplane_jetEngine-2' -> 'airplane jet engine': split camelCase, _ and -, drop numbering."""
  name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
  name = re.sub(r"[_\-.]+", " ", name)
  name = re.sub(r"(?<=[A-Za-z])\d+\b|\b\d+\b", " ", name)
  return " ".join(name.lower().split())


_OPENTTD_PLACES = {"toyland": "in a cartoon toy world", "tropical": "in the tropics",
                   "lumber mill": "at a lumber mill"}


def caption_openttd(title: str) -> str:
  """'Toyland: Comedy bus start (1)' -> 'comedy bus start in a cartoon toy world'."""
  title = re.sub(r"\s*\(\d+\)\s*$", "", title.strip())
  place = ""
  m = re.match(r"^([A-Za-z ]+):\s*(.+)$", title)
  if m:
    place, title = m[1].strip().lower(), m[2]
  title = re.sub(r"\s*\(([^)]*)\)?", r", \1", title).replace("/", " or ")
  text = title.lower()
  if place:
    text += " " + _OPENTTD_PLACES.get(place, f"({place})")
  return text


def caption_freedesktop(stem: str) -> str:
  """Desktop event sounds; the audio-channel-* files are a voice naming the channel."""
  m = re.match(r"audio-channel-(.+)", stem)
  if m:
    return f'a voice says "{words(m[1])}", naming a loudspeaker channel'
  return f"{words(stem)}, a short desktop alert sound"


_MATERIALS = ("wood", "metal", "stone", "dirt", "flesh", "shield", "grass", "gravel", "sand",
              "snow", "rock", "water")
_0AD_SKIP = {"audio", "actor", "civ", "global", "generic", "gen"}


def caption_0ad(rel: str, soundgroup: str | None = None) -> str:
  """0 A.D. audio path (+ the name of its sound group file) -> caption.

  'audio/attack/impact/arrow_wood_06.ogg' -> 'arrow impact on wood, attack';
  'audio/music/Honor_Bound.ogg' -> '"Honor Bound", music from ...';
  'audio/voice/hellenes/civ/female/civ_female_my_lord_1.ogg' -> 'a female hellenes voice: my lord'.
  """
  parts = [p for p in rel.split("/") if p]
  if parts and parts[0] == "audio":
    parts = parts[1:]
  folders, stem = parts[:-1], os.path.splitext(parts[-1])[0]
  name = words(soundgroup or stem)
  top = folders[0] if folders else ""
  if top == "music":
    title = re.sub(r"\s*\d+$", "", stem.replace("_", " ")).strip()
    return f'"{title}", music from the soundtrack of an ancient-warfare strategy game'
  if top == "voice" and len(folders) > 1:
    tokens = name.split()
    gender = next((t for t in tokens if t in ("male", "female")), "")
    phrase = " ".join(t for t in tokens if t not in ("civ", "male", "female"))
    who = " ".join(x for x in (gender, words(folders[1]), "voice") if x)
    return f"a {who}: {phrase}" if phrase else f"a {who}"
  tokens = name.split()
  if "impact" in folders and len(tokens) > 1 and tokens[-1] in _MATERIALS:
    name = f"{' '.join(tokens[:-1])} impact on {tokens[-1]}"
  context = [words(f) for f in reversed(folders) if f not in _0AD_SKIP and f != "impact"]
  context = [c for c in context if c and c not in name]
  return ", ".join([name] + context)


_HEDGEWARS_PHRASES = {
    "byebye": "bye bye", "comeonthen": "come on then", "cutitout": "cut it out",
    "enemydown": "enemy down", "firstblood": "first blood", "flyaway": "fly away",
    "gonnagetyou": "gonna get you", "illgetyou": "I'll get you", "justyouwait": "just you wait",
    "leavemealone": "leave me alone", "ohdear": "oh dear", "runaway": "run away",
    "sameteam": "same team", "solong": "so long", "takecover": "take cover",
    "thisoneismine": "this one is mine", "watchit": "watch it", "watchthis": "watch this",
    "whatthe": "what the", "yessir": "yes sir", "youllregretthat": "you'll regret that",
}
_HEDGEWARS_NOISES = {
    "firepunch": "shouts while throwing a punch", "hmm": "hums thoughtfully",
    "jump": "grunts while jumping", "laugh": "laughs", "ooff": "grunts from a hit",
    "ow": "cries out in pain", "poisoncough": "coughs", "poisonmoan": "moans",
}
_HEDGEWARS_VOICES = {"default": "a cartoon hedgehog", "classic": "a cartoon hedgehog",
                     "robot": "a robotic voice", "singer": "a singing voice",
                     "russian": "a Russian-accented voice", "british": "a British voice"}
LANGUAGES = {
    "be": "Belarusian", "bg": "Bulgarian", "ca": "Catalan", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "en_GB": "British English", "es": "Spanish", "fi": "Finnish",
    "fr": "French", "it": "Italian", "ja": "Japanese", "lt": "Lithuanian", "ml": "Malayalam",
    "nl": "Dutch", "nn": "Norwegian Nynorsk", "pl": "Polish", "pt": "Portuguese",
    "pt_BR": "Brazilian Portuguese", "ro": "Romanian", "ru": "Russian", "sl": "Slovenian",
    "sv": "Swedish", "uk": "Ukrainian", "zh_tw": "Chinese (Taiwan)", "zh_TW": "Chinese (Taiwan)",
}


def caption_hedgewars_voice(pack: str, stem: str) -> tuple[str, str | None]:
  """(caption, transcript or None) for a voice line of a Hedgewars voice pack."""
  base, _, lang = pack.partition("_")
  key = re.sub(r"\d+$", "", stem).replace("-", "").lower()
  voice = _HEDGEWARS_VOICES.get(base.lower(), f"a {words(base)} voice")
  if lang:
    language = LANGUAGES.get(lang, lang)
    return f"{voice} shouts a short game phrase in {language}", None
  if key in _HEDGEWARS_NOISES:
    return f"{voice} {_HEDGEWARS_NOISES[key]}", None
  phrase = _HEDGEWARS_PHRASES.get(key, words(stem) if stem != "Uh-oh" else "uh-oh")
  return f'{voice} exclaims "{phrase}"', phrase


def caption_music(title: str | None, artist: str | None = None, genre: str | None = None,
                  context: str | None = None, extra: Sequence[str] = ()) -> str:
  """'romantic classical music, "Battle Epic" by Doug Kaufman, from a fantasy game soundtrack'."""
  head = f"{genre.lower()} music" if genre else "music"
  text = head + (f', "{title}"' if title else "") + (f" by {artist}" if artist else "")
  return ", ".join([text] + [e for e in extra if e] + ([context] if context else []))


# --- extractors: unpacked package tree -> clips under the package folder --------------------

Extractor = Callable[[str, str, mf.SkipCounter], list]


def _take(root: str, rel: str, out: str, dest: str) -> str:
  """Moves root/rel to out/dest (dest relative to out); returns dest."""
  target = os.path.join(out, dest)
  os.makedirs(os.path.dirname(target), exist_ok=True)
  shutil.move(os.path.join(root, rel), target)
  return dest


def _audio_files(folder: str) -> list[str]:
  """Audio files under folder (relative, sorted), symlinks included."""
  found = []
  for dirpath, _, names in os.walk(folder):
    for name in names:
      if os.path.splitext(name)[1].lower() in mf.AUDIO_EXTENSIONS:
        found.append(os.path.relpath(os.path.join(dirpath, name), folder))
  return sorted(found)


def _drop(root: str, rel: str, skips: mf.SkipCounter, reason: str, detail: str) -> None:
  """Counts a file left out and removes it, so it is not counted again as unused."""
  skips.skip(reason, f"{rel}: {detail}")
  os.remove(os.path.join(root, rel))


def _skip_links(folder: str, rels: Iterable[str], skips: mf.SkipCounter) -> list[str]:
  kept = []
  for rel in rels:
    path = os.path.join(folder, rel)
    if os.path.islink(path):
      _drop(folder, rel, skips, "duplicate", f"a link to {os.readlink(path)}")
    else:
      kept.append(rel)
  return kept


def extract_openttd(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """opensfx.cat: a table of (offset | 1 << 31, size) pairs, then per sample a length byte, its
  title ('"Factory Whistle". By Janis Lukss. License: ...', NUL-ended) and `size` bytes of a
  RIFF WAVE file."""
  cat = os.path.join(root, "usr/share/games/openttd/baseset/opensfx/opensfx.cat")
  with open(cat, "rb") as f:
    data = f.read()
  shutil.copy(os.path.join(os.path.dirname(cat), "license.txt"), os.path.join(out, "license.txt"))
  count = (struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF) // 8
  clips = []
  for i in range(count):
    offset, size = struct.unpack_from("<II", data, 8 * i)
    offset &= 0x7FFFFFFF
    name_len = data[offset]
    label = data[offset + 1:offset + 1 + name_len].rstrip(b"\0").decode("utf-8", "replace")
    wav = data[offset + 1 + name_len:offset + 1 + name_len + size]  # size: the RIFF's bytes
    m = re.match(r'^"([^"]+)"\.?\s*(.*)$', label)
    title, credit = (m[1], m[2]) if m else (label, "")
    if not wav.startswith(b"RIFF"):
      skips.skip("no_audio", f"sample {i} ({title}): {len(wav)} bytes, no RIFF data")
      continue
    rel = f"sounds/{i:02d}_{re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')}.wav"
    os.makedirs(os.path.join(out, "sounds"), exist_ok=True)
    with open(os.path.join(out, rel), "wb") as f:
      f.write(wav)
    original = re.search(r'Original "([^"]+)"', credit)  # edits of one recording stay together
    group = original[1].lower() if original else re.sub(r"\s*\(\d+\)$", "", title).lower()
    place = title.split(":")[0].lower() if ":" in title else None
    clips.append(Clip(rel, caption_openttd(title), group,
                      ["sound effect", "game"] + ([place] if place else []),
                      {"title": title, "credit": credit}))
  return clips


def extract_freedesktop(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  base = os.path.join(root, "usr/share/sounds/freedesktop")
  clips = []
  for rel in _skip_links(base, _audio_files(base), skips):
    stem = os.path.splitext(os.path.basename(rel))[0]
    dest = _take(base, rel, out, rel)
    voice = stem.startswith("audio-channel-")
    group = "audio-channel" if voice else stem.split("-")[0]
    tags = ["speech"] if voice else ["sound effect", "desktop"]
    clips.append(Clip(dest, caption_freedesktop(stem), group, tags))
  return clips


def extract_0ad(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """0 A.D. ships its data as mods/public/public.zip; audio/ holds .ogg files and sound group
  .xml files whose names describe the sounds they list."""
  zips = glob.glob(os.path.join(root, "usr/share/games/0ad/mods/public/*.zip"))
  loose = os.path.join(root, "usr/share/games/0ad/mods/public")
  if zips:
    with zipfile.ZipFile(zips[0]) as z:
      members = [n for n in z.namelist() if n.startswith("audio/") and not n.endswith("/")]
      z.extractall(out, members=members)
  elif os.path.isdir(os.path.join(loose, "audio")):
    shutil.copytree(os.path.join(loose, "audio"), os.path.join(out, "audio"))
  else:
    raise FetchError("0ad-data: found neither public.zip nor an audio folder in the package")
  groups = {}
  for xml_path in glob.glob(os.path.join(out, "audio/**/*.xml"), recursive=True):
    try:
      tree = ET.parse(xml_path).getroot()
    except ET.ParseError:
      continue
    folder = (tree.findtext("Path") or "").strip().strip("/")
    for sound in tree.iter("Sound"):
      rel = os.path.normpath(os.path.join(folder, (sound.text or "").strip()))
      groups.setdefault(rel, os.path.splitext(os.path.basename(xml_path))[0])
    os.remove(xml_path)
  clips = []
  for rel in _audio_files(out):
    folders = rel.split("/")[1:-1]
    stem = os.path.splitext(os.path.basename(rel))[0]
    if folders[:1] == ["music"]:
      group, tags = f"music/{stem}", ["music"]
    else:
      group = "/".join(folders[:2]) or "audio"
      tags = ["speech" if folders[:1] == ["voice"] else "sound effect", "game"]
    clips.append(Clip(rel, caption_0ad(rel, groups.get(rel)), group, tags))
  return clips


def extract_supertuxkart(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  base = os.path.join(root, "usr/share/games/supertuxkart/data")
  music = {}  # ogg path -> (title, composer, fast)
  for spec in glob.glob(os.path.join(base, "**/*.music"), recursive=True):
    with open(spec, encoding="utf-8", errors="replace") as f:
      # Attributes read by pattern: some files hold a bare '<url>' that is not valid XML.
      attrs = dict(re.findall(r'([\w-]+)\s*=\s*"([^"]*)"', f.read()))
    title = html.unescape(attrs.get("title", ""))
    composer = re.sub(r"\s*<[^>]*>", "", html.unescape(attrs.get("composer", ""))).strip()
    folder = os.path.dirname(os.path.relpath(spec, base))
    for key, fast in (("file", False), ("fast-filename", True)):
      if attrs.get(key):
        music[os.path.normpath(os.path.join(folder, attrs[key]))] = (title, composer, fast)
  clips = []
  for rel in _audio_files(base):
    parts, stem = rel.split("/"), os.path.splitext(os.path.basename(rel))[0]
    if rel in music:
      title, composer, fast = music[rel]
      caption = caption_music(title, composer, context="from a kart racing game",
                              extra=["fast version"] if fast else ())
      clips.append(Clip(_take(base, rel, out, rel), caption, f"music/{title.lower()}", ["music"],
                        {"title": title, "artist": composer}))
      continue
    if parts[0] == "sfx":
      caption, group = f"{words(stem)}, kart racing game sound effect", f"sfx/{words(stem)}"
    elif parts[0] == "tracks":
      caption = f"{words(stem)}, sound on the {words(parts[1])} race track"
      group = f"tracks/{parts[1]}"
    elif parts[0] == "karts":
      caption, group = f"{words(stem)} of a racing kart", f"karts/{parts[1]}"
    else:
      caption, group = f"{words(stem)}, kart racing game sound", f"{parts[0]}/{words(stem)}"
    clips.append(Clip(_take(base, rel, out, rel), caption, group, ["sound effect", "game"]))
  return clips


def extract_hedgewars(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  base = os.path.join(root, "usr/share/games/hedgewars/Data")
  credits = {}
  credits_file = os.path.join(base, "Music/credits.txt")
  if os.path.exists(credits_file):
    with open(credits_file, encoding="utf-8", errors="replace") as f:
      for line in f:
        name, _, who = line.partition("=")
        credits[name.strip().lower()] = re.sub(r"\s*<[^>]*>", "", who).strip()
  clips = []
  for rel in _skip_links(base, _audio_files(base), skips):
    parts, stem = rel.split("/"), os.path.splitext(os.path.basename(rel))[0]
    dest = _take(base, rel, out, rel)
    if parts[0] == "Music":
      artist = credits.get(os.path.basename(rel).lower())
      caption = caption_music(f"{words(stem)} theme", artist, context="from a cartoon "
                              "artillery game with hedgehogs")
      clips.append(Clip(dest, caption, f"music/{stem.lower()}", ["music"]))
    elif parts[:2] == ["Sounds", "voices"]:
      caption, transcript = caption_hedgewars_voice(parts[2], stem)
      meta = {"transcript": transcript} if transcript else {}
      clips.append(Clip(dest, caption, f"voice/{parts[2]}", ["speech", "game"], meta))
    else:
      note = re.fullmatch(r"\d([A-G])", stem)
      caption = (f"a single piano note {note[1]}" if note else
                 f"{words(stem)}, cartoon artillery game sound effect")
      clips.append(Clip(dest, caption, f"sfx/{words(stem) or stem}", ["sound effect", "game"]))
  return clips


def _read_tuxpaint_text(path: str) -> dict[str, str]:
  """Tux Paint stamp text: the first line is English, then lines 'LANG.utf8=text'."""
  with open(path, encoding="utf-8") as f:  # bad UTF-8 raises; the caller skips the stamp
    lines = [line.strip() for line in f if line.strip()]
  texts = {"en": lines[0]} if lines and "=" not in lines[0] else {}
  for line in lines:
    key, sep, text = line.partition("=")
    if sep and key.endswith(".utf8") and text.strip():
      texts[key[:-5]] = text.strip()
  return texts


def extract_tuxpaint(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """Stamps: NAME.txt (descriptions), NAME.ogg (its sound), NAME_desc[_LANG].ogg (spoken
  description); under symbols/ a NAME[_LANG].ogg speaks the symbol's name."""
  base = os.path.join(root, "usr/share/tuxpaint/stamps")
  texts = {}
  clips = []
  for rel in _audio_files(base):
    folder, name = os.path.split(rel)
    stem = os.path.splitext(name)[0]
    desc = "_desc" in stem
    head, lang = stem, ""
    if desc:
      head, _, lang = stem.rpartition("_desc")
      lang = lang.lstrip("_")
    elif not os.path.exists(os.path.join(base, folder, stem + ".txt")):
      m = re.fullmatch(r"(.+?)_([a-z]{2,3}(?:_[A-Za-z]{2})?)", stem)  # NAME_LANG.ogg
      head, lang = (m[1], m[2]) if m else (stem, "")
    txt = os.path.join(base, folder, head + ".txt")
    if txt not in texts:
      try:
        texts[txt] = _read_tuxpaint_text(txt) if os.path.exists(txt) else {}
      except UnicodeDecodeError:
        texts[txt] = {}
        skips.skip("bad_text", f"{os.path.relpath(txt, base)}: not UTF-8")
    lookup = {k.lower(): v for k, v in texts[txt].items()}
    text = lookup.get((lang or "en").lower()) or lookup.get((lang or "en").split("_")[0].lower())
    group = "/".join(folder.split("/")[:2])
    spoken = desc or folder.startswith("symbols/")
    if not text:
      _drop(base, rel, skips, "no_text", f"no description for language {lang or 'en'}")
      continue
    dest = _take(base, rel, out, rel)
    if spoken:
      language = LANGUAGES.get(lang or "en", lang)
      caption = f'a voice says in {language}: "{text}"'
      clips.append(Clip(dest, caption, group, ["speech", language],
                        {"transcript": text, "language": lang or "en"}))
    else:
      thing = re.split(r"(?<=[a-z])\.\s", text)[0].rstrip(".")
      thing = thing[:1].lower() + thing[1:] if not thing[:2].isupper() else thing
      clips.append(Clip(dest, f"the sound of {thing}", group, ["sound effect"],
                        {"description": text}))
  return clips


def extract_wesnoth(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """Tracks carry Vorbis comments: title, artist, genre, date, album."""
  base = glob.glob(os.path.join(root, "usr/share/games/wesnoth/*/data/core/music"))[0]
  clips = []
  for rel in _audio_files(base):
    try:
      with soundfile.SoundFile(os.path.join(base, rel)) as f:
        tags = f.copy_metadata()
    except Exception as e:
      skips.skip(mf.CORRUPT, f"{rel}: {e}")
      continue
    stem = os.path.splitext(rel)[0]
    title = tags.get("title") or words(stem).title()
    caption = caption_music(title, tags.get("artist"), tags.get("genre"),
                            context="from a fantasy strategy game soundtrack")
    group = "music/" + re.sub(r"[-_]?(old|\d+)$", "", stem)  # frantic, frantic-old together
    clips.append(Clip(_take(base, rel, out, f"music/{rel}"), caption, group,
                      ["music"] + ([tags["genre"].lower()] if tags.get("genre") else []),
                      {k: tags[k] for k in ("title", "artist", "genre", "date", "album")
                       if tags.get(k)}))
  return clips


def extract_warzone(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """albums/*/album.json list each track's file, title and author (and a bpm, 80 by default)."""
  base = os.path.join(root, "usr/share/games/warzone2100/music")
  clips = []
  for album_json in sorted(glob.glob(os.path.join(base, "albums/*/album.json"))):
    with open(album_json, encoding="utf-8") as f:
      album = json.load(f)
    folder = os.path.dirname(os.path.relpath(album_json, base))
    for track in album.get("tracks", []):
      rel = os.path.join(folder, track["filename"])
      if not os.path.exists(os.path.join(base, rel)):
        skips.skip(mf.MISSING, rel)
        continue
      title = track.get("title") or words(track["filename"])
      # 80 is the value album.json gives tracks whose tempo was never set; do not trust it.
      bpm = track.get("bpm") if track.get("bpm") not in (None, 80) else None
      album_name = album.get("title", "")
      caption = caption_music(title, track.get("author") or album.get("author"),
                              context="from a science-fiction strategy game",
                              extra=[f'from the album "{album_name}" ({album.get("date")})'
                                     if album_name else "",
                                     f"{bpm} bpm" if bpm else ""])
      group = "music/" + re.sub(r"\s*-\s*enhanced$", "", title.lower())  # remaster == original
      meta = {"title": title, "album": album_name}
      if bpm:
        meta["bpm"] = bpm
      clips.append(Clip(_take(base, rel, out, rel), caption, group, ["music"], meta))
  return clips


def extract_generic(root: str, out: str, skips: mf.SkipCounter) -> list[Clip]:
  """Any other package: every audio file, captioned with the words of its path."""
  clips = []
  for rel in _skip_links(root, _audio_files(root), skips):
    folders = [words(p) for p in rel.split("/")[:-1]
               if p not in ("usr", "share", "games", "sounds", "data")]
    stem = words(os.path.splitext(os.path.basename(rel))[0])
    caption = ", ".join([stem] + [f for f in reversed(folders) if f and f != stem][:2])
    dest = _take(root, rel, out, rel.split("usr/share/", 1)[-1])
    clips.append(Clip(dest, caption, "/".join(rel.split("/")[:-1]), ["sound"]))
  return clips


EXTRACTORS: dict[str, Extractor] = {
    "openttd-opensfx": extract_openttd,
    "sound-theme-freedesktop": extract_freedesktop,
    "0ad-data": extract_0ad,
    "supertuxkart-data": extract_supertuxkart,
    "hedgewars-data": extract_hedgewars,
    "tuxpaint-stamps-default": extract_tuxpaint,
    "wesnoth-1.16-music": extract_wesnoth,
    "warzone2100-music": extract_warzone,
}


# --- MIDI scores from music21, rendered with an unpacked fluidsynth ---------------------------

_COMPOSERS = {
    "bach": "Johann Sebastian Bach", "beethoven": "Ludwig van Beethoven", "chopin": "Chopin",
    "corelli": "Arcangelo Corelli", "handel": "George Frideric Handel",
    "haydn": "Joseph Haydn", "joplin": "Scott Joplin", "josquin": "Josquin des Prez",
    "monteverdi": "Claudio Monteverdi", "mozart": "Wolfgang Amadeus Mozart",
    "palestrina": "Giovanni Pierluigi da Palestrina", "schubert": "Franz Schubert",
    "schumann_clara": "Clara Schumann", "schumann_robert": "Robert Schumann",
    "cpebach": "Carl Philipp Emanuel Bach", "verdi": "Giuseppe Verdi",
    "essenFolksong": "traditional (Essen folksong collection)",
    "oneills1850": "traditional Irish (O'Neill's collection)",
    "ryansMammoth": "traditional (Ryan's Mammoth Collection)",
    "airdsAirs": "traditional Scottish (Aird's Airs)", "trecento": "an Italian trecento composer",
}
# (caption name, music21 instrument class name); every part of a piece gets the same one.
_INSTRUMENTS = (("piano", "Piano"), ("church organ", "PipeOrgan"), ("harpsichord", "Harpsichord"),
                ("string ensemble", "StringInstrument"), ("flute", "Flute"),
                ("acoustic guitar", "AcousticGuitar"), ("choir", "Choir"),
                ("clarinet", "Clarinet"), ("vibraphone", "Vibraphone"), ("trumpet", "Trumpet"))
_TEMPI = (60, 72, 84, 96, 108, 120, 132)


def _stable(text: str) -> int:
  return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def extract_music21(root: str, out: str, skips: mf.SkipCounter, pieces: int = 100,
                    tools: str = "", log: Callable[[str], None] = print) -> list[Clip]:
  """Renders `pieces` scores of music21's corpus (round-robin over its composer folders)."""
  try:
    import music21  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise FetchError("music21 is not installed; run: pip install -e '.[corpus]'") from None
  fluidsynth, env, soundfont = _fluidsynth(tools, log)
  corpus_dir = os.path.dirname(music21.corpus.__file__)
  shutil.copy(os.path.join(corpus_dir, "license.txt"), os.path.join(out, "copyright"))
  shutil.copy(os.path.join(tools, "root/usr/share/doc/fluid-soundfont-gm/copyright"),
              os.path.join(out, "copyright.fluid-soundfont-gm"))
  by_folder = {}
  for path in sorted(music21.corpus.getPaths(fileExtensions=("mxl", "krn", "xml"))):
    folder = os.path.relpath(str(path), corpus_dir).split(os.sep)[0]
    if folder not in ("demos", "theoryExercises"):  # test files and exercises, not music
      by_folder.setdefault(folder, []).append(str(path))
  order = []  # round-robin over composer folders, so a few large folders do not dominate
  while any(by_folder.values()):
    for folder in sorted(by_folder):
      if by_folder[folder]:
        order.append((folder, by_folder[folder].pop(0)))
  clips = []
  midi_dir = os.path.join(root, "midi")
  os.makedirs(midi_dir, exist_ok=True)
  for folder, path in order:
    if len(clips) == pieces:
      break
    rel_score = os.path.relpath(path, corpus_dir)
    log(f"  [{len(clips) + 1}/{pieces}] rendering {rel_score}")
    try:
      with warnings.catch_warnings():  # music21 warns about every odd measure it repairs
        warnings.simplefilter("ignore")
        clip = _render_score(music21, path, rel_score, folder, midi_dir, out, fluidsynth, env,
                             soundfont)
    except _TooLong as e:
      skips.skip("too_long", f"{rel_score}: {e}")
      continue
    except Exception as e:  # one bad score is skipped, not the corpus
      skips.skip("render_failed", f"{rel_score}: {str(e).strip().splitlines()[0][:200]}")
      continue
    clips.append(clip)
  return clips


class _TooLong(Exception):
  pass


def score_title(rel_score: str) -> str:
  """A title from a corpus path: 'haydn/opus1no1/movement5.mxl' -> 'opus 1 no 1, movement 5',
  'bach/bwv1.6.mxl' -> 'chorale BWV 1.6'."""
  parts = os.path.splitext(rel_score)[0].split("/")[1:]
  if len(parts) == 1 and parts[0].startswith("bwv"):
    return f"chorale BWV {parts[0][3:]}"
  split = [re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])|[_\-]+", " ", p) for p in parts]
  return ", ".join(" ".join(p.split()) for p in split)


def _render_score(music21, path, rel_score, folder, midi_dir, out, fluidsynth, env, soundfont):
  score = music21.converter.parse(path)
  if isinstance(score, music21.stream.Opus):
    score = score.scores[0]
  meta = score.metadata
  title = (meta.title or meta.movementName or "") if meta else ""
  letters = sum(c.isalpha() or c.isspace() for c in title)
  if (not title or title.endswith((".mxl", ".krn", ".xml", ".musicxml"))  # a file name
      or letters < 0.7 * len(title)):  # or OCR debris such as ".lV.L"'!UCl'l.v"
    title = score_title(rel_score)
  title = " ".join(title.split())
  composer = (meta.composer if meta and meta.composer else None) or _COMPOSERS.get(folder, folder)
  composer = " ".join(composer.splitlines()[0].split())
  if composer.count(",") == 1:  # 'Chopin, Frederic' -> 'Frederic Chopin'
    composer = " ".join(p.strip() for p in reversed(composer.split(",")))
  marks = list(score.recurse().getElementsByClass("MetronomeMark"))
  bpm = int(round(marks[0].number)) if marks and marks[0].number else _TEMPI[
      _stable("tempo/" + rel_score) % len(_TEMPI)]
  seconds = float(score.highestTime) * 60 / bpm
  if seconds > MIDI_MAX_SECONDS:  # whole quartets and masses would dominate the hours
    raise _TooLong(f"{seconds:.0f} s at {bpm} bpm > {MIDI_MAX_SECONDS} s")
  key = score.analyze("key")
  key_name = f"{key.tonic.name.replace('-', ' flat').replace('#', ' sharp')} {key.mode}"
  instrument_name, cls = _INSTRUMENTS[_stable(rel_score) % len(_INSTRUMENTS)]
  score.remove(marks, recurse=True)
  parts = list(score.parts) or [score]
  for part in parts:
    part.remove(list(part.recurse().getElementsByClass("Instrument")), recurse=True)
    part.insert(0, getattr(music21.instrument, cls)())
  parts[0].insert(0, music21.tempo.MetronomeMark(number=bpm))
  name = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(rel_score)[0]).strip("_")
  try:
    midi = score.write("midi", fp=os.path.join(midi_dir, name + ".mid"))
  except Exception as e:  # badly formed repeats: play the score straight through instead
    if "repeat" not in str(e).lower():
      raise
    score.remove(list(score.recurse().getElementsByClass(
        ["Repeat", "RepeatExpression", "RepeatBracket"])), recurse=True)
    midi = score.write("midi", fp=os.path.join(midi_dir, name + ".mid"))
  wav = os.path.join(midi_dir, name + ".wav")
  _run_fluidsynth([fluidsynth, "-ni", "-q", "-g", "0.6", "-r", str(MIDI_RATE), "-F", wav,
                   soundfont, str(midi)], env, wav,  # repeats may double the written length
                  max_bytes=int((2 * seconds + 60) * MIDI_RATE * 4))
  rel = f"audio/{name}.flac"
  audio, rate = soundfile.read(wav, dtype="float32")
  os.makedirs(os.path.join(out, "audio"), exist_ok=True)
  soundfile.write(os.path.join(out, rel), audio, rate, subtype="PCM_16")
  os.remove(wav)
  played = "sung by a choir" if instrument_name == "choir" else f"played on {instrument_name}"
  caption = (f'"{title}" by {composer}, a MIDI rendering {played}, in {key_name} '
             f"at {bpm} bpm")
  return Clip(rel, caption, f"composer/{folder}", ["music", "midi", instrument_name],
              {"title": title, "composer": composer, "instrument": instrument_name,
               "key": key_name, "bpm": bpm, "score": rel_score})


def _run_fluidsynth(cmd: list[str], env: dict, wav: str, max_bytes: int) -> None:
  """Renders; stops fluidsynth once the 16-bit stereo output outgrows the score (a hanging
  note can make it render for hours)."""
  with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
    while proc.poll() is None:
      time.sleep(0.2)
      if os.path.exists(wav) and os.path.getsize(wav) > max_bytes:
        proc.kill()
        proc.wait()
        os.remove(wav)
        raise _TooLong("the rendering runs far past the end of the score")
    error = proc.stderr.read().decode(errors="replace").strip()
  if proc.returncode != 0:
    raise RuntimeError(f"fluidsynth exit {proc.returncode}: {error.splitlines()[-1:]}")


def _fluidsynth(tools: str, log: Callable[[str], None]) -> tuple[str, dict, str]:
  """fluidsynth + FluidR3 GM soundfont unpacked under `tools`, with the libraries it lacks."""
  prefix = os.path.join(tools, "root")
  stamp = os.path.join(tools, "ready")
  if not os.path.exists(stamp):
    needed = _missing_closure(["fluidsynth", "fluid-soundfont-gm"])
    log(f"  unpacking fluidsynth and {len(needed) - 1} packages it needs into {prefix}")
    for deb in _download(needed, os.path.join(tools, "debs")):
      _run(["dpkg-deb", "-x", deb, prefix])
      os.remove(deb)
    open(stamp, "w").close()
  lib_dirs = sorted({os.path.dirname(p) for p in glob.glob(os.path.join(prefix, "**/*.so*"),
                                                           recursive=True)})
  env = dict(os.environ, LD_LIBRARY_PATH=":".join(
      lib_dirs + [os.environ.get("LD_LIBRARY_PATH", "")]).strip(":"))
  binary = os.path.join(prefix, "usr/bin/fluidsynth")
  soundfont = os.path.join(prefix, "usr/share/sounds/sf2/FluidR3_GM.sf2")
  probe = subprocess.run([binary, "--version"], env=env, capture_output=True, text=True)
  if probe.returncode != 0:
    raise FetchError(f"the unpacked fluidsynth does not run: "
                     f"{(probe.stderr or probe.stdout).strip().splitlines()[-1:]}")
  return binary, env, soundfont


def _missing_closure(names: Sequence[str]) -> list[str]:
  """`names` plus every package they depend on (first alternative) that is not installed."""
  todo, seen, result = list(names), set(), []
  while todo:
    name = todo.pop(0)
    if name in seen:
      continue
    seen.add(name)
    if name not in names and _installed(name):
      continue
    result.append(name)
    for alternatives in _depends(name):
      if any(_installed(a) or a in seen for a in alternatives):
        continue
      if any("soundfont" in a for a in alternatives):  # we bring FluidR3_GM ourselves
        continue
      todo.append(alternatives[0])
  return result


def _depends(name: str) -> list[list[str]]:
  """Dependency groups of a package (alternatives of one group together), virtuals resolved."""
  out = _run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
              "--no-breaks", "--no-replaces", "--no-enhances", name])
  groups, current, providers_to = [], [], None
  for line in out.splitlines()[1:]:
    m = re.match(r"\s*(\|)?(?:Pre)?Depends: (\S+)", line)
    if m:
      group, virtual = current, m[2].startswith("<")
      if not virtual:
        current.append(m[2])
      if not m[1]:  # no '|': the group of alternatives ends here
        groups.append(current)
        current = []
      providers_to = group if virtual else None  # provider lines follow a <virtual> name
    elif providers_to is not None and line.strip() and ":" not in line:
      providers_to.append(line.strip())
    else:
      providers_to = None
  return [g for g in groups if g]


def _installed(name: str) -> bool:
  return name in _installed_packages()


@functools.lru_cache(maxsize=1)
def _installed_packages() -> frozenset[str]:
  out = _run(["dpkg-query", "-W", "-f=${Package} ${Status}\n"])
  return frozenset(line.split()[0] for line in out.splitlines()
                   if line.endswith("install ok installed"))


# --- apt plumbing -----------------------------------------------------------------------------

def _run(cmd: Sequence[str], cwd: str | None = None) -> str:
  try:
    r = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
  except FileNotFoundError:
    raise FetchError(f"{cmd[0]} not found; this needs a Debian-based system with apt") from None
  if r.returncode != 0:
    lines = [l for l in (r.stderr or r.stdout).strip().splitlines() if not l.startswith("W:")]
    raise FetchError(f"{' '.join(cmd)} failed: {lines[-1] if lines else f'exit {r.returncode}'}")
  return r.stdout


_updated = False


def candidate(name: str) -> str | None:
  """The version apt would fetch for `name`, running `apt-get update` once if there is none."""
  global _updated
  for attempt in range(2):
    out = _run(["apt-cache", "policy", name])
    m = re.search(r"Candidate:\s*(\S+)", out)
    if m and m[1] != "(none)":
      return m[1]
    if attempt == 0 and not _updated:
      _updated = True
      _run(["apt-get", "update", "-qq"])
    else:
      break
  return None


def _download(names: Sequence[str], folder: str) -> list[str]:
  """`apt-get download`s the packages into folder (one apt call); returns the .deb paths."""
  os.makedirs(folder, exist_ok=True)
  for name in names:
    for old in glob.glob(os.path.join(folder, f"{name}_*.deb")):
      os.remove(old)
    if candidate(name) is None:
      raise FetchError(f"{name}: no such package in the apt sources of this system")
  # root downloads into a folder the _apt user may not write; no sandbox user needed then.
  _run(["apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", *names], cwd=folder)
  debs = []
  for name in names:
    found = glob.glob(os.path.join(folder, f"{name}_*.deb"))
    if not found:
      raise FetchError(f"{name}: apt-get download left no .deb in {folder}")
    debs.append(found[0])
  return debs


def download_size(name: str) -> int | None:
  """Download size in bytes from the apt cache (None when unknown)."""
  try:
    m = re.search(r"^Size:\s*(\d+)", _run(["apt-cache", "show", name]), re.M)
  except FetchError:
    return None
  return int(m[1]) if m else None


# --- building the corpus ----------------------------------------------------------------------

def assign_splits(clips: Sequence[Clip], source: str, holdout: float = HOLDOUT) -> list[str]:
  """Split of each clip: whole groups, in SHA-1 order, fill test, then valid, up to `holdout`."""
  sizes = {}
  for c in clips:
    sizes[c.group] = sizes.get(c.group, 0) + 1
  order = sorted(sizes, key=lambda g: hashlib.sha1(f"{source}/{g}".encode()).hexdigest())
  split_of = {g: "train" for g in order}
  if len(order) >= 3:
    target = holdout * len(clips)
    cap = max(2 * target, 1)
    for split in ("test", "valid"):
      taken = 0
      for g in order:
        if split_of[g] == "train" and taken < target and taken + sizes[g] <= cap:
          split_of[g] = split
          taken += sizes[g]
      if taken == 0:  # every group too big: hold out the smallest, keeping two for train
        free = [g for g in order if split_of[g] == "train"]
        if len(free) > 2:
          split_of[min(free, key=lambda g: (sizes[g], order.index(g)))] = split
  return [split_of[c.group] for c in clips]


def build_source(name: str, data_dir: str, log: Callable[[str], None] = print,
                 midi_pieces: int = 100) -> dict:
  """Fetches, extracts, validates and writes one source's manifest (skipped if already there)."""
  out = os.path.join(data_dir, name)
  manifest_path = os.path.join(out, "manifest.jsonl")
  if os.path.exists(manifest_path):
    log(f"{name}: already built, skipping ({manifest_path})")
    return source_stats(out)
  staging = os.path.join(data_dir, "_staging", name)
  shutil.rmtree(out, ignore_errors=True)
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(out)
  os.makedirs(staging)
  skips = mf.SkipCounter()
  if name == MUSIC21:
    clips = extract_music21(staging, out, skips, pieces=midi_pieces,
                            tools=os.path.join(data_dir, "_tools", "fluidsynth"), log=log)
  else:
    size = download_size(name)
    log(f"{name}: downloading" + (f" ({size / 1e6:.1f} MB)" if size else ""))
    deb, = _download([name], os.path.join(data_dir, "_cache"))
    log(f"{name}: unpacking {os.path.basename(deb)}")
    _run(["dpkg-deb", "-x", deb, staging])
    copyright_file = os.path.join(staging, "usr/share/doc", name, "copyright")
    if os.path.exists(copyright_file):
      shutil.copy(copyright_file, os.path.join(out, "copyright"))
    clips = EXTRACTORS.get(name, extract_generic)(staging, out, skips)
    os.remove(deb)
    for rel in _audio_files(staging):  # audio the extractor did not take
      skips.skip("unused", f"{rel}: not described by the package's metadata")
  log(f"{name}: decoding {len(clips)} clips to check them")
  records = _validate(clips, out, name, skips, log)
  shutil.rmtree(staging, ignore_errors=True)
  with open(os.path.join(out, "skipped.json"), "w") as f:
    json.dump(skips.as_dict(), f, indent=1, ensure_ascii=False)
  mf.write_manifest(manifest_path, records)  # written last: its presence means "built"
  stats = source_stats(out)
  log(f"{name}: {stats['clips']} clips, {stats['hours']:.2f} h, skipped {skips.skipped}")
  return stats


def _validate(clips: Sequence[Clip], out: str, source: str, skips: mf.SkipCounter,
              log: Callable[[str], None]) -> list[dict]:
  """Decodes each clip once; bad ones are counted, deleted and left out of the manifest; the
  good ones get their splits."""
  good, shapes = [], []
  for i, clip in enumerate(clips):
    if i and i % 500 == 0:
      log(f"  {i}/{len(clips)} checked")
    path = os.path.join(out, clip.path)
    example = mf.load_example(mf.Entry(path=path, caption=clip.caption), counter=skips,
                              min_duration=MIN_DURATION, silence_peak=SILENCE_PEAK)
    if example is None:
      if os.path.exists(path):
        os.remove(path)
      continue
    good.append(clip)
    shapes.append((example.audio.shape, example.sample_rate))
  records = []
  for clip, split, ((channels, samples), rate) in zip(good, assign_splits(good, source), shapes):
    records.append(dict({"path": clip.path, "caption": clip.caption, "source": source,
                         "split": split, "duration": round(samples / rate, 4),
                         "sample_rate": rate, "channels": channels, "group": clip.group,
                         "tags": clip.tags}, **clip.meta))
  return records


def source_stats(folder: str) -> dict:
  """Clips, hours and split sizes of a built source, with its skip counts."""
  entries = mf.read_manifest(os.path.join(folder, "manifest.jsonl"))
  seconds = sum(e.meta.get("duration", 0.0) for e in entries)
  splits = {s: sum(e.split == s for e in entries) for s in SPLITS}
  skipped = {}
  skip_file = os.path.join(folder, "skipped.json")
  if os.path.exists(skip_file):
    with open(skip_file, encoding="utf-8") as f:
      skipped = json.load(f)
  return {"source": os.path.basename(folder), "clips": len(entries), "hours": seconds / 3600,
          "splits": splits, "skipped": skipped.get("skipped", {}),
          "skip_examples": skipped.get("examples", {})}


def write_combined(data_dir: str) -> dict:
  """(Re)writes train/valid/test/all.jsonl and summary.json from every built source."""
  sources = sorted(os.path.dirname(p) for p in
                   glob.glob(os.path.join(data_dir, "*", "manifest.jsonl")))
  entries = [e for folder in sources
             for e in mf.read_manifest(os.path.join(folder, "manifest.jsonl"))]
  for split in SPLITS:
    mf.write_manifest(os.path.join(data_dir, f"{split}.jsonl"),
                      [e for e in entries if e.split == split])
  mf.write_manifest(os.path.join(data_dir, "all.jsonl"), entries)
  summary = {"sources": [source_stats(f) for f in sources]}
  summary["clips"] = sum(s["clips"] for s in summary["sources"])
  summary["hours"] = sum(s["hours"] for s in summary["sources"])
  with open(os.path.join(data_dir, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1, ensure_ascii=False)
  return summary


def format_summary(summary: dict) -> str:
  lines = [f"{'source':28s} {'clips':>6s} {'hours':>7s}   train/valid/test   skipped"]
  for s in summary["sources"]:
    sp = s["splits"]
    skipped = ", ".join(f"{r} {n}" for r, n in s["skipped"].items()) or "-"
    lines.append(f"{s['source']:28s} {s['clips']:6d} {s['hours']:7.3f}   "
                 f"{sp['train']:5d}/{sp['valid']:4d}/{sp['test']:4d}   {skipped}")
  lines.append(f"{'total':28s} {summary['clips']:6d} {summary['hours']:7.3f}")
  for s in summary["sources"]:
    for reason, examples in s["skip_examples"].items():
      lines.append(f"  skipped in {s['source']} ({reason}): " + "; ".join(examples))
  return "\n".join(lines)


def resolve(names: Sequence[str]) -> list[str]:
  """'small' / 'all' / package names -> the ordered list of sources to build."""
  result = []
  for n in names:
    chosen = {"small": SMALL, "all": SMALL + LARGE, "music21": (MUSIC21,)}.get(n, (n,))
    result.extend(c for c in chosen if c not in result)
  for n in result:
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.\-]+", n):
      raise FetchError(f"{n!r} is not a package name; use small, all or Debian package names")
  return result


@contextlib.contextmanager
def _locked(data_dir: str):
  """One builder per data folder at a time (tests run in parallel workers)."""
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, ".lock"), "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def fetch(names: Sequence[str] = ("small",), data_dir: str = DEFAULT_DIR,
          log: Callable[[str], None] = print, midi_pieces: int = 100) -> dict:
  """Builds the named sources (idempotent) and rewrites the combined manifests; returns the
  summary. A source that fails is reported in summary['failed'] and the others still built."""
  failed = {}
  with _locked(data_dir):
    todo = resolve(names)
    for i, name in enumerate(todo, 1):
      log(f"[{i}/{len(todo)}] {name}")
      try:
        build_source(name, data_dir, log=log, midi_pieces=midi_pieces)
      except FetchError as e:
        failed[name] = str(e)
        log(f"{name}: FAILED: {e}")
        shutil.rmtree(os.path.join(data_dir, "_staging", name), ignore_errors=True)
    summary = write_combined(data_dir)
  shutil.rmtree(os.path.join(data_dir, "_staging"), ignore_errors=True)
  summary["failed"] = failed
  return summary


def load_split(split: str, data_dir: str = DEFAULT_DIR,
               counter: mf.SkipCounter | None = None) -> list[mf.Entry]:
  """Entries of one split of the built corpus; a one-line error says how to fetch it if absent."""
  if split not in SPLITS + ("all",):
    raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS + ('all',))}")
  path = os.path.join(data_dir, f"{split}.jsonl")
  if not os.path.isdir(data_dir):
    raise mf.DataNotFoundError(f"{data_dir}: no corpus folder; {FETCH_HINT} --out {data_dir}")
  return mf.read_manifest(path, counter=counter, hint=f"{FETCH_HINT} --out {data_dir}")


if __name__ == "__main__":
  sys.exit("use scripts/fetch_corpus.py")
