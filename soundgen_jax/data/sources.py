"""Data sources of the seqio tasks.

A `ClipSource` gives random access to the raw clips of one corpus, already decoded, resampled,
channel-converted and cropped / padded to a fixed length: `load(split, index, rng)` returns
{"audio": float32 [C, T], "caption", "id", "length" (samples before padding), ...} or raises
`Skip(reason)`. Random access by index is what makes the pipeline deterministic and resumable:
an example's crop, mix partner and caption augmentation come from an RNG seeded by
(seed, epoch, index), never from the stream position.

`IndexDataSource` is the seqio `DataSource` over a `ClipSource`: it streams example records
{"split", "index", "epoch", "seed"} in a seeded order; the task's first preprocessor decodes them.

Splits are "train", "valid" and "test" for every corpus.
"""
from __future__ import annotations

import dataclasses
import glob as glob_lib
import hashlib
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import seqio
import soundfile
import tensorflow as tf

from soundgen_jax import audio as audio_lib
from soundgen_jax.data.corpora import manifest as mf
from soundgen_jax.data.corpora import synthetic as synthetic_lib

# The input pipeline runs on the host; keep TensorFlow off any accelerator JAX is using.
try:
  tf.config.set_visible_devices([], "GPU")
except (RuntimeError, ValueError):  # already initialised: nothing to hide any more
  pass

SPLITS = ("train", "valid", "test")
_SPLIT_ALIASES = {"validation": "valid", "eval": "valid", "dev": "valid", "val": "valid"}
# An unbounded source (the synthetic corpus) is read in blocks of this many fresh examples per
# epoch, so its order can be shuffled like a finite corpus.
UNBOUNDED_EPOCH = 100_000


def canonical_split(split: str) -> str:
  """'validation' / 'eval' / 'dev' / 'val' -> 'valid'; train and test unchanged."""
  split = _SPLIT_ALIASES.get(split, split)
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; use train, valid or test")
  return split


class Skip(Exception):
  """An example that cannot be used; `reason` is one of the manifest module's reasons."""

  def __init__(self, reason: str, detail: str = ""):
    super().__init__(f"{reason}: {detail}" if detail else reason)
    self.reason = reason
    self.detail = detail


@dataclasses.dataclass(frozen=True)
class AudioOptions:
  """How every clip is shaped before the preprocessors see it."""
  sample_rate: int = 24000        # Hz of the output audio
  channels: int = 1               # output channels (downmix averages, upmix repeats)
  crop_seconds: float = 1.0       # output length; longer clips are cropped at random, shorter
                                  # ones padded with zeros at the end
  min_seconds: float = 0.05       # clips shorter than this are skipped (TOO_SHORT)
  silence_peak: float = 1e-3      # crops whose peak is below this are skipped (SILENT)

  @property
  def num_samples(self) -> int:
    return int(round(self.crop_seconds * self.sample_rate))

  def validate(self) -> "AudioOptions":
    if self.sample_rate < 1000:
      raise ValueError(f"sample_rate={self.sample_rate}: use a rate in Hz such as 16000")
    if self.channels not in (1, 2):
      raise ValueError(f"channels={self.channels}: use 1 (mono) or 2 (stereo)")
    if not self.crop_seconds > 0:
      raise ValueError(f"crop_seconds={self.crop_seconds}: use a positive length in seconds")
    return self


def fit_length(audio: np.ndarray, num_samples: int, rng: np.random.Generator | None = None
               ) -> np.ndarray:
  """Random crop (rng given; else from the start) or zero padding at the end to num_samples."""
  have = audio.shape[-1]
  if have > num_samples:
    offset = int(rng.integers(0, have - num_samples + 1)) if rng is not None else 0
    return audio[..., offset:offset + num_samples]
  if have < num_samples:
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, num_samples - have)])
  return audio


