"""seqio preprocessors of the audio tasks, each a NumPy core plus a `dataset -> dataset` wrapper.

The NumPy cores (`*_np`) hold the logic and are what the tests check. The wrappers run them with
`tf.numpy_function` in a deterministic parallel `map`. Randomness never comes from the stream:
every random choice uses `example_rng(seed, epoch, index, salt)` from the example's own record,
so an example is the same whatever was read before it, and a restored iterator repeats it.

A bad example is not dropped inside the dataset: it carries its reason in the `skip` feature
(empty for good ones) and zeros in place of audio, so whoever iterates can count it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from soundgen_jax.data import sources as sources_lib
from soundgen_jax.data.corpora import manifest as mf

PARTNER_TRIES = 3  # mix partners drawn before an example is left unmixed
ERROR = "error"  # an unforeseen exception while loading; counted like any other bad example
_SALTS = {"crop": 0, "mix": 1, "mix_partner": 2, "caption": 3, "codes": 4}
_logged_errors: set[str] = set()


def example_rng(seed: int, epoch: int, index: int, salt: str) -> np.random.Generator:
  """The RNG of one random choice about one example (see the module docstring)."""
  return np.random.default_rng([int(seed) % 2**63, int(epoch), int(index), _SALTS[salt]])


def _text(x: Any) -> str:
  return x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)


def _bytes(s: str) -> bytes:
  return s.encode("utf-8", "surrogateescape")


def _py_map(dataset: tf.data.Dataset, fn: Callable[..., tuple], inputs: Sequence[str],
            outputs: Mapping[str, tuple[tf.dtypes.DType, Any]]) -> tf.data.Dataset:
  """Maps `fn(*[ex[k] for k in inputs]) -> tuple of outputs` over the dataset, in parallel and
  in order; `outputs` maps each produced feature to (dtype, static shape)."""
  names = list(outputs)

  def apply(ex):
    values = tf.numpy_function(fn, [ex[k] for k in inputs], [outputs[k][0] for k in names],
                               stateful=False)
    ex = dict(ex)
    for k, v in zip(names, values):
      v.set_shape(outputs[k][1])
      ex[k] = v
    return ex

  return dataset.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# --- decoding -------------------------------------------------------------------------------

def load_clip(source: sources_lib.ClipSource, split: str, index: int, epoch: int, seed: int
              ) -> tuple[np.ndarray, str, str, str]:
  """(audio [C, T], caption, id, skip reason) of one example; never raises."""
  o = source.options
  try:
    ex = source.load(split, index, example_rng(seed, epoch, index, "crop"))
    return ex["audio"], ex["caption"], ex["id"], ""
  except sources_lib.Skip as e:
    reason = e.reason
  except Exception as e:  # pylint: disable=broad-except  # one bad example, not a dead run
    reason = ERROR
    key = type(e).__name__
    if key not in _logged_errors:
      _logged_errors.add(key)
      logging.warning("data: unexpected %s on %s example %d of %s: %s", key, split, index,
                      source.name, e)
  return np.zeros((o.channels, o.num_samples), np.float32), "", "", reason


def decode_clips(dataset: tf.data.Dataset, source: sources_lib.ClipSource) -> tf.data.Dataset:
  """Index records -> {"audio" float32 [C, T], "caption", "id", "skip"} (plus the record)."""
  o = source.options

  def fn(split, index, epoch, seed):
    audio, caption, id_, skip = load_clip(source, _text(split), index, epoch, seed)
    return audio, _bytes(caption), _bytes(id_), _bytes(skip)

  return _py_map(dataset, fn, ["split", "index", "epoch", "seed"], {
      "audio": (tf.float32, (o.channels, o.num_samples)), "caption": (tf.string, ()),
      "id": (tf.string, ()), "skip": (tf.string, ())})


# --- loudness -------------------------------------------------------------------------------

def normalize_loudness_np(audio: np.ndarray, target_db: float = -20.0,
                          max_gain_db: float = 30.0, peak: float = 0.99) -> np.ndarray:
  """Scales to an RMS of `target_db` dBFS (gain at most `max_gain_db`), then lowers the gain
  if needed so the peak stays below `peak`. All-zero audio is returned unchanged."""
  rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
  if rms <= 0:
    return audio
  gain = min(10 ** ((target_db - 20 * np.log10(rms)) / 20), 10 ** (max_gain_db / 20))
  top = float(np.max(np.abs(audio))) * gain
  if top > peak:
    gain *= peak / top
  return (audio * gain).astype(np.float32)


def normalize_loudness(dataset: tf.data.Dataset, target_db: float = -20.0,
                       max_gain_db: float = 30.0, peak: float = 0.99) -> tf.data.Dataset:
  """RMS loudness normalisation of `audio` (see `normalize_loudness_np`)."""
  spec = dataset.element_spec["audio"]

  def fn(audio):
    return (normalize_loudness_np(audio, target_db, max_gain_db, peak),)

  return _py_map(dataset, fn, ["audio"], {"audio": (tf.float32, spec.shape)})


# --- mixing augmentation --------------------------------------------------------------------

def mix_np(a: np.ndarray, b: np.ndarray, snr_db: float, peak: float = 0.99) -> np.ndarray:
  """a + b with b scaled so that RMS(a) / RMS(b) is `snr_db`; scaled down if it would clip."""
  ra = np.sqrt(np.mean(np.square(a, dtype=np.float64)))
  rb = np.sqrt(np.mean(np.square(b, dtype=np.float64)))
  gain = ra / rb * 10 ** (-snr_db / 20) if rb > 0 and ra > 0 else 1.0
  out = a + gain * b
  top = float(np.max(np.abs(out)))
  if top > peak:
    out = out * (peak / top)
  return out.astype(np.float32)


def join_captions(a: str, b: str) -> str:
  """AudioGen's mixed captions: both descriptions, joined with 'and'."""
  return f"{a} and {b}"


