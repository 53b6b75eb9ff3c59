"""The shared loop with a toy family (what an LM or SoundStorm trainer plugs in): logging,
checkpoints (keep-N, data position), exact resume, SIGTERM, damaged checkpoints set aside,
phases, eval, export."""
import glob
import json
import os
import random
import shutil
import signal

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from soundgen_jax.parallel import sharding
from soundgen_jax.training import checkpoints, metrics, train_state
from soundgen_jax.training import trainer as trainer_lib


class ToyData:
  """y = x @ w_true + noise, a pure function of (seed, split, position)."""

  def __init__(self, data_config, *, split, batch_size, seed, shard_index=0, num_shards=1):
    self.split, self.batch_size, self.seed, self.position = split, batch_size, seed, 0

  def __iter__(self):
    return self

  def __next__(self):
    rng = np.random.default_rng([self.seed, self.position, len(self.split)])
    self.position += 1
    x = rng.standard_normal((self.batch_size, 4)).astype(np.float32)
    y = x @ np.arange(1.0, 5.0, dtype=np.float32)[:, None] + 0.01 * rng.standard_normal(
        (self.batch_size, 1)).astype(np.float32)
    return {"x": x, "y": y, "caption": np.array(["a"] * self.batch_size, dtype=object)}

  def get_state(self):
    return {"position": self.position}

  def set_state(self, state):
    self.position = state["position"]

  def skipped(self):
    return {"corrupt": 2}


class ToyTrainer(trainer_lib.Trainer):
  """A whole family: a model, a step function and a config."""

  def build_models(self, rngs):
    return {"model": nnx.Linear(4, 1, rngs=rngs, kernel_init=nnx.with_partitioning(
        nnx.initializers.lecun_normal(), ("embed", "mlp")))}

  def phase(self, step):
    return "warmup" if step <= self.config.warmup else "train"

  def train_step(self, state, batch, phase="train"):
    def loss_fn(params):
      pred = state.model("model", params)(batch["x"])
      return jnp.mean(jnp.square(pred - batch["y"]))
    loss, grads = jax.value_and_grad(loss_fn)(state.params["model"])
    if phase == "warmup":
      grads = jax.tree.map(lambda g: 0.1 * g, grads)
    tx = self.optimizers()["model"]
    updates, opt = tx.update(grads, state.opt_state["model"], state.params["model"])
    params = optax.apply_updates(state.params["model"], updates)
    return state.replace(params={"model": params}, opt_state={"model": opt}), {
        "loss": loss, "warmup": jnp.float32(phase == "warmup")}

  def eval_step(self, state, batch):
    pred = state.model("model")(batch["x"])
    return {"sq": jnp.sum(jnp.square(pred - batch["y"])), "n": jnp.float32(pred.shape[0])}

  def eval_finalize(self, sums):
    return {"mse": float(sums["sq"] / sums["n"])}

  def export(self, state, directory):
    checkpoints.save_model(directory, state.model("model"), {"family": "toy"})


def toy_config(**kw):
  c = ml_collections.ConfigDict(dict(
      family="toy", seed=0, total_steps=8, batch_size=8, log_every_steps=2, eval_every_steps=4,
      checkpoint_every_steps=2, keep_checkpoints=2, warmup=3,
      mesh=dict(data=-1, fsdp=1, model=1), data=dict(task="toy"),
      optimizer=dict(learning_rate=0.8, b1=0.9, b2=0.99, eps=1e-8, weight_decay=0.0,
                     grad_clip_norm=100.0, warmup_steps=2, schedule="cosine"),
      eval=dict(split="valid", batch_size=8, num_batches=2, seed=0, at_start=True)))
  c.update(kw)
  return c


def _run(config, workdir):
  return trainer_lib.train(config, str(workdir), ToyTrainer(config), make_iterator=ToyData,
                           progress=False)


