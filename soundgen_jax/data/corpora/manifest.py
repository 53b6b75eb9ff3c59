"""Text-audio manifests (JSONL), readers for AudioCaps / Clotho / MusicCaps CSVs, and a robust
example reader that skips and counts bad input instead of raising.

Manifest format: a UTF-8 JSONL file, one object per clip:

  {"path": "sounds/03_factory_whistle.wav", "caption": "factory whistle", "split": "train",
   "source": "openttd-opensfx", "duration": 4.6, "sample_rate": 44100, "tags": [...]}

Required: `path`, `caption`. Optional: `start` / `end` (seconds inside the file), `split`
('train' / 'valid' / 'test'), `source`; every other field is kept in `Entry.meta`. A relative
`path` is relative to the folder holding the manifest, so a corpus folder can be moved as a whole.
"""
from __future__ import annotations

import ast
import collections
import csv
import dataclasses
import json
import math
import os
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import soundfile

from soundgen_jax import audio as audio_lib

FETCH_HINT = "run: python scripts/fetch_corpus.py --packages small"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")

# Reasons an example is skipped (SkipCounter keys).
MISSING = "missing"              # the file is not there
EMPTY = "empty"                  # zero bytes, or a valid header with no samples
WRONG_FORMAT = "wrong_format"    # not audio of the kind its name says (.wav holding text)
TRUNCATED = "truncated"          # the header promises more data than the file holds
CORRUPT = "corrupt"              # looks like audio but does not decode
NAN = "nan"                      # NaN or Inf samples
SILENT = "silent"                # peak below the silence threshold
TOO_SHORT = "too_short"          # shorter than the minimum duration
BAD_CAPTION = "bad_caption"      # empty, or not valid UTF-8
BAD_LINE = "bad_manifest_line"   # a manifest line that is not a JSON object with a path

# First bytes of each container, keyed by the file extensions that promise it.
_MAGIC = {
    ".wav": (b"RIFF", b"RIFX", b"RF64"),
    ".flac": (b"fLaC",),
    ".ogg": (b"OggS",), ".oga": (b"OggS",), ".opus": (b"OggS",),
    ".aif": (b"FORM",), ".aiff": (b"FORM",),
    ".mp3": (b"ID3",),  # or an MPEG frame sync, checked in _is_audio
}
_ALL_MAGIC = tuple(sorted({m for ms in _MAGIC.values() for m in ms}))


class DataNotFoundError(FileNotFoundError):
  """A manifest, CSV or audio folder that is not there; the message says how to get it."""


class ManifestError(ValueError):
  """A manifest or CSV that cannot be used as a whole (e.g. required columns missing)."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One clip of a corpus: an audio file (absolute path), its caption and where it lies."""
  path: str
  caption: str
  start: float | None = None
  end: float | None = None
  split: str | None = None
  source: str | None = None
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def duration(self) -> float | None:
    """Clip length in seconds when the manifest says it (end - start, or the `duration` field)."""
    if self.end is not None:
      return self.end - (self.start or 0.0)
    return self.meta.get("duration")


@dataclasses.dataclass
class Example:
  """A decoded clip: float32 audio [channels, samples] at `sample_rate`, and its caption."""
  audio: np.ndarray
  sample_rate: int
  caption: str
  entry: Entry


class SkipCounter:
  """Counts kept and skipped examples by reason, with a few file names per reason."""

  def __init__(self, keep_examples: int = 3):
    self.kept = 0
    self.counts: collections.Counter[str] = collections.Counter()
    self.examples: dict[str, list[str]] = collections.defaultdict(list)
    self._keep_examples = keep_examples

  def keep(self) -> None:
    self.kept += 1

  def skip(self, reason: str, detail: str = "") -> None:
    self.counts[reason] += 1
    if detail and len(self.examples[reason]) < self._keep_examples:
      self.examples[reason].append(detail)

  @property
  def skipped(self) -> int:
    return sum(self.counts.values())

  def update(self, other: "SkipCounter") -> None:
    """Adds another counter's counts (e.g. one per worker) into this one."""
    self.kept += other.kept
    self.counts.update(other.counts)
    for reason, details in other.examples.items():
      room = self._keep_examples - len(self.examples[reason])
      self.examples[reason].extend(details[:max(room, 0)])

  def as_dict(self) -> dict[str, Any]:
    return {"kept": self.kept, "skipped": dict(sorted(self.counts.items())),
            "examples": {k: list(v) for k, v in sorted(self.examples.items())}}

  def summary(self, details: bool = False) -> str:
    """'kept 20, skipped 3 (corrupt 1, silent 2)', plus one line per reason if `details`."""
    if not self.counts:
      return f"kept {self.kept}, skipped 0"
    parts = ", ".join(f"{r} {n}" for r, n in sorted(self.counts.items()))
    text = f"kept {self.kept}, skipped {self.skipped} ({parts})"
    if details:
      for reason, names in sorted(self.examples.items()):
        text += f"\n  {reason}: " + "; ".join(names)
    return text

  def __repr__(self) -> str:
    return f"SkipCounter({self.summary()})"


