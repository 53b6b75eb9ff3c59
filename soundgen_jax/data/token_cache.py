"""Cached codec tokens: a corpus encoded once into TFRecord shards that the text-codes tasks read.

Layout of the output folder:

  info.json                          codec and corpus facts (frame_rate, codebooks, ...)
  <split>-<k>-of-<n>.tfrecord        tf.train.Examples (features: preprocessors.CODES_FEATURES)
  <split>-<k>-of-<n>.tfrecord.json   what shard k kept and skipped, by reason

Examples of a split are cut into shards of `examples_per_shard` consecutive indices; host h of
H encodes shards k with k % H == h. A shard is written under a temporary name and renamed when
complete, so after a kill a re-run redoes only the shards that are not there.
"""
from __future__ import annotations

import concurrent.futures
import glob
import json
import math
import os
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf
import tqdm

from soundgen_jax.data import preprocessors as prep
from soundgen_jax.data import sources as sources_lib
from soundgen_jax.data.corpora import manifest as mf

INFO = "info.json"


def shard_name(split: str, k: int, n: int) -> str:
  return f"{split}-{k:05d}-of-{n:05d}.tfrecord"


def _write_json(path: str, obj: Any) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=1, sort_keys=True)
  os.replace(tmp, path)


def encode_example(codes: np.ndarray, clip: dict[str, Any], sample_rate: int) -> bytes:
  """A serialised tf.train.Example of codes [Q, frames] and the clip's caption / metadata
  (`caption`, `id`, `length` in samples, optional `source`, `path`)."""
  def b(s: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode("utf-8")]))

  def i(v) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(v).tolist()))

  feature = {
      "codes": i(codes.astype(np.int64)), "num_codebooks": i(codes.shape[0]),
      "num_frames": i(codes.shape[1]), "caption": b(clip["caption"]),
      "duration": tf.train.Feature(float_list=tf.train.FloatList(
          value=[clip["length"] / sample_rate])),
      "id": b(clip["id"]), "source": b(clip.get("source", "")), "path": b(clip.get("path", "")),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class _Encoder:
  """Encodes clips of any length with few compilations: clips are zero-padded at the end to
  whole-second buckets and batched `batch_size` at a time, and the codes cut back to each
  clip's frames (exact for causal codecs; chunked codecs encode each clip at its length)."""

  def __init__(self, codec, bandwidth: float | None, batch_size: int):
    from soundgen_jax.codecs import inference  # pylint: disable=g-import-not-at-top
    self._encode = inference.encode
    self.codec = codec
    self.cfg = codec.config
    self.bandwidth = bandwidth
    self.batch_size = batch_size
    hop = self.cfg.hop_length
    self.bucket = math.ceil(self.cfg.sample_rate / hop) * hop

  def frames(self, length: int) -> int:
    return math.ceil(length / self.cfg.hop_length)

  def __call__(self, clips: Sequence[dict[str, Any]]) -> list[np.ndarray]:
    out: list[np.ndarray | None] = [None] * len(clips)
    if self.cfg.chunk_length is not None:
      for j, c in enumerate(clips):
        audio = c["audio"][None, :, :c["length"]]
        out[j] = self._encode(self.codec, audio, self.bandwidth).codes[0]
      return out
    groups: dict[int, list[int]] = {}
    for j, c in enumerate(clips):
      groups.setdefault(math.ceil(c["length"] / self.bucket) * self.bucket, []).append(j)
    for size, members in sorted(groups.items()):
      for s in range(0, len(members), self.batch_size):
        part = members[s:s + self.batch_size]
        batch = np.zeros((self.batch_size, self.cfg.channels, size), np.float32)
        for r, j in enumerate(part):
          n = min(clips[j]["length"], size)
          batch[r, :, :n] = clips[j]["audio"][:, :n]
        codes = self._encode(self.codec, batch, self.bandwidth).codes
        for r, j in enumerate(part):
          out[j] = codes[r, :, :self.frames(clips[j]["length"])]
    return out


def tokenize(codec, clips: sources_lib.ClipSource, out_dir: str, *,
             splits: Sequence[str] = sources_lib.SPLITS, bandwidth: float | None = None,
             unbounded_examples: int = 1000, examples_per_shard: int = 256,
             shard_index: int = 0, num_shards: int = 1, batch_size: int = 8,
             workers: int = 4, task_name: str = "", progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
  """Encodes `splits` of `clips` (whose options match the codec) into shards in `out_dir`.

  Returns {"written": [...], "already_done": [...], "kept", "skipped": {reason: n},
  "seconds"} for this host's shards. Bad clips are skipped and counted, never raised.
  """
  cfg = codec.config
  o = clips.options
  if (o.sample_rate, o.channels) != (cfg.sample_rate, cfg.channels):
    raise ValueError(f"the corpus is read at {o.sample_rate} Hz x {o.channels} ch but the "
                     f"codec takes {cfg.sample_rate} Hz x {cfg.channels} ch")
  bandwidth = cfg.bandwidths[-1] if bandwidth is None else float(bandwidth)
  os.makedirs(out_dir, exist_ok=True)
  _write_json(os.path.join(out_dir, INFO), {
      "task": task_name, "sample_rate": cfg.sample_rate, "channels": cfg.channels,
      "frame_rate": cfg.frame_rate, "hop_length": cfg.hop_length,
      "num_codebooks": cfg.num_quantizers_for(bandwidth), "codebook_size": cfg.codebook_size,
      "bandwidth": bandwidth, "max_seconds": o.crop_seconds,
      "examples_per_shard": examples_per_shard})
  plan = []  # (split, shard k, shards n, first index, end index)
  for split in splits:
    split = sources_lib.canonical_split(split)
    n = clips.num_examples(split)
    n = unbounded_examples if n is None else n
    shards = math.ceil(n / examples_per_shard)
    for k in range(shard_index, shards, num_shards):
      plan.append((split, k, shards, k * examples_per_shard,
                   min(n, (k + 1) * examples_per_shard)))
  done = [p for p in plan if os.path.exists(os.path.join(out_dir, shard_name(*p[:3])))]
  todo = [p for p in plan if p not in done]
  if done:
    log(f"{len(done)} of this host's {len(plan)} shards are already written; keeping them")
  encoder = _Encoder(codec, bandwidth, batch_size)
  total = mf.SkipCounter()
  seconds = 0.0
  bar = tqdm.tqdm(total=sum(e - s for _, _, _, s, e in todo), unit="clip", desc="tokenize",
                  disable=not progress, dynamic_ncols=True)

  def load(split, index):
    try:
      return clips.load(split, index, prep.example_rng(0, 0, index, "crop")), ""
    except sources_lib.Skip as e:
      return None, e.reason
    except Exception:  # pylint: disable=broad-except  # one bad clip, not a dead run
      return None, prep.ERROR

  written = []
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for split, k, shards, first, end in todo:
      final = os.path.join(out_dir, shard_name(split, k, shards))
      for stale in glob.glob(f"{final}.tmp*"):
        os.remove(stale)
      counter = mf.SkipCounter()
      tmp = f"{final}.tmp{os.getpid()}"
      window = 4 * batch_size
      with tf.io.TFRecordWriter(tmp) as writer:
        for s in range(first, end, window):
          loaded = list(pool.map(lambda i: load(split, i), range(s, min(end, s + window))))
          good = []
          for clip, reason in loaded:
            if clip is None:
              counter.skip(reason)
            else:
              good.append(clip)
          for clip, codes in zip(good, encoder(good)):
            writer.write(encode_example(codes, clip, cfg.sample_rate))
            counter.keep()
            seconds += clip["length"] / cfg.sample_rate
          bar.update(len(loaded))
      _write_json(final + ".json", counter.as_dict())
      os.replace(tmp, final)
      written.append(final)
      total.update(counter)
  bar.close()
  return {"written": written, "already_done": [os.path.join(out_dir, shard_name(*p[:3]))
                                               for p in done],
          "kept": total.kept, "skipped": dict(sorted(total.counts.items())),
          "seconds": seconds}


def summary(out_dir: str) -> dict[str, Any]:
  """Kept / skipped counts over every finished shard in `out_dir` (all hosts)."""
  total = mf.SkipCounter()
  shards = sorted(glob.glob(os.path.join(out_dir, "*.tfrecord")))
  for path in shards:
    if os.path.exists(path + ".json"):
      with open(path + ".json") as f:
        stats = json.load(f)
      total.kept += stats["kept"]
      total.counts.update(stats["skipped"])
  return {"shards": len(shards), "kept": total.kept, "skipped": dict(sorted(total.counts.items()))}