def test_loop_logs_evaluates_checkpoints_and_exports(tmp_path):
  final = _run(toy_config(), tmp_path)
  records = metrics.read_metrics(str(tmp_path))
  train = [r for r in records if "loss" in r]
  evals = [r for r in records if "eval/mse" in r]
  assert [r["step"] for r in train] == [2, 4, 6, 8]
  assert [r["step"] for r in evals] == [0, 4, 8]
  assert evals[-1]["eval/mse"] < evals[0]["eval/mse"] / 4  # it learns
  assert final["mse"] == evals[-1]["eval/mse"]
  for r in train:
    assert r["steps_per_sec"] > 0 and r["data/skipped/corrupt"] == 2
  lrs = [r["learning_rate"] for r in train]  # warmup to 0.8 at step 2, cosine to 0 at step 8
  assert lrs[0] == pytest.approx(0.8) and lrs[1] > lrs[2] > lrs[3] and lrs[3] < 1e-6
  assert [r["warmup"] for r in train] == [1.0, 0.0, 0.0, 0.0]  # two phases, one compile each
  ckpt = checkpoints.TrainCheckpointer(str(tmp_path), keep=2)
  assert ckpt.all_steps() == [6, 8]  # keep-N
  ckpt.close()
  assert os.path.isdir(tmp_path / "tensorboard") and os.listdir(tmp_path / "tensorboard")
  assert json.load(open(tmp_path / "export" / "config.json")) == {"family": "toy"}
  assert json.load(open(tmp_path / trainer_lib.RUN_CONFIG_FILE))["total_steps"] == 8


class Crash(Exception):
  pass


class CrashingData(ToyData):
  """Dies when asked for step 6's batch: after step 5 was logged, before it was checkpointed."""

  def __next__(self):
    if self.split == "train" and self.position == 5:
      raise Crash()
    return super().__next__()


def test_resume_continues_exactly(tmp_path):
  config = toy_config(log_every_steps=1)
  straight = _run(config, tmp_path / "a")
  with pytest.raises(Crash):
    trainer_lib.train(config, str(tmp_path / "b"), ToyTrainer(config), make_iterator=CrashingData,
                      progress=False)
  assert max(r["step"] for r in metrics.read_metrics(str(tmp_path / "b"))) == 5
  with open(tmp_path / "b" / "metrics.jsonl", "a") as f:
    f.write('{"step": 6, "lo')  # a record torn by a kill
  resumed = _run(config, tmp_path / "b")  # from the checkpoint of step 4
  a, b = metrics.read_metrics(str(tmp_path / "a")), metrics.read_metrics(str(tmp_path / "b"))
  strip = lambda rs: [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in rs]
  assert strip(a) == strip(b)
  assert resumed == straight


class NanData(ToyData):
  """NaN targets in batch 4 (0-based): step 5's loss is NaN."""

  def __next__(self):
    batch = super().__next__()
    if self.split == "train" and self.position == 5:
      batch["y"][0, 0] = np.nan
    return batch


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  config = toy_config(mesh=dict(data=2, fsdp=2, model=2), checkpoint_every_steps=2,
                      log_every_steps=4, eval_every_steps=0, keep_checkpoints=3)
  with pytest.raises(trainer_lib.NonFiniteLossError, match="NaN or Inf at step 5.*step 4"):
    # No check happens between step 5 and step 6's checkpoint, which is never written.
    trainer_lib.train(config, str(tmp_path), ToyTrainer(config), make_iterator=NanData,
                      progress=False)
  ckpt = checkpoints.TrainCheckpointer(str(tmp_path), keep=3)
  assert ckpt.all_steps() == [2, 4]
  ckpt.close()
  assert [r["step"] for r in metrics.read_metrics(str(tmp_path)) if "loss" in r] == [4]
  assert not os.path.exists(tmp_path / trainer_lib.EXPORT_DIR)


def _strip(records):
  return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in records]


class SigtermData(ToyData):
  """Sends this process SIGTERM while step `at` runs (its batch is handed over first)."""
  at = 0

  def __next__(self):
    batch = super().__next__()
    if self.split == "train" and self.position == self.at:
      os.kill(os.getpid(), signal.SIGTERM)
    return batch


# A random step but the last; and step 4, an eval step: the preempted run skips its eval and
# the resumed one does it.
@pytest.mark.parametrize("at", ["random", 4])
def test_sigterm_checkpoints_the_step_and_resumes_exactly(tmp_path, capfd, at):
  config = toy_config(log_every_steps=1, checkpoint_every_steps=4, keep_checkpoints=5)
  straight = _run(config, tmp_path / "a")
  SigtermData.at = random.randint(2, 7) if at == "random" else at
  before = signal.getsignal(signal.SIGTERM)
  with pytest.raises(trainer_lib.Preempted, match=f"step {SigtermData.at} in") as stopped:
    trainer_lib.train(config, str(tmp_path / "b"), ToyTrainer(config), make_iterator=SigtermData,
                      progress=False)
  assert stopped.value.step == SigtermData.at
  assert signal.getsignal(signal.SIGTERM) == before  # the loop's handler is gone again
  assert os.path.isdir(tmp_path / "b" / "checkpoints" / str(SigtermData.at))
  assert max(r["step"] for r in metrics.read_metrics(str(tmp_path / "b"))) == SigtermData.at
  resumed = _run(config, tmp_path / "b")
  assert f"resumed from {tmp_path / 'b' / 'checkpoints'}/{SigtermData.at}" in capfd.readouterr().err
  a, b = metrics.read_metrics(str(tmp_path / "a")), metrics.read_metrics(str(tmp_path / "b"))
  assert _strip(a) == _strip(b)
  assert resumed == straight