# --- JSONL manifests ----------------------------------------------------------------------

_CORE = ("path", "caption", "start", "end", "split", "source")


def read_manifest(path: str, split: str | None = None, counter: SkipCounter | None = None,
                  hint: str = FETCH_HINT) -> list[Entry]:
  """Reads a JSONL manifest; relative paths resolve against the manifest's folder.

  `split` keeps only entries of that split. Lines that are not JSON objects with a `path` are
  counted as BAD_LINE in `counter` and skipped. Captions are read with surrogate escapes so a
  non-UTF-8 caption reaches `load_example` (which skips it) instead of failing the whole file.
  """
  if not os.path.isfile(path):
    raise DataNotFoundError(f"{path}: no such manifest; {hint}")
  root = os.path.dirname(os.path.abspath(path))
  entries = []
  with open(path, "rb") as f:
    for lineno, raw in enumerate(f, 1):
      line = raw.decode("utf-8", errors="surrogateescape").strip()
      if not line:
        continue
      try:
        obj = json.loads(line)
        if not isinstance(obj, dict) or not isinstance(obj.get("path"), str) or not obj["path"]:
          raise ValueError("not an object with a path")
        entry = _entry_from_dict(obj, root)
      except (ValueError, TypeError) as e:
        if counter is not None:
          counter.skip(BAD_LINE, f"{path}:{lineno}: {_first_line(e)}")
        continue
      if split is None or entry.split == split:
        entries.append(entry)
  return entries