def mix(dataset: tf.data.Dataset, source: sources_lib.ClipSource, probability: float = 0.5,
        snr_db: tuple[float, float] = (-5.0, 5.0), train_only: bool = True) -> tf.data.Dataset:
  """AudioGen's mixing augmentation: with `probability`, a second clip of the same split,
  drawn at random, is mixed in at an SNR drawn from `snr_db` and the captions are joined.

  A bad partner is replaced by another draw, PARTNER_TRIES times at most, then the example
  stays unmixed (it is not counted as skipped).
  `train_only`: other splits pass through unchanged.
  """
  spec = dataset.element_spec["audio"]
  lo, hi = map(float, snr_db)

  def fn(audio, caption, skip, split, index, epoch, seed):
    split = _text(split)
    if skip or probability <= 0 or (train_only and split != "train"):
      return audio, caption
    rng = example_rng(seed, epoch, index, "mix")
    if rng.random() >= probability:
      return audio, caption
    n = source.num_examples(split)
    first = 0 if n is not None else int(epoch) * sources_lib.UNBOUNDED_EPOCH
    n = n if n is not None else sources_lib.UNBOUNDED_EPOCH
    if n < 2:
      return audio, caption
    for _ in range(PARTNER_TRIES):
      partner = first + int((index - first + rng.integers(1, n)) % n)  # never itself
      b, b_caption, _, b_skip = load_clip(source, split, partner, epoch, seed)
      if not b_skip:
        break
    else:
      return audio, caption
    mixed = mix_np(audio, b, float(rng.uniform(lo, hi)))
    return mixed, _bytes(join_captions(_text(caption), b_caption))

  return _py_map(dataset, fn, ["audio", "caption", "skip", "split", "index", "epoch", "seed"],
                 {"audio": (tf.float32, spec.shape), "caption": (tf.string, ())})


# --- caption augmentation -------------------------------------------------------------------

def augment_caption_np(caption: str, rng: np.random.Generator, shuffle_probability: float = 0.0,
                       drop_probability: float = 0.0, separator: str = ", ") -> str:
  """Caption tags (the parts between `separator`s) shuffled with `shuffle_probability` and each
  dropped with `drop_probability`; at least one tag is always kept."""
  tags = [t.strip() for t in caption.split(separator.strip()) if t.strip()]
  if len(tags) < 2:
    return caption
  if drop_probability > 0:
    keep = rng.random(len(tags)) >= drop_probability
    if not keep.any():
      keep[rng.integers(len(tags))] = True
    tags = [t for t, k in zip(tags, keep) if k]
  if shuffle_probability > 0 and rng.random() < shuffle_probability:
    tags = [tags[i] for i in rng.permutation(len(tags))]
  return separator.join(tags)


