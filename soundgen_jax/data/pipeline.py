"""The one entry point trainers use for data: `make_iterator(data_config, ...) -> DataIterator`.

  it = make_iterator(config.data, split="train", batch_size=8, seed=config.seed,
                     shard_index=jax.process_index(), num_shards=jax.process_count())
  batch = next(it)            # dict of NumPy arrays for this host
  state = it.get_state()      # JSON-serialisable; save it with the checkpoint
  it.set_state(state)         # the next batches are exactly those the saved iterator gave next
  it.skipped()                # {"corrupt": 2, "silent": 1, ...} so far

Batches by view of the task (see tasks.py):
  audio        {"audio": float32 [B, C, T], "valid": bool [B]}
  text_audio   {"audio", "caption": object [B] of str, "id", "valid"}
  text_codes   {"codes": int32 [B, Q, frames], "codes_mask": bool [B, frames], "caption",
                "id", "valid"}
`valid` is False only for the padding rows of the last batch of an eval split.

The train split repeats forever; each epoch is a fresh permutation seeded by (seed, epoch).
Other splits are read once. Each host reads shard `shard_index` of `num_shards`: every
`num_shards`-th block of `batch_size` examples, so the shards are disjoint, cover each epoch,
and the hosts' batches side by side are the batch of one host reading it all (the global batch
does not depend on the process count). `set_state_from_shards` resumes a run on another process
count. Bad examples are skipped and counted, never raised.
"""
from __future__ import annotations

import atexit
import collections
import itertools
import weakref
from typing import Any, Iterator, Mapping

import numpy as np
import seqio
import tensorflow as tf

from soundgen_jax.data import feature_converters
from soundgen_jax.data import preprocessors as prep
from soundgen_jax.data import sources
from soundgen_jax.data import tasks as tasks_lib

STATE_VERSION = 1
_LIVE: "weakref.WeakSet[DataIterator]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
  # tf.data threads still running Python preprocessors at interpreter exit abort the process
  # ("terminate called without an active exception"); stop them first.
  for it in list(_LIVE):
    it.close()


class DataError(ValueError):
  """A data setting that cannot work (e.g. a split with no usable example); one line."""


def make_iterator(data_config: Any, *, split: str, batch_size: int, seed: int,
                  shard_index: int = 0, num_shards: int = 1,
                  drop_remainder: bool = False) -> "DataIterator":
  """The batches of `split` of the task `data_config` describes, for one host.

  `data_config`: ConfigDict or mapping with `task` (a registered task name or a shorthand:
  synthetic, debian, files, manifest, codes) and the options in `tasks.DEFAULTS`
  (sample_rate, channels, crop_seconds, path / glob / manifest, codes_dir, ...). No task and
  no path: the built-in synthetic corpus, audio only.
  `drop_remainder`: leave out the last partial batch of an eval split instead of padding it.
  """
  task = tasks_lib.task_for(data_config)
  return DataIterator(task, split=split, batch_size=batch_size, seed=seed,
                      shard_index=shard_index, num_shards=num_shards,
                      drop_remainder=drop_remainder)