def write_manifest(path: str, entries: Iterable[Entry | Mapping[str, Any]]) -> int:
  """Writes entries as JSONL with paths relative to the manifest's folder; returns the count.

  Written to a temporary name and renamed, so a reader never sees half a manifest.
  """
  root = os.path.dirname(os.path.abspath(path))
  os.makedirs(root, exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  n = 0
  with open(tmp, "w", encoding="utf-8") as f:
    for e in entries:
      obj = entry_to_dict(e) if isinstance(e, Entry) else dict(e)
      p = obj["path"]
      if os.path.isabs(p):
        obj["path"] = os.path.relpath(p, root)
      f.write(json.dumps(obj, ensure_ascii=False) + "\n")
      n += 1
  os.replace(tmp, path)
  return n


def entry_to_dict(entry: Entry) -> dict[str, Any]:
  """The manifest object of an entry (core fields first, None fields left out)."""
  obj = {k: getattr(entry, k) for k in _CORE if getattr(entry, k) is not None}
  obj.update(entry.meta)
  return obj


def _entry_from_dict(obj: Mapping[str, Any], root: str) -> Entry:
  path = obj["path"]
  if not os.path.isabs(path):
    path = os.path.normpath(os.path.join(root, path))
  caption = obj.get("caption")
  caption = caption if isinstance(caption, str) else ""
  start, end = _opt_float(obj.get("start")), _opt_float(obj.get("end"))
  if start is not None and end is not None and end <= start:
    raise ValueError(f"end {end} is not after start {start}")
  meta = {k: v for k, v in obj.items() if k not in _CORE}
  return Entry(path=path, caption=caption, start=start, end=end, split=obj.get("split"),
               source=obj.get("source"), meta=meta)


def _opt_float(x: Any) -> float | None:
  if x is None or x == "":
    return None
  v = float(x)
  if not math.isfinite(v) or v < 0:
    raise ValueError(f"bad time {x!r}")
  return v


# --- CSV layouts of public captioned corpora over local audio folders ----------------------

def read_audiocaps(csv_path: str, audio_dir: str, split: str | None = None,
                   counter: SkipCounter | None = None, clip_seconds: float = 10.0) -> list[Entry]:
  """AudioCaps CSV (audiocap_id,youtube_id,start_time,caption) over a folder of local clips.

  A clip is found by file stem, in this order: `<audiocap_id>`, `<youtube_id>_<start>`,
  `Y<youtube_id>_<start>.000_<end>.000` (AudioSet style), `<youtube_id>`, `Y<youtube_id>`. When
  only a whole video is there (longer than start + clip_seconds), the entry gets start / end.
  Rows without a local file are counted as MISSING. The split defaults to the CSV's name
  (train.csv / val.csv / test.csv).
  """
  rows = _read_csv(csv_path, ("audiocap_id", "youtube_id", "start_time", "caption"), "AudioCaps")
  index = _index_audio(audio_dir, "AudioCaps clips, named <youtube_id>.wav or <audiocap_id>.wav")
  split = split or _split_from_name(csv_path)
  entries = []
  for row in rows:
    ytid, cap_id = row["youtube_id"].strip(), row["audiocap_id"].strip()
    try:
      t0 = float(row["start_time"])
    except ValueError:
      _count(counter, BAD_LINE, f"{csv_path}: start_time {row['start_time']!r}")
      continue
    clipped = [cap_id, f"{ytid}_{int(t0)}", f"{ytid}_{t0:g}",
               f"Y{ytid}_{t0:.3f}_{t0 + clip_seconds:.3f}"]
    path, stem = _find(index, clipped + [ytid, f"Y{ytid}"])
    if path is None:
      _count(counter, MISSING, f"{ytid} ({cap_id})")
      continue
    start = end = None
    if stem not in clipped and _duration(path) >= t0 + clip_seconds - 0.5:
      start, end = t0, t0 + clip_seconds
    entries.append(Entry(path=path, caption=row["caption"].strip(), start=start, end=end,
                         split=split, source="audiocaps",
                         meta={"audiocap_id": cap_id, "youtube_id": ytid}))
  return entries


def read_clotho(csv_path: str, audio_dir: str, split: str | None = None,
                counter: SkipCounter | None = None, all_captions: bool = True) -> list[Entry]:
  """Clotho captions CSV (file_name,caption_1..caption_5) over the folder of its audio files.

  One entry per (file, caption) when `all_captions`, else one per file with caption_1. The split
  defaults to the CSV's name (development -> train, validation -> valid, evaluation -> test).
  """
  rows = _read_csv(csv_path, ("file_name", "caption_1"), "Clotho")
  index = _index_audio(audio_dir, "Clotho audio files, named as in the file_name column",
                       by_name=True)
  split = split or _split_from_name(csv_path)
  entries = []
  for row in rows:
    name = row["file_name"].strip()
    path = index.get(name) or index.get(os.path.splitext(name)[0])
    if path is None:
      _count(counter, MISSING, name)
      continue
    captions = [row.get(f"caption_{i}") for i in range(1, 6)]
    captions = [c.strip() for c in captions if c is not None and c.strip()]
    for caption in (captions if all_captions else captions[:1]) or [""]:
      entries.append(Entry(path=path, caption=caption, split=split, source="clotho",
                           meta={"file_name": name}))
  return entries


def read_musiccaps(csv_path: str, audio_dir: str, counter: SkipCounter | None = None
                   ) -> list[Entry]:
  """MusicCaps CSV (ytid,start_s,end_s,...,aspect_list,caption,...,is_audioset_eval).

  A clip is found by stem `<ytid>`, `[<ytid>]-[<start>-<end>]`, `<ytid>_<start>-<end>` or
  `<ytid>_<start>_<end>`; a whole video (longer than end_s) gets start / end. The split is
  'test' for is_audioset_eval rows, else 'train'; the aspect list becomes `tags`.
  """
  rows = _read_csv(csv_path, ("ytid", "start_s", "end_s", "caption"), "MusicCaps")
  index = _index_audio(audio_dir, "MusicCaps clips, named <ytid>.wav")
  entries = []
  for row in rows:
    ytid = row["ytid"].strip()
    try:
      t0, t1 = float(row["start_s"]), float(row["end_s"])
    except ValueError:
      _count(counter, BAD_LINE, f"{csv_path}: times {row['start_s']!r}, {row['end_s']!r}")
      continue
    a, b = int(t0), int(t1)
    clipped = [f"[{ytid}]-[{a}-{b}]", f"{ytid}_{a}-{b}", f"{ytid}_{a}_{b}"]
    path, stem = _find(index, clipped + [ytid])
    if path is None:
      _count(counter, MISSING, ytid)
      continue
    start = end = None
    if stem not in clipped and _duration(path) >= t1 - 0.5:
      start, end = t0, t1
    is_eval = row.get("is_audioset_eval", "").strip().lower() == "true"
    entries.append(Entry(path=path, caption=row["caption"].strip(), start=start, end=end,
                         split="test" if is_eval else "train", source="musiccaps",
                         meta={"ytid": ytid, "tags": _aspects(row.get("aspect_list", ""))}))
  return entries


def _read_csv(path: str, required: tuple[str, ...], corpus: str) -> list[dict[str, str]]:
  if not os.path.isfile(path):
    raise DataNotFoundError(f"{path}: no such {corpus} CSV; download it from the {corpus} "
                            f"release and pass its path")
  with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
    reader = csv.DictReader(f)
    fields = [c.strip().lstrip("\ufeff") for c in reader.fieldnames or []]
    missing = [c for c in required if c not in fields]
    if missing:
      raise ManifestError(f"{path}: not a {corpus} CSV, it lacks the column(s) "
                          f"{', '.join(missing)} (has: {', '.join(fields) or 'none'})")
    reader.fieldnames = fields
    return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]


