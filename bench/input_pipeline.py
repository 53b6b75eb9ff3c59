"""Input pipeline throughput on this machine, in examples/s (batches through make_iterator).

  text-audio   a folder of 44.1 kHz stereo FLAC clips read as 24 kHz mono 4 s crops with
               AudioGen mixing (p = 0.5): decode + resample + channels + crop + mix
  debian       the same on the real debian corpus, when scripts/fetch_corpus.py has built it
  synthetic    the default codec-training data (synthetic corpus, 24 kHz, 1 s crops)
  text-codes   cached tokens: TFRecord shards of 4 x 500 codes (10 s at 50 frames/s)

The reference of each line is the same work done by a plain sequential Python loop (same
decoding functions, one example after another), so `speedup` is what the parallel tf.data
pipeline gains. Compare the examples/s with the trainers' steps/s x batch size.

  python bench/input_pipeline.py [--batches 8] [--batch_size 16]
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402


def _rate(fn, count):
  start = time.perf_counter()
  fn()
  return count / (time.perf_counter() - start)


def pipeline_rate(config, batches, batch_size):
  from soundgen_jax.data import pipeline
  it = pipeline.make_iterator(config, split="train", batch_size=batch_size, seed=0)
  next(it)  # warm-up: builds the tf.data graph and fills the prefetch buffer once

  def run():
    for _ in range(batches):
      next(it)

  rate = _rate(run, batches * batch_size)
  clips = it.task.source.clips if hasattr(it.task.source, "clips") else None
  it.close()
  return rate, clips, it.skipped()


def serial_audio_rate(clips, count, mix_probability):
  """The reference: the same ClipSource loads and mixes, one after another in one thread."""
  from soundgen_jax.data import preprocessors as prep
  n = clips.num_examples("train") or 100_000

  def run():
    for i in range(count):
      audio, caption, _, skip = prep.load_clip(clips, "train", i % n, 0, 1)
      rng = prep.example_rng(1, 0, i, "mix")
      if not skip and rng.random() < mix_probability:
        b, _, _, b_skip = prep.load_clip(clips, "train", (i + 1 + rng.integers(n - 1)) % n, 0, 1)
        if not b_skip:
          prep.mix_np(audio, b, float(rng.uniform(-5, 5)))

  return _rate(run, count)


def make_flac_folder(folder, count=48, seconds=6.0, rate=44100):
  rng = np.random.default_rng(0)
  t = np.arange(int(seconds * rate)) / rate
  for i in range(count):
    x = 0.3 * np.sin(2 * np.pi * (100 + 20 * i) * t)[:, None] + 0.05 * rng.standard_normal(
        (t.size, 2))
    soundfile.write(os.path.join(folder, f"clip_{i:03d}.flac"), x.astype(np.float32), rate)


def make_codes(folder, count=2000, q=4, frames=500, shards=4):
  import tensorflow as tf
  from soundgen_jax.data import token_cache
  rng = np.random.default_rng(0)
  per = count // shards
  for k in range(shards):
    path = os.path.join(folder, token_cache.shard_name("train", k, shards))
    with tf.io.TFRecordWriter(path) as w:
      for i in range(per):
        clip = {"caption": f"sound number {k * per + i}", "id": f"{k}-{i}", "length": 160000}
        codes = rng.integers(0, 2048, (q, frames))
        w.write(token_cache.encode_example(codes, clip, 16000))
  with open(os.path.join(folder, "info.json"), "w") as f:
    f.write('{"frame_rate": 50}')


def serial_codes_rate(folder, count):
  """The reference: parse the records one by one with tf.train.Example in Python."""
  import glob
  import tensorflow as tf

  def run():
    seen = 0
    for path in sorted(glob.glob(os.path.join(folder, "train-*.tfrecord"))):
      for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        f = tf.train.Example.FromString(raw).features.feature
        codes = np.asarray(f["codes"].int64_list.value, np.int32).reshape(
            f["num_codebooks"].int64_list.value[0], -1)
        mask = np.ones(codes.shape[1], bool)
        del mask
        seen += 1
        if seen == count:
          return

  return _rate(run, count)


def report(name, ours, ref):
  print(f"bench {name}: ours {ours:.1f} examples/s, reference {ref:.1f} examples/s, "
        f"speedup {ours / ref:.2f}x", flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batches", type=int, default=8)
  parser.add_argument("--batch_size", type=int, default=16)
  args = parser.parse_args()
  n = args.batches * args.batch_size
  print(f"{os.cpu_count()} CPUs; {args.batches} batches of {args.batch_size} per measurement",
        flush=True)
  with tempfile.TemporaryDirectory() as tmp:
    audio_dir = os.path.join(tmp, "audio")
    os.makedirs(audio_dir)
    make_flac_folder(audio_dir)
    text_audio = dict(task="user_text_audio", path=audio_dir, sample_rate=24000, channels=1,
                      crop_seconds=4.0, mix_probability=0.5, eval_fraction=0.0)
    ours, clips, _ = pipeline_rate(text_audio, args.batches, args.batch_size)
    report("text_audio_pipeline (flac 44.1k stereo -> 24k mono 4 s, mix 0.5)", ours,
           serial_audio_rate(clips, n, 0.5))

    debian = dict(text_audio, task="debian_text_audio")
    if os.path.isfile(os.path.join("data", "debian", "train.jsonl")):
      ours, clips, skipped = pipeline_rate(debian, args.batches, args.batch_size)
      report("text_audio_pipeline debian (real files -> 24k mono 4 s, mix 0.5)", ours,
             serial_audio_rate(clips, n, 0.5))
      print(f"  debian skipped while measuring: {skipped}")
    else:
      print("(debian corpus not built: skipped; scripts/fetch_corpus.py builds it)")

    synthetic = dict(task="synthetic_audio", sample_rate=24000, crop_seconds=1.0)
    ours, clips, _ = pipeline_rate(synthetic, args.batches, args.batch_size)
    report("synthetic_audio_pipeline (24k, 1 s, codec default)", ours,
           serial_audio_rate(clips, n, 0.0))

    codes_dir = os.path.join(tmp, "codes")
    os.makedirs(codes_dir)
    make_codes(codes_dir)
    codes = dict(task="codes", codes_dir=codes_dir, crop_seconds=10.0)
    big = 10 * args.batches
    ours, _, _ = pipeline_rate(codes, big, args.batch_size)
    report("text_codes_pipeline (4 x 500 codes, 10 s at 50 Hz)", ours,
           serial_codes_rate(codes_dir, big * args.batch_size))

  # Does the input keep up with training? The tiny codec trainer's demand in examples/s
  # (its steps/s x batch) against this pipeline's supply for the same data settings.
  config = _tiny_codec_config()
  data = dict(task="synthetic_audio", sample_rate=config.data.sample_rate,
              crop_seconds=config.data.crop_seconds)
  supply, _, _ = pipeline_rate(data, args.batches, config.batch_size)
  demand = _tiny_trainer_examples_per_s(config)
  print(f"bench input_vs_tiny_codec_trainer: ours {supply:.1f} examples/s, reference "
        f"{demand:.1f} examples/s, speedup {supply / demand:.2f}x", flush=True)


def _tiny_codec_config():
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from configs import encodec as encodec_configs
  return encodec_configs.get_config("tiny")


def _tiny_trainer_examples_per_s(config, steps=10):
  """Examples/s the tiny codec training step consumes (bench/train_step.py's measurement)."""
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import train_step
  rate = config.data.sample_rate
  audio = train_step._audio(config.batch_size, rate, config.data.crop_seconds)
  steps_per_s, _, _ = train_step.ours(config, audio, steps)
  return steps_per_s * config.batch_size


if __name__ == "__main__":
  main()