class ClipSource:
  """Random access to the fixed-length clips of one corpus (see the module docstring)."""

  name: str = "clips"
  text: bool = True  # whether captions matter (an audio-only view never skips for a caption)

  def __init__(self, options: AudioOptions):
    self.options = options.validate()
    # Bad manifest lines etc. found while listing the corpus, counted once.
    self.listing_skips: dict[str, int] = {}

  def num_examples(self, split: str) -> int | None:
    """Examples in `split`; None for an unbounded split."""
    raise NotImplementedError

  def load(self, split: str, index: int, rng: np.random.Generator) -> dict[str, Any]:
    raise NotImplementedError

  def indices(self, split: str, epoch: int, seed: int, shuffle: bool, shard_index: int = 0,
              num_shards: int = 1, block: int = 1) -> np.ndarray:
    """Example indices of `split` for one epoch of one shard, in reading order.

    Each epoch is a permutation seeded by (seed, epoch) when `shuffle`; cut into blocks of
    `block` positions, shard k takes blocks k, k + num_shards, ..., so shards are disjoint and
    together cover the epoch. With `block` = the per-host batch, the hosts' batches side by
    side are the batch one host reading everything would get.
    """
    n = self.num_examples(split)
    offset = 0
    if n is None:  # unbounded: a fresh block of examples per epoch
      n, offset = UNBOUNDED_EPOCH, epoch * UNBOUNDED_EPOCH
    order = np.arange(n, dtype=np.int64)
    if shuffle:
      order = np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)
    mine = (np.arange(n) // max(int(block), 1)) % num_shards == shard_index
    return order[mine] + offset


class SyntheticSource(ClipSource):
  """The built-in synthetic corpus; train is unbounded, valid / test hold `eval_examples`."""

  name = "synthetic"

  def __init__(self, options: AudioOptions, corpus_seed: int = 0, eval_examples: int = 64,
               clip_seconds: float | None = None, text: bool = True):
    super().__init__(options)
    self.text = text
    # Clips are rendered at least 1 s long (the corpus's minimum) and cropped to the output.
    seconds = max(clip_seconds or options.crop_seconds, 1.0)
    self.corpus = synthetic_lib.SyntheticCorpus(options.sample_rate, seconds, seed=corpus_seed)
    self.eval_examples = int(eval_examples)

  def num_examples(self, split: str) -> int | None:
    return None if canonical_split(split) == "train" else self.eval_examples

  def load(self, split: str, index: int, rng: np.random.Generator) -> dict[str, Any]:
    split = canonical_split(split)
    ex = self.corpus.example("validation" if split == "valid" else split, int(index))
    audio = audio_lib.convert_channels(ex["audio"], self.options.channels)
    length = min(audio.shape[-1], self.options.num_samples)
    audio = fit_length(audio, self.options.num_samples, rng)
    return {"audio": audio.astype(np.float32), "caption": ex["caption"], "id": ex["id"],
            "length": length}


class EntrySource(ClipSource):
  """Clips listed as manifest `Entry`s (a manifest, a folder / glob of files, a built corpus).

  Bad files are classified by `manifest.load_example` (missing, empty, wrong format, truncated,
  corrupt, NaN, silent, too short, bad caption) and raised as `Skip`.
  """

  def __init__(self, entries: Mapping[str, Sequence[mf.Entry]], options: AudioOptions,
               name: str = "manifest", text: bool = True,
               listing_skips: Mapping[str, int] | None = None):
    super().__init__(options)
    self.name = name
    self.text = text
    self.entries = {s: list(entries.get(s, ())) for s in SPLITS}
    self.listing_skips = dict(listing_skips or {})

  def num_examples(self, split: str) -> int:
    return len(self.entries[canonical_split(split)])

  def load(self, split: str, index: int, rng: np.random.Generator) -> dict[str, Any]:
    entry = self.entries[canonical_split(split)][int(index)]
    if not self.text:  # an audio-only view does not need (or check) a caption
      entry = dataclasses.replace(entry, caption="audio")
    entry = self._crop_window(entry, rng)
    counter = mf.SkipCounter(keep_examples=1)
    o = self.options
    ex = mf.load_example(entry, sample_rate=o.sample_rate, channels=o.channels,
                         min_duration=o.min_seconds, silence_peak=o.silence_peak,
                         counter=counter)
    if ex is None:
      reason = next(iter(counter.counts))
      raise Skip(reason, (counter.examples.get(reason) or [""])[0])
    length = min(ex.audio.shape[-1], o.num_samples)
    audio = fit_length(ex.audio, o.num_samples)
    return {"audio": audio.astype(np.float32), "caption": ex.caption, "id": _entry_id(entry),
            "length": length, "path": entry.path, "source": entry.source or self.name}

  def _crop_window(self, entry: mf.Entry, rng: np.random.Generator) -> mf.Entry:
    """Narrows the entry to a random window of crop_seconds, so only that much is decoded."""
    try:
      info = soundfile.info(entry.path)
      total = info.frames / info.samplerate
    except Exception:  # unreadable: load_example classifies it
      return entry
    start = entry.start or 0.0
    end = min(entry.end, total) if entry.end is not None else total
    crop = self.options.crop_seconds
    if end - start <= crop:
      return entry
    offset = start + float(rng.uniform(0.0, end - start - crop))
    return dataclasses.replace(entry, start=offset, end=offset + crop)


def _entry_id(entry: mf.Entry) -> str:
  return f"{entry.path}@{entry.start or 0:.3f}"


# --- listing corpora as entries -------------------------------------------------------------

def _unit_hash(key: str) -> float:
  h = hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()[:8]
  return int.from_bytes(h, "big") / 2.0 ** 64


def hashed_split(key: str, eval_fraction: float) -> str:
  """A stable split for a clip without one: 'valid' for a hashed `eval_fraction` share."""
  return "valid" if _unit_hash(key) < eval_fraction else "train"


def split_entries(entries: Sequence[mf.Entry], root: str, eval_fraction: float
                  ) -> dict[str, list[mf.Entry]]:
  """Groups entries by split; entries without one get `hashed_split` of their relative path.

  When the hash holds out none of two or more unsplit entries (a small folder), the one with
  the smallest hash still goes to 'valid', so a positive `eval_fraction` always gives an
  evaluation set.
  """
  out: dict[str, list[mf.Entry]] = {s: [] for s in SPLITS}
  unsplit = []
  for e in entries:
    if e.split:
      try:
        out[canonical_split(e.split)].append(e)
      except ValueError:
        continue  # a split this pipeline does not read
    else:
      unsplit.append((_unit_hash(os.path.relpath(e.path, root)), e))
  held = [e for h, e in unsplit if h < eval_fraction]
  if not held and eval_fraction > 0 and len(unsplit) >= 2:
    held = [min(unsplit, key=lambda he: he[0])[1]]
  held_ids = {id(e) for e in held}
  for _, e in unsplit:
    out["valid" if id(e) in held_ids else "train"].append(e)
  return out


def manifest_entries(path: str, eval_fraction: float = 0.05, hint: str = mf.FETCH_HINT
                     ) -> tuple[dict[str, list[mf.Entry]], dict[str, int]]:
  """Entries of a JSONL manifest by split, and the count of its bad lines."""
  counter = mf.SkipCounter()
  entries = mf.read_manifest(path, counter=counter, hint=hint)
  root = os.path.dirname(os.path.abspath(path))
  return split_entries(entries, root, eval_fraction), dict(counter.counts)


def file_entries(pattern: str, eval_fraction: float = 0.05
                 ) -> dict[str, list[mf.Entry]]:
  """Entries of the audio files in a folder (recursively), a glob pattern, or one file.

  Captions are the words of the file name ("dog_bark-02.wav" -> "dog bark").
  """
  if os.path.isdir(pattern):
    root = pattern
    paths = [os.path.join(d, n) for d, _, names in os.walk(pattern) for n in names]
  elif any(c in pattern for c in "*?["):
    root = _glob_root(pattern)
    paths = glob_lib.glob(pattern, recursive=True)
  elif os.path.isfile(pattern):
    root, paths = os.path.dirname(pattern), [pattern]
  else:
    raise mf.DataNotFoundError(f"{pattern}: no such file or folder; give a folder of audio "
                               "files, a glob such as 'sounds/**/*.wav', or a JSONL manifest")
  paths = sorted(p for p in paths if os.path.splitext(p)[1].lower() in mf.AUDIO_EXTENSIONS
                 and not os.path.isdir(p))
  if not paths:
    raise mf.DataNotFoundError(f"{pattern}: no audio files ({', '.join(mf.AUDIO_EXTENSIONS)})")
  entries = [mf.Entry(path=os.path.abspath(p), caption=_caption_from_name(p)) for p in paths]
  return split_entries(entries, os.path.abspath(root), eval_fraction)


def _glob_root(pattern: str) -> str:
  parts = []
  for part in pattern.split(os.sep):
    if any(c in part for c in "*?["):
      break
    parts.append(part)
  return os.sep.join(parts) or "."


def _caption_from_name(path: str) -> str:
  from soundgen_jax.data.corpora import debian  # pylint: disable=g-import-not-at-top
  return debian.words(os.path.splitext(os.path.basename(path))[0]) or "a sound"


# --- the seqio DataSource -------------------------------------------------------------------

class IndexDataSource(seqio.DataSource):
  """seqio source streaming {"split", "index", "epoch", "seed"} records of a `ClipSource`.

  The `ClipSource` is built on first use by `clips_fn` (so registering a task reads no files).
  `get_dataset` reads epoch 0 (shuffled with `seed` if `shuffle`), sharded by `shard_info`;
  an unbounded split yields one block of UNBOUNDED_EPOCH indices. The pipeline reads later
  epochs and resumes mid-epoch through `records`.
  """

  def __init__(self, clips_fn: Callable[[], ClipSource], description: str = ""):
    self._clips_fn = clips_fn
    self._clips: ClipSource | None = None
    self.description = description
    super().__init__(splits=SPLITS, caching_permitted=False, performs_internal_shuffling=True)

  @property
  def clips(self) -> ClipSource:
    if self._clips is None:
      self._clips = self._clips_fn()
    return self._clips

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return True

  def list_shards(self, split: str) -> Sequence[str]:
    return [split]

  def num_input_examples(self, split: str) -> int | None:
    return self.clips.num_examples(split)

  def __repr__(self) -> str:
    return f"IndexDataSource({self.description})"

  __str__ = __repr__

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None,
                  shard_info: seqio.ShardInfo | None = None, *, sequence_length=None,
                  use_cached: bool = False, num_epochs: int | None = 1) -> tf.data.Dataset:
    del sequence_length, use_cached, num_epochs
    index, count = (shard_info.index, shard_info.num_shards) if shard_info else (0, 1)
    return self.records(split, epoch=0, seed=seed or 0, shuffle=shuffle, shard_index=index,
                        num_shards=count)

  def records(self, split: str, epoch: int, seed: int, shuffle: bool, shard_index: int = 0,
              num_shards: int = 1, start: int = 0, block: int = 1) -> tf.data.Dataset:
    """The records of one epoch of one shard, from position `start` on."""
    split = canonical_split(split)
    order = self.clips.indices(split, epoch, seed, shuffle, shard_index, num_shards,
                               block)[start:]
    n = len(order)
    return tf.data.Dataset.from_tensor_slices({
        "split": np.array([split] * n, dtype=np.bytes_).reshape(n),
        "index": order.astype(np.int64),
        "epoch": np.full(n, epoch, np.int64),
        "seed": np.full(n, seed, np.int64),
    })