def _index_audio(folder: str, what: str, by_name: bool = False) -> dict[str, str]:
  """stem -> path (and, with by_name, file name -> path) of every audio file under `folder`."""
  if not os.path.isdir(folder):
    raise DataNotFoundError(f"{folder}: no such audio folder; put the {what} there")
  index = {}
  for dirpath, _, names in os.walk(folder):
    for name in sorted(names):
      stem, ext = os.path.splitext(name)
      if ext.lower() in AUDIO_EXTENSIONS:
        path = os.path.join(dirpath, name)
        index.setdefault(stem, path)
        if by_name:
          index.setdefault(name, path)
  return index


def _find(index: Mapping[str, str], stems: list[str]) -> tuple[str | None, str | None]:
  for stem in stems:
    if stem in index:
      return index[stem], stem
  return None, None


def _duration(path: str) -> float:
  try:
    info = soundfile.info(path)
    return info.frames / info.samplerate
  except Exception:  # an unreadable file is classified later, by load_example
    return 0.0


def _split_from_name(path: str) -> str | None:
  name = os.path.basename(path).lower()
  for key, split in (("train", "train"), ("dev", "train"), ("val", "valid"),
                     ("eval", "test"), ("test", "test")):
    if key in name:
      return split
  return None


def _aspects(text: str) -> list[str]:
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return [t.strip() for t in text.strip("[]").split(",") if t.strip()]
  return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _count(counter: SkipCounter | None, reason: str, detail: str) -> None:
  if counter is not None:
    counter.skip(reason, detail)


# --- robust example reading -----------------------------------------------------------------

def check_caption(caption: Any) -> str | None:
  """Why a caption is unusable (empty, not text, not valid UTF-8), or None if it is fine."""
  if isinstance(caption, bytes):
    try:
      caption = caption.decode("utf-8")
    except UnicodeDecodeError:
      return "not UTF-8"
  if not isinstance(caption, str):
    return f"not text ({type(caption).__name__})"
  try:
    caption.encode("utf-8")  # lone surrogates from a non-UTF-8 file fail here
  except UnicodeEncodeError:
    return "not UTF-8"
  if "\ufffd" in caption:
    return "holds U+FFFD (decoded from bad bytes)"
  if not caption.strip():
    return "empty"
  return None


def load_example(entry: Entry, sample_rate: int | None = None, channels: int | None = None,
                 min_duration: float = 0.1, silence_peak: float = 1e-3,
                 max_duration: float | None = None, counter: SkipCounter | None = None
                 ) -> Example | None:
  """Decodes one entry through `audio.load` (resampled, channel-converted), or returns None.

  A bad example (see the reason constants above) is counted in `counter` and None returned;
  this never raises. `max_duration` reads at most that many seconds from the clip's start.
  """
  counter = counter if counter is not None else SkipCounter()
  try:
    reason, detail = _classify(entry, sample_rate, channels, min_duration, silence_peak,
                               max_duration)
  except Exception as e:  # anything unforeseen is still one bad file, not a dead run
    reason, detail = CORRUPT, f"{entry.path}: {_first_line(e)}"
  if isinstance(reason, Example):
    counter.keep()
    return reason
  counter.skip(reason, detail)
  return None


def iter_examples(entries: Iterable[Entry], counter: SkipCounter | None = None,
                  **kwargs: Any) -> Iterator[Example]:
  """Yields the good examples of `entries` (kwargs as for load_example); bad ones are counted."""
  for entry in entries:
    example = load_example(entry, counter=counter, **kwargs)
    if example is not None:
      yield example


