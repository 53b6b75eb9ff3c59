"""Small deterministic data with the interface of `soundgen_jax.data.pipeline.make_iterator`,
and tiny codec configs, for fast training tests."""
import zlib

import numpy as np

from configs import encodec


class SineIterator:
  """Batches {"audio": [B, C, T], "valid": [B]} of random sine chords, a pure function of
  (seed, split, position); `nan_at` puts NaN samples in that batch (0-based)."""

  def __init__(self, data_config, *, split, batch_size, seed, shard_index=0, num_shards=1,
               nan_at=None):
    self.rate = int(data_config.sample_rate)
    self.channels = int(data_config.channels)
    self.length = int(round(data_config.crop_seconds * self.rate))
    self.split, self.batch_size, self.seed = split, batch_size, seed
    self.shard = (shard_index, num_shards)
    self.position = 0
    self.nan_at = nan_at

  def __iter__(self):
    return self

  def __next__(self):
    split = zlib.crc32(self.split.encode())  # str hash() changes between processes
    rng = np.random.default_rng([self.seed, split, *self.shard, self.position])
    t = np.arange(self.length) / self.rate
    freqs = rng.uniform(100, 2000, (self.batch_size, self.channels, 3, 1))
    amps = rng.uniform(0.05, 0.3, (self.batch_size, self.channels, 3, 1))
    audio = np.sum(amps * np.sin(2 * np.pi * freqs * t), axis=2).astype(np.float32)
    if self.nan_at is not None and self.position == self.nan_at:
      audio[0, 0, 10] = np.nan
    self.position += 1
    return {"audio": audio, "valid": np.ones((self.batch_size,), bool)}

  def get_state(self):
    return {"position": self.position}

  def set_state(self, state):
    self.position = int(state["position"])

  def skipped(self):
    return {"silent": 1}


def sine_factory(**extra):
  return lambda *args, **kwargs: SineIterator(*args, **kwargs, **extra)


# The tiny EnCodec config shrunk further (0.1 s clips, 2 MS-STFT and 2 mel scales), as flags
# for launch/train.py and as a ConfigDict for in-process tests. The GAN from step 1 at the
# published constant learning rate (tiny's 2e-3 makes Adam turn float reordering across devices
# in near-zero gradients into lr-sized steps, which the 1e-5 mesh comparison would flag).
SMALL = {"optimizer.generator.learning_rate": 3e-4, "optimizer.generator.schedule": "constant",
         "optimizer.discriminator.learning_rate": 3e-4,
         "model.num_filters": 4, "model.dimension": 16, "model.lstm_layers": 0,
         "model.codebook_size": 16, "model.kmeans_iters": 2, "discriminator.filters": 4,
         "discriminator.n_ffts": (256, 128), "loss.mel_scales": (6, 7), "data.crop_seconds": 0.1,
         "batch_size": 8, "eval.batch_size": 8, "eval.num_batches": 1, "log_every_steps": 1,
         "loss.adversarial_start_step": 0, "eval_every_steps": 0}


def small_flags():
  return [f"--config.{k}={v}" for k, v in SMALL.items()]


def tiny_config(**overrides):
  c = encodec.get_config("tiny")
  for key, value in {**SMALL, **overrides}.items():
    *parents, leaf = key.split(".")
    node = c
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c
