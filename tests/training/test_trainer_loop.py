"""The shared loop with a toy family (what an LM or SoundStorm trainer plugs in): logging,
checkpoints (keep-N, data position), exact resume, phases, eval, export."""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

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


def test_bad_common_config_values(tmp_path):
  with pytest.raises(trainer_lib.ConfigError, match="total_steps"):
    _run(toy_config(total_steps=0), tmp_path)
  with pytest.raises(trainer_lib.ConfigError, match="batch_size 6"):
    _run(toy_config(batch_size=6, mesh=dict(data=4, fsdp=2, model=1)), tmp_path)
  with pytest.raises(trainer_lib.ConfigError, match="config.mesh"):
    _run(toy_config(mesh=dict(data=3, fsdp=1, model=1)), tmp_path)


def test_state_shardings_follow_logical_axes():
  config = toy_config(mesh=dict(data=2, fsdp=2, model=2))
  mesh = trainer_lib.make_mesh(config)
  abstract, shardings = trainer_lib.state_shardings(ToyTrainer(config), mesh)
  kernel = shardings.params["model"]["kernel"].value
  assert kernel.spec == jax.sharding.PartitionSpec("fsdp", None)  # mlp=1 column: replicated
  # Adam's moments are sharded like the parameters they follow.
  mu = jax.tree.leaves(shardings.opt_state["model"], is_leaf=lambda x: hasattr(x, "spec"))
  assert any(getattr(s, "spec", None) == kernel.spec for s in mu)
  flat = train_state.abstract_flat(abstract, shardings)
  assert flat["params.model.kernel.value"].sharding.spec == kernel.spec