def _classify(entry, sample_rate, channels, min_duration, silence_peak, max_duration):
  """Returns (Example, '') for a good entry, else (reason, detail)."""
  path = entry.path
  why = check_caption(entry.caption)
  if why:
    return BAD_CAPTION, f"{path}: caption {why}"
  if not os.path.isfile(path):
    return MISSING, f"{path}: no such file"
  size = os.path.getsize(path)
  if size == 0:
    return EMPTY, f"{path}: 0 bytes"
  with open(path, "rb") as f:
    head = f.read(64)
  ext = os.path.splitext(path)[1].lower()
  if ext in _MAGIC and not _is_audio(head, _MAGIC[ext]) and not _is_audio(head, _ALL_MAGIC):
    kind = "text" if _looks_like_text(head) else f"bytes {head[:8]!r}"
    return WRONG_FORMAT, f"{path}: named {ext} but holds {kind}"
  if head.startswith(b"RIFF") and _riff_truncated(path, size):
    return TRUNCATED, f"{path}: the RIFF header promises more bytes than the file's {size}"
  try:
    info = soundfile.info(path)
  except Exception as e:
    return CORRUPT, f"{path}: {_first_line(e)}"
  if info.frames <= 0 or info.samplerate <= 0:
    return EMPTY, f"{path}: no samples"
  file_seconds = info.frames / info.samplerate
  start = entry.start or 0.0
  end = min(entry.end, file_seconds) if entry.end is not None else file_seconds
  if end - start < min_duration:
    return TOO_SHORT, f"{path}: {max(end - start, 0.0):.3f} s < {min_duration} s"
  read_seconds = end - start if max_duration is None else min(end - start, max_duration)
  try:
    audio, rate = audio_lib.load(path, sample_rate=sample_rate, channels=channels,
                                 start=start, duration=read_seconds)
  except audio_lib.AudioError as e:
    return _classify_load_error(path, start, read_seconds, info.samplerate, e)
  want = int(round(read_seconds * info.samplerate))
  got = audio.shape[-1] * info.samplerate / rate
  if got < 0.99 * want - 64:
    return TRUNCATED, f"{path}: decoded {got / info.samplerate:.3f} s of {read_seconds:.3f} s"
  peak = float(np.max(np.abs(audio))) if audio.size else 0.0
  if peak < silence_peak:
    return SILENT, f"{path}: peak {peak:.2e} < {silence_peak:.0e}"
  return Example(audio=audio, sample_rate=rate, caption=entry.caption, entry=entry), ""


def _classify_load_error(path, start, seconds, rate, error):
  """audio.load refused the file: a raw re-read tells NaN / Inf data from a decode failure."""
  try:
    with soundfile.SoundFile(path) as f:
      f.seek(int(round(start * rate)))
      raw = f.read(int(round(seconds * rate)), dtype="float32", always_2d=True)
  except Exception as e:
    return CORRUPT, f"{path}: {_first_line(e)}"
  if raw.size == 0:
    return EMPTY, f"{path}: no samples"
  if not np.isfinite(raw).all():
    return NAN, f"{path}: {int((~np.isfinite(raw)).sum())} NaN / Inf samples"
  return CORRUPT, _first_line(error)


def _riff_truncated(path: str, size: int) -> bool:
  """True if the RIFF size or the data chunk's size runs past the end of the file."""
  with open(path, "rb") as f:
    header = f.read(12)
    if len(header) < 12:
      return True
    riff_size = int.from_bytes(header[4:8], "little")
    if header[:4] == b"RIFF" and riff_size not in (0, 0xFFFFFFFF) and riff_size + 8 > size:
      return True
    pos = 12
    while pos + 8 <= size:  # walk the chunks up to `data`
      f.seek(pos)
      chunk = f.read(8)
      cid, length = chunk[:4], int.from_bytes(chunk[4:8], "little")
      if cid == b"data":
        return length not in (0, 0xFFFFFFFF) and pos + 8 + length > size
      pos += 8 + length + (length & 1)
    return pos > size


def _is_audio(head: bytes, magics: tuple[bytes, ...]) -> bool:
  mpeg_sync = len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
  return head.startswith(magics) or (b"ID3" in magics and mpeg_sync)


def _looks_like_text(head: bytes) -> bool:
  text = head.decode("utf-8", errors="ignore")  # a cut multi-byte character at the end is fine
  return len(text) >= len(head) - 3 and all(c.isprintable() or c in "\r\n\t" for c in text)


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__