class DataIterator:
  """Deterministic, resumable batches of one seqio task for one host (see module docstring)."""

  def __init__(self, task: seqio.Task, *, split: str, batch_size: int, seed: int,
               shard_index: int = 0, num_shards: int = 1, drop_remainder: bool = False):
    if batch_size < 1:
      raise ValueError(f"batch_size={batch_size}: use 1 or more")
    if not 0 <= shard_index < num_shards:
      raise ValueError(f"shard_index={shard_index} is not in [0, num_shards={num_shards})")
    self.task = task
    self.split = sources.canonical_split(split)
    self.view = tasks_lib.view_of(task)
    self.batch_size = int(batch_size)
    self.seed = int(seed)
    self.shard_index, self.num_shards = int(shard_index), int(num_shards)
    self.repeat = self.split == "train"
    self.drop_remainder = drop_remainder
    self._indexed = isinstance(task.source, sources.IndexDataSource)
    if self._indexed:
      task.source.clips  # pylint: disable=pointless-statement  # a missing corpus fails here
    if self.view == tasks_lib.TEXT_CODES:
      self._codes_frames = self._frames_per_example()
    self._epoch, self._position = 0, 0
    self._counts: collections.Counter[str] = collections.Counter()
    self._kept = 0
    self._elements: Iterator[dict[str, Any]] | None = None
    self._done = False
    _LIVE.add(self)

  # --- state ---------------------------------------------------------------------------------

  def get_state(self) -> dict[str, Any]:
    """Where the iterator stands, as a JSON-serialisable dict."""
    return {"version": STATE_VERSION, "task": self.task.name, "split": self.split,
            "seed": self.seed, "shard_index": self.shard_index, "num_shards": self.num_shards,
            "epoch": self._epoch, "position": self._position, "kept": self._kept,
            "skipped": dict(self._counts), "done": self._done}

  def set_state(self, state: Mapping[str, Any]) -> None:
    """Continues from `state` (from `get_state` of an iterator over the same data)."""
    mine = self.get_state()
    for key in ("split", "seed", "shard_index", "num_shards"):
      if state.get(key) != mine[key]:
        raise DataError(f"data state is for {key}={state.get(key)!r}, this iterator has "
                        f"{mine[key]!r}; restore it into an iterator made with the same "
                        "split, seed and sharding")
    if state.get("task") != self.task.name:
      raise DataError(f"data state is for task {state.get('task')!r}, this iterator reads "
                      f"{self.task.name!r}; keep the data config of the saved run")
    self._epoch, self._position = int(state["epoch"]), int(state["position"])
    self._kept = int(state.get("kept", 0))
    self._counts = collections.Counter({k: int(v) for k, v in state.get("skipped", {}).items()})
    self._done = bool(state.get("done", False))
    self.close()

  def set_state_from_shards(self, states: list[Mapping[str, Any]]) -> None:
    """Continues where the hosts of a run stopped (`states`: one per host, in process order),
    whatever this run's process count. Across counts it is exact when the hosts stood at the
    same place (same epoch, no example skipped): their positions add up to the one-host one."""
    if len(states) == self.num_shards:
      self.set_state(states[self.shard_index])
      return
    old = len(states)
    for k, state in enumerate(states):
      if state.get("shard_index") != k or state.get("num_shards") != old:
        raise DataError(f"data state {k} of {old} is for shard {state.get('shard_index')} of "
                        f"{state.get('num_shards')}; the checkpoint's data states are mixed up")
    global_batch = self.batch_size * self.num_shards
    epoch = max(int(s["epoch"]) for s in states)
    consumed = sum(int(s["position"]) for s in states if int(s["epoch"]) == epoch)
    full, rest = divmod(consumed, global_batch)
    ahead = min(max(rest - self.shard_index * self.batch_size, 0), self.batch_size)
    first = self.shard_index == 0  # the counts, once
    skipped: collections.Counter[str] = collections.Counter()
    for s in states:
      skipped.update(s.get("skipped", {}))
    self.set_state({**states[0], "shard_index": self.shard_index, "num_shards": self.num_shards,
                    "epoch": epoch, "position": full * self.batch_size + ahead,
                    "kept": sum(int(s.get("kept", 0)) for s in states) if first else 0,
                    "skipped": dict(skipped) if first else {},
                    "done": all(bool(s.get("done", False)) for s in states)})

  def close(self) -> None:
    """Stops the background reading (the position is kept; iterating again resumes)."""
    if self._elements is not None:
      self._elements.close()
      self._elements = None

  def skipped(self) -> dict[str, int]:
    """Bad examples skipped so far (and bad manifest lines), by reason."""
    counts = collections.Counter(self._counts)
    if self._indexed:
      counts.update(self.task.source.clips.listing_skips)
    return dict(sorted(counts.items()))

  def kept(self) -> int:
    """Examples read and used so far."""
    return self._kept

  # --- iteration -----------------------------------------------------------------------------

  def __iter__(self) -> "DataIterator":
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._elements is None:
      self._elements = self._good_elements()
    rows = list(itertools.islice(self._elements, self.batch_size))
    if not rows or (len(rows) < self.batch_size and self.drop_remainder):
      raise StopIteration
    return self._batch(rows)

  def _good_elements(self) -> Iterator[dict[str, Any]]:
    """The usable elements from the current position on; updates the position as it goes."""
    while not self._done:
      kept_before = self._kept
      for ex in self._epoch_elements(self._epoch, self._position):
        self._position += 1
        reason = _text(ex.get("skip", b""))
        if reason:
          self._counts[reason] += 1
          continue
        self._kept += 1
        yield ex
      if self.repeat and self._kept == kept_before and self._position_was_whole_epoch():
        raise DataError(f"{self.task.name}: no usable example in a whole epoch of split "
                        f"{self.split!r} (skipped: {self.skipped()}); check the data")
      if not self.repeat:
        self._done = True
        return
      self._epoch, self._position = self._epoch + 1, 0

  def _position_was_whole_epoch(self) -> bool:
    # Set by _epoch_elements: whether the epoch just read was read from its start.
    return self._from_start

  def _epoch_elements(self, epoch: int, start: int) -> Iterator[dict[str, Any]]:
    """Elements of one epoch from `start`, one by one. tf.data hands them over in chunks of a
    batch (far less per-element overhead); rows of a chunk not yet taken are simply read
    again after a restore, since the state counts only the rows taken."""
    self._from_start = start == 0
    keep = ("audio", "caption", "id", "skip", "codes", "codes_mask")
    ds = self._dataset(epoch, start)
    ds = ds.map(lambda ex: {k: v for k, v in ex.items() if k in keep})
    ds = ds.batch(self.batch_size).prefetch(2)
    for chunk in ds.as_numpy_iterator():
      for r in range(len(chunk["skip"])):
        yield {k: v[r] for k, v in chunk.items()}

  def _dataset(self, epoch: int, start: int) -> tf.data.Dataset:
    task = self.task
    if self._indexed:
      ds = task.source.records(self.split, epoch, self.seed, shuffle=self.repeat,
                               shard_index=self.shard_index, num_shards=self.num_shards,
                               start=start, block=self.batch_size)
      if not self.repeat and epoch == 0 and start == 0 and not task.source.num_input_examples(
          self.split):
        raise DataError(f"{task.name}: split {self.split!r} is empty (give manifest entries a "
                        "'split', or raise data.eval_fraction for files without one)")
    else:
      ds = self._file_records(epoch, start)
    ds = task.preprocess_precache(ds, seed=self.seed)
    ds = task.preprocess_postcache(ds, sequence_length=None, seed=self.seed)
    if self.view == tasks_lib.TEXT_CODES:
      converter = feature_converters.CodesFeatureConverter()
      ds = converter(ds, converter.task_feature_lengths(self._codes_frames))
    return ds.prefetch(tf.data.AUTOTUNE)

  def _file_records(self, epoch: int, start: int) -> tf.data.Dataset:
    """Records of a file source (cached codes): one file order for all epochs, shuffled per
    epoch with a seeded buffer, sharded in blocks of a batch, then `start` records skipped.
    Every host reads every record (codes are small) so that the shuffle is the one-host one."""
    source = self.task.source
    if not source.list_shards(self.split):
      raise DataError(f"{self.task.name}: no shards for split {self.split!r} "
                      f"({source}); make them with launch/tokenize.py")
    ds = source.get_dataset(self.split, shuffle=False)
    ds = ds.map(lambda ex: {**ex, "epoch": tf.constant(epoch, tf.int64),
                            "seed": tf.constant(self.seed, tf.int64)})
    if self.repeat:
      buffer = self.task.shuffle_buffer_size or 1000
      ds = ds.shuffle(buffer, seed=_mix_seed(self.seed, epoch), reshuffle_each_iteration=False)
    if self.num_shards > 1:
      n, k, b = self.num_shards, self.shard_index, self.batch_size
      ds = ds.enumerate().filter(lambda i, ex: (i // b) % n == k).map(lambda i, ex: ex)
    return ds.skip(start)

  def _frames_per_example(self) -> int:
    """Codes frames per example: the crop the task was made with (info.json's frame rate x
    crop_seconds, or max_frames)."""
    name = self.task.name
    o = tasks_lib.options(name) if name in tasks_lib.names() else {}
    if o.get("max_frames"):
      return int(o["max_frames"])
    info = prep.codes_info(o.get("codes_dir", ""))
    if not info:
      raise DataError(f"{name}: no info.json in {o.get('codes_dir')!r}; make the codes with "
                      "launch/tokenize.py --out DIR and set data.codes_dir=DIR")
    return int(round(float(o["crop_seconds"]) * float(info["frame_rate"])))

  def _batch(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    n = len(rows)
    pad = self.batch_size - n
    if self.view == tasks_lib.TEXT_CODES:
      keys = ("codes", "codes_mask")
    else:
      keys = ("audio",)
    out = {}
    for k in keys:
      x = np.stack([r[k] for r in rows])
      if pad:
        x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
      out[k] = x
    if self.view != tasks_lib.AUDIO:
      for k in ("caption", "id"):
        out[k] = np.array([_text(r[k]) for r in rows] + [""] * pad, dtype=object)
    out["valid"] = np.arange(self.batch_size) < n
    return out


def _text(x: Any) -> str:
  return x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)


def _mix_seed(seed: int, epoch: int) -> int:
  return int(np.random.default_rng([int(seed) % 2**63, int(epoch)]).integers(2**62))


def default_config():
  """A data ConfigDict with every option at its default (the synthetic audio corpus)."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict()
  c.task = "synthetic"
  for k, v in tasks_lib.DEFAULTS.items():
    c[k] = v
  return c