def _damage(folder, how):
  if how == "truncated":
    for path in glob.glob(os.path.join(folder, "state", "**", "d", "*"), recursive=True):
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  elif how == "missing":  # a half-copied folder
    shutil.rmtree(os.path.join(folder, "state"))
  elif how == "empty":  # a full disk
    for root, _, files in os.walk(folder):
      for name in files:
        open(os.path.join(root, name), "w").close()


@pytest.mark.parametrize("how,listed", [("truncated", True), ("missing", True), ("empty", True),
                                        ("truncated", False), ("missing", False)])
def test_damaged_checkpoints_are_set_aside(tmp_path, capfd, how, listed):
  """The newest two damaged (with or without their file list, which older runs did not
  write): both are moved aside, one line each, and the run resumes from the one before."""
  config = toy_config(log_every_steps=1, eval_every_steps=0, keep_checkpoints=3)
  _run(config, tmp_path / "a")
  _run(toy_config(log_every_steps=1, eval_every_steps=0, keep_checkpoints=3, total_steps=6),
       tmp_path / "b")
  directory = tmp_path / "b" / "checkpoints"
  for step in (4, 6):
    if not listed:
      os.remove(directory / str(step) / checkpoints.FILES)
    _damage(str(directory / str(step)), how)
  capfd.readouterr()
  _run(config, tmp_path / "b")
  err = capfd.readouterr().err
  lines = [l for l in err.splitlines() if "is damaged" in l]
  assert [l.split(" is damaged")[0] for l in lines] == ["checkpoint 6", "checkpoint 4"], err
  assert f"resumed from {directory}/2" in err and "Traceback" not in err
  assert sorted(os.listdir(directory)) == ["4", "4.damaged", "6", "6.damaged", "8"]  # keep 3
  a, b = metrics.read_metrics(str(tmp_path / "a")), metrics.read_metrics(str(tmp_path / "b"))
  assert _strip(a) == _strip(b)


def test_a_checkpoint_of_another_config_is_a_one_line_error(tmp_path):
  _run(toy_config(eval_every_steps=0, total_steps=2), tmp_path)

  class Wider(ToyTrainer):
    def build_models(self, rngs):
      return {"model": nnx.Linear(4, 2, rngs=rngs)}

  config = toy_config(eval_every_steps=0)
  with pytest.raises(trainer_lib.UserError, match="checkpoint 2 in .* does not fit this config"):
    trainer_lib.train(config, str(tmp_path), Wider(config), make_iterator=ToyData,
                      progress=False)
  assert os.listdir(tmp_path / "checkpoints") == ["2"]  # nothing set aside


def test_bad_common_config_values(tmp_path):
  with pytest.raises(trainer_lib.ConfigError, match="total_steps"):
    _run(toy_config(total_steps=0), tmp_path)
  with pytest.raises(trainer_lib.ConfigError, match="batch_size 6"):
    _run(toy_config(batch_size=6, mesh=dict(data=4, fsdp=2, model=1)), tmp_path)
  with pytest.raises(trainer_lib.ConfigError, match="config.mesh"):
    _run(toy_config(mesh=dict(data=3, fsdp=1, model=1)), tmp_path)


def test_state_shardings_follow_logical_axes():
  config = toy_config(mesh=dict(data=2, fsdp=2, model=2))
  mesh = sharding.mesh_from_config(config.mesh)
  abstract, shardings = sharding.abstract_shardings(ToyTrainer(config).init_state, mesh)
  kernel = shardings.params["model"]["kernel"].value
  assert kernel.spec == jax.sharding.PartitionSpec("fsdp", None)  # mlp=1 column: replicated
  # Adam's moments are sharded like the parameters they follow.
  mu = jax.tree.leaves(shardings.opt_state["model"], is_leaf=lambda x: hasattr(x, "spec"))
  assert any(getattr(s, "spec", None) == kernel.spec for s in mu)
  flat = train_state.abstract_flat(abstract, shardings)
  assert flat["params.model.kernel.value"].sharding.spec == kernel.spec
