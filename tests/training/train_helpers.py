"""Small deterministic data with the interface of `soundgen_jax.data.pipeline.make_iterator`,
tiny codec configs, and the launch/train.py plumbing of the kill-and-resume tests."""
import os
import signal
import subprocess
import time
import zlib

import numpy as np

from configs import encodec
from soundgen_jax.training import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def with_overrides(config, overrides):
  """`config` with dotted-key overrides ({"model.dim": 32}) set in place; returns it."""
  for key, value in overrides.items():
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def tiny_config(**overrides):
  return with_overrides(encodec.get_config("tiny"), {**SMALL, **overrides})


def launch_env(cache_dir):
  """launch/train.py subprocesses: one CPU device, the tests' compilation cache."""
  env = dict(os.environ)
  env.update(XLA_FLAGS="--xla_force_host_platform_device_count=1", JAX_PLATFORMS="cpu",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", TF_CPP_MIN_LOG_LEVEL="3")
  env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
  return env


def logged_losses(workdir):
  """step -> every logged number but the timing."""
  return {r["step"]: {k: v for k, v in r.items() if k != "steps_per_sec"}
          for r in metrics.read_metrics(workdir)}


def run_to_end(cmd, env):
  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  return done


def kill_after_checkpoint(cmd, workdir, env, step, total):
  """Starts `cmd` and SIGKILLs it once checkpoint `step` exists; checks it died mid-run with
  at least one checkpoint written."""
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  first = workdir / "checkpoints" / str(step)
  deadline = time.time() + 300
  while not first.is_dir() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  _, err = proc.communicate()
  assert proc.returncode == -signal.SIGKILL, err[-3000:]
  steps = sorted(int(p) for p in os.listdir(workdir / "checkpoints") if p.isdigit())
  assert steps and steps[-1] < total, steps