def augment_caption(dataset: tf.data.Dataset, shuffle_probability: float = 0.5,
                    drop_probability: float = 0.1, separator: str = ", ",
                    train_only: bool = True) -> tf.data.Dataset:
  """Tag shuffling and dropping on `caption` (see `augment_caption_np`); with `train_only`,
  other splits pass through unchanged."""

  def fn(caption, skip, split, index, epoch, seed):
    if skip or (train_only and _text(split) != "train"):
      return (caption,)
    rng = example_rng(seed, epoch, index, "caption")
    out = augment_caption_np(_text(caption), rng, shuffle_probability, drop_probability,
                             separator)
    return (_bytes(out),)

  return _py_map(dataset, fn, ["caption", "skip", "split", "index", "epoch", "seed"],
                 {"caption": (tf.string, ())})


# --- cached codec tokens --------------------------------------------------------------------

CODES_FEATURES = {
    "codes": tf.io.VarLenFeature(tf.int64),            # [Q * frames], row-major [Q, frames]
    "num_codebooks": tf.io.FixedLenFeature([], tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "caption": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "duration": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "path": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def parse_codes(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """Parsed TFRecord features -> {"codes": int32 [Q, frames], "caption", "id", "skip", ...}.

  Examples with no frames or an empty caption carry a `skip` reason.
  """

  def fn(ex):
    codes = tf.sparse.to_dense(ex["codes"]) if isinstance(ex["codes"], tf.SparseTensor) \
        else ex["codes"]
    q, t = ex["num_codebooks"], ex["num_frames"]
    codes = tf.reshape(tf.cast(codes, tf.int32), tf.stack([q, t]))
    empty = tf.strings.length(tf.strings.strip(ex["caption"])) == 0
    skip = tf.where(t <= 0, mf.TOO_SHORT, tf.where(empty, mf.BAD_CAPTION, ""))
    out = {k: v for k, v in ex.items() if k not in ("codes", "num_codebooks", "num_frames")}
    out.update(codes=codes, skip=skip)
    return out

  return dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def codes_info(codes_dir: str) -> dict[str, Any]:
  """The info.json launch/tokenize.py writes beside its shards ({} if there is none)."""
  path = os.path.join(codes_dir, "info.json")
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)


def crop_codes(dataset: tf.data.Dataset, max_frames: int | None = None,
               seconds: float | None = None, codes_dir: str | None = None) -> tf.data.Dataset:
  """Random crop of `codes` [Q, frames] to at most `max_frames` frames (else `seconds` at the
  frame rate in `codes_dir`'s info.json; else no crop).

  The offset is drawn statelessly from the example's id and the (seed, epoch) fields the
  pipeline adds (0 when absent), so it does not depend on the stream position.
  """
  if not max_frames and seconds and codes_dir:
    rate = codes_info(codes_dir).get("frame_rate")
    max_frames = int(round(seconds * rate)) if rate else None
  if not max_frames:
    return dataset

  def fn(ex):
    codes = ex["codes"]
    t = tf.shape(codes, out_type=tf.int64)[1]
    room = tf.maximum(t - max_frames, 0)
    key = tf.strings.to_hash_bucket_fast(ex["id"], 2**31 - 1)
    seed = tf.cast(ex.get("seed", tf.constant(0, tf.int64)), tf.int64) * 1_000_003 + \
        tf.cast(ex.get("epoch", tf.constant(0, tf.int64)), tf.int64)
    offset = tf.random.stateless_uniform([], seed=tf.stack([key, seed % (2**31 - 1)]),
                                         minval=0, maxval=room + 1, dtype=tf.int64)
    ex = dict(ex)
    ex["codes"] = codes[:, offset:offset + max_frames]
    return ex

  return dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
