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
  (seed, split, position)."""

  def __init__(self, data_config, *, split, batch_size, seed, shard_index=0, num_shards=1):
    self.rate = int(data_config.sample_rate)
    self.channels = int(data_config.channels)
    self.length = int(round(data_config.crop_seconds * self.rate))
    self.split, self.batch_size, self.seed = split, batch_size, seed
    self.shard = (shard_index, num_shards)
    self.position = 0

  def __iter__(self):
    return self

  def __next__(self):
    split = zlib.crc32(self.split.encode())  # str hash() changes between processes
    rng = np.random.default_rng([self.seed, split, *self.shard, self.position])
    t = np.arange(self.length) / self.rate
    freqs = rng.uniform(100, 2000, (self.batch_size, self.channels, 3, 1))
    amps = rng.uniform(0.05, 0.3, (self.batch_size, self.channels, 3, 1))
    audio = np.sum(amps * np.sin(2 * np.pi * freqs * t), axis=2).astype(np.float32)
    self.position += 1
    return {"audio": audio, "valid": np.ones((self.batch_size,), bool)}

  def get_state(self):
    return {"position": self.position}

  def set_state(self, state):
    self.position = int(state["position"])

  def skipped(self):
    return {"silent": 1}


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


def rel_error(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def step_on_one_and_eight_devices(trainer, config, batch):
  """One train step of `batch` on a single device and on config.mesh's 8-device mesh, from the
  same initial state. Returns (initial params, {"one"|"eight": (params, variables, metrics)}),
  having checked that some parameter is really split over fsdp x model."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  from soundgen_jax.training import train_state  # pylint: disable=g-import-not-at-top
  from soundgen_jax.training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  mesh8 = sharding.mesh_from_config(config.mesh)
  mesh1 = sharding.make_mesh(1, 1, 1, devices=jax.devices()[:1])
  abstract, sh8 = sharding.abstract_shardings(trainer.init_state, mesh8)
  sh1 = sharding.state_shardings(abstract, mesh1)
  specs = {s.spec for s in jax.tree.leaves(sh8)}
  assert any("model" in str(s) and "fsdp" in str(s) for s in specs), specs
  state8 = sharding.init_sharded(trainer.init_state, sh8)
  state1 = jax.device_put(jax.tree.map(jnp.copy, state8), sh1)
  before = train_state.to_flat(jax.device_get(state8.params))
  outs = {}
  for name, mesh, sh, state in (("one", mesh1, sh1, state1), ("eight", mesh8, sh8, state8)):
    b = sharding.to_global(batch, mesh)
    step = trainer_lib.jit_train_step(trainer, sh, sharding.batch_shardings(b, mesh), mesh)
    new_state, m, finite = step(state, b)
    assert bool(finite)
    outs[name] = jax.device_get((new_state.params, new_state.variables, m))
  return before, outs


def assert_every_update_matches(before, p1, p8, bound=1e-2):
  """Each parameter's update on 8 devices within `bound` (relative) of one device's; all move."""
  from soundgen_jax.training import train_state  # pylint: disable=g-import-not-at-top
  after1, after8 = train_state.to_flat(p1), train_state.to_flat(p8)
  moved = 0
  for k in after1:
    d1 = after1[k] - before[k]
    assert rel_error(after8[k] - before[k], d1) < bound, k
    moved += float(np.abs(d1).max()) > 0
  assert moved == len(after1)


def captioned_sines(n=8, seconds=0.2, rate=16000):
  """A raw generative batch: n sines of random pitch with a caption each."""
  rng = np.random.default_rng(0)
  t = np.arange(int(seconds * rate)) / rate
  audio = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000, (n, 1, 1)) * t).astype(np.float32)
  captions = np.array([f"a sine at {i} hundred hertz" for i in range(n)], object)
  return {"audio": audio, "caption": captions, "valid": np.ones((n,), bool)}
