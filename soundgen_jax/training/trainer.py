"""The training loop every model family shares, and the `Trainer` interface a family fills in.

A family (codec, audio LM, SoundStorm) subclasses `Trainer` with
  build_models(rngs)          -> {name: nnx.Module}
  optimizers()                -> {name: optax.GradientTransformation} (for the models it trains)
  train_step(state, batch, phase) -> (state, {metric: scalar})  pure; the loop jits, shards it
and optionally phase(step) (e.g. a warmup with its own step function), prepare_batch (host
side, e.g. captions -> ids), init_extra, eval_step / eval_finalize, learning_rates and export. `train()` does
the rest: mesh, sharded init, data (one shard per host, global batches), the jitted step with
donated state, logging (metrics.jsonl, TensorBoard, progress with ETA), periodic eval,
checkpoints (resume from WORKDIR by default, setting damaged ones aside), the NaN / Inf stop,
and SIGTERM: the run finishes its step, checkpoints it and raises `Preempted`.

The config fields the loop reads are the common ones of DESIGN.md: seed, total_steps,
batch_size, log_every_steps, eval_every_steps, checkpoint_every_steps, keep_checkpoints,
mesh.{data,fsdp,model}, data.*, and eval.{split,batch_size,num_batches,at_start} when
eval_every_steps > 0.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from soundgen_jax.cli import UserError
from soundgen_jax.parallel import distributed, sharding
from soundgen_jax.training import checkpoints, metrics as metrics_lib, train_state
from soundgen_jax.training.optimizers import learning_rate_schedule, make_optimizer
from soundgen_jax.training.train_state import TrainState

EXPORT_DIR = "export"
RUN_CONFIG_FILE = "train_config.json"


class ConfigError(UserError):
  """A config value the trainer cannot use; the message names the field."""


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or Inf; the run stopped and its last good checkpoint is kept."""


class Preempted(Exception):
  """SIGTERM: the run finished its step, checkpointed it and stopped; rerun to resume."""

  def __init__(self, step: int, directory: str):
    super().__init__(f"preempted (SIGTERM): saved the checkpoint of step {step} in "
                     f"{directory}; rerun the same command to resume")
    self.step = step


class DataIterator(Protocol):
  """What `soundgen_jax.data.pipeline.make_iterator` returns: batches of NumPy arrays, an exact
  JSON-serialisable position, and counts of skipped bad examples by reason."""

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]: ...
  def __next__(self) -> dict[str, np.ndarray]: ...
  def get_state(self) -> Any: ...
  def set_state(self, state: Any) -> None: ...
  def skipped(self) -> dict[str, int]: ...


# make_iterator(data_config, *, split, batch_size, seed, shard_index, num_shards)
IteratorFactory = Callable[..., DataIterator]


class Trainer:
  """One model family's part of training; see the module docstring."""

  def __init__(self, config: Any):
    self.config = config

  def build_models(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    raise NotImplementedError

  def optimizers(self) -> dict[str, optax.GradientTransformation]:
    """Default: one model called "model", trained with `config.optimizer`."""
    return {"model": make_optimizer(self.config.optimizer, self.config.total_steps)}

  def learning_rates(self, step: int) -> dict[str, float]:
    """For the logs: {"learning_rate[/model]": value at `step`}. Default: config.optimizer's."""
    if "learning_rate" not in self.config.get("optimizer", {}):
      return {}
    schedule = learning_rate_schedule(self.config.optimizer, self.config.total_steps)
    return {"learning_rate": float(schedule(step))}

  def init_extra(self, params: dict[str, nnx.State]) -> dict[str, Any]:
    """Extra train-state arrays (e.g. EMA weights), built from the initial params."""
    return {}

  def init_state(self) -> TrainState:
    models = self.build_models(nnx.Rngs(self.config.seed))
    return train_state.create(models, self.optimizers(), self.config.seed, self.init_extra)

  def prepare_batch(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Host-side: the arrays the step functions take (e.g. captions -> token ids). Default: the
    numeric arrays of the batch (strings stay on the host)."""
    return {k: v for k, v in batch.items() if np.asarray(v).dtype != object}

  def phase(self, step: int) -> str:
    """Which step function step `step` (1-based) runs; each phase compiles once (e.g. a
    warmup without some losses). Default: one phase."""
    return "train"

  def train_step(self, state: TrainState, batch: dict[str, jax.Array], phase: str = "train"
                 ) -> tuple[TrainState, dict[str, jax.Array]]:
    """One update. Returns the new state (the loop increments `step`) and scalar metrics."""
    raise NotImplementedError

  def eval_step(self, state: TrainState, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Sums over one eval batch (added up over the eval set, then `eval_finalize`). Eval
    batches may end with padding rows, marked by batch["valid"] == False."""
    return {}

  def eval_finalize(self, sums: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(v) for k, v in sums.items() if np.ndim(v) == 0}

  def export(self, state: TrainState, directory: str) -> None:
    """Writes the usable model (e.g. with `checkpoints.save_model`). Called on every process:
    orbax saves collectively, plain files are for process 0 to write."""


def default_iterator_factory() -> IteratorFactory:
  try:
    from soundgen_jax.data.pipeline import make_iterator  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError(f"the data pipeline is not available ({e})") from None
  return make_iterator


def _check_common(config: Any) -> None:
  for field in ("total_steps", "batch_size", "log_every_steps", "keep_checkpoints"):
    if int(config[field]) < 1:
      raise ConfigError(f"config.{field} must be >= 1, got {config[field]}")
  for field in ("eval_every_steps", "checkpoint_every_steps"):
    if int(config[field]) < 0:
      raise ConfigError(f"config.{field} must be >= 0 (0: only at the end), got {config[field]}")


def jit_train_step(trainer: Trainer, shardings: Any, batch_shardings: Any,
                   mesh: jax.sharding.Mesh, phase: str | None = None) -> Callable:
  """(state, batch) -> (state, metrics, all_finite); state donated, metrics replicated."""
  phase = trainer.phase(1) if phase is None else phase

  def step(state, batch):
    with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):  # for sharding.constrain
      new_state, metrics = trainer.train_step(state, batch, phase)
    new_state = new_state.replace(step=state.step + 1)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    return new_state, metrics, finite

  replicated = NamedSharding(mesh, P())
  return jax.jit(step, in_shardings=(shardings, batch_shardings),
                 out_shardings=(shardings, replicated, replicated), donate_argnums=0)


class _PreemptionWatch:
  """Whether to stop after step `step` for a SIGTERM. One process: a signal-handler flag.
  Several: JAX's preemption sync point (jax.distributed installs its own SIGTERM handler), so
  that every host stops after the same step."""

  def __init__(self):
    self.sync = jax.process_count() > 1
    self.flag = False
    self._old = None
    if not self.sync and threading.current_thread() is threading.main_thread():
      self._old = signal.signal(signal.SIGTERM, self._on_signal)

  def _on_signal(self, signum, frame):  # pylint: disable=unused-argument
    self.flag = True

  def reached(self, step: int) -> bool:
    if not self.sync:
      return self.flag
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    try:
      return multihost_utils.reached_preemption_sync_point(step)
    except RuntimeError as e:  # jax_enable_preemption_service off: no sync point to reach
      if jax.process_index() == 0:
        print(f"SIGTERM will not checkpoint: {e}", file=sys.stderr, flush=True)
      self.sync, self._old = False, None
      return False

  def close(self) -> None:
    if self._old is not None:
      signal.signal(signal.SIGTERM, self._old)
      self._old = None


def _restore_newest_intact(ckpt: checkpoints.TrainCheckpointer, target: dict[str, Any]):
  """(step, flat state, data states) of the newest checkpoint that restores, each damaged one
  (files missing or truncated) reported in one line and renamed `<step>.damaged`; None if
  none is left. Every process takes the same decision."""
  while (step := ckpt.latest_step()) is not None:
    reason = ckpt.damage(step)
    restored = None
    if not distributed.any_process(reason is not None):
      try:
        restored = ckpt.restore(step, target)
      except Exception as e:  # pylint: disable=broad-exception-caught
        if not checkpoints.looks_damaged(e):
          if isinstance(e, ValueError):  # orbax: the saved tree or shapes differ
            first = str(e).strip().splitlines()[0]
            _drop_failed_reads()
            raise UserError(f"checkpoint {step} in {ckpt.directory} does not fit this config "
                            f"({first}); resume with the config it was written with "
                            f"(WORKDIR/{RUN_CONFIG_FILE}) or use a new --workdir") from None
          raise
        reason = " ".join(str(e).split())[:160]
        _drop_failed_reads()
    if not distributed.any_process(restored is None):
      return (step, *restored)
    moved = ckpt.set_aside(step)
    if jax.process_index() == 0:
      print(f"checkpoint {step} is damaged ({reason or 'on another process'}): moved it to "
            f"{moved}, resuming from the newest intact one", file=sys.stderr, flush=True)
  return None


def _drop_failed_reads() -> None:
  """Collects the read tasks a failed orbax restore leaves behind without their "Task exception
  was never retrieved" / "Event loop is closed" reports (the failure is reported once)."""
  hook, logger = sys.unraisablehook, logging.getLogger("asyncio")
  level = logger.level
  sys.unraisablehook = lambda unraisable: None
  logger.setLevel(logging.CRITICAL + 1)
  try:
    time.sleep(0.2)  # tensorstore's last callbacks
    gc.collect()
  finally:
    sys.unraisablehook = hook
    logger.setLevel(level)


def train(config: Any, workdir: str, trainer: Trainer,
          make_iterator: IteratorFactory | None = None, progress: bool = True
          ) -> dict[str, float]:
  """Trains `trainer`'s models to `config.total_steps`, resuming from `workdir` if it holds a
  checkpoint. Returns the last evaluation's metrics (empty when there is no eval)."""
  _check_common(config)
  make_iterator = make_iterator or default_iterator_factory()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  try:
    mesh = sharding.mesh_from_config(config.mesh)
  except ValueError as e:
    raise ConfigError(f"config.mesh: {e}") from None
  n_proc, proc = jax.process_count(), jax.process_index()
  batch_split = mesh.shape["data"] * mesh.shape["fsdp"]
  if config.batch_size % batch_split or config.batch_size % n_proc:
    raise ConfigError(f"config.batch_size {config.batch_size} must divide evenly over the "
                      f"mesh's data x fsdp = {batch_split} and the {n_proc} processes")
  total = int(config.total_steps)

  abstract, shardings = sharding.abstract_shardings(trainer.init_state, mesh)
  # Data first: a bad data setting then ends before orbax starts its background threads.
  data = _open_data(make_iterator, config.data, split="train",
                    batch_size=config.batch_size // n_proc, seed=config.seed,
                    shard_index=proc, num_shards=n_proc)
  ckpt = checkpoints.TrainCheckpointer(workdir, config.keep_checkpoints,
                                       config.get("async_checkpoints", True))
  try:
    restored = _restore_newest_intact(ckpt, train_state.abstract_flat(abstract, shardings))
    if restored is not None:
      start, flat, data_states, eval_pending = restored
      state = train_state.from_flat(abstract, flat)
      _set_data_state(data, data_states, proc)
  except BaseException:
    ckpt.close()
    raise
  if restored is None:
    start, eval_pending = 0, False
    state = sharding.init_sharded(trainer.init_state, shardings)
  if proc == 0:
    # A fresh start drops the records of an earlier attempt that left no usable checkpoint.
    metrics_lib.truncate_metrics(workdir, start if restored is not None else -1)
    with open(os.path.join(workdir, RUN_CONFIG_FILE), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))

  log = metrics_lib.MetricsLogger(workdir, total, start, enabled=proc == 0, progress=progress)
  if start:
    log.print(f"resumed from {ckpt.directory}/{start}")
  else:
    n_params = {k: train_state.count_params(v) for k, v in abstract.params.items()}
    log.print(f"parameters: {n_params}; mesh {dict(mesh.shape)}")

  evaluate = _make_evaluator(config, trainer, shardings, mesh, make_iterator)
  last_eval: dict[str, float] = {}
  # eval_pending: the run was preempted at an eval step and saved before that eval.
  if evaluate and ((start == 0 and config.eval.get("at_start", True)) or eval_pending):
    last_eval = evaluate(state)
    log.write(start, {f"eval/{k}": v for k, v in last_eval.items()})

  step_fns: dict[str, Callable] = {}
  pending_finite: list[tuple[int, jax.Array]] = []
  checkpointed = start
  preemption = _PreemptionWatch()
  t_last, s_last = time.perf_counter(), start

  def check_finite():
    for s, finite in pending_finite:
      if not bool(finite):
        ckpt.wait()
        last = ckpt.latest_step()
        kept = f"the last good checkpoint is step {last} in {ckpt.directory}" if last \
            else "no checkpoint was written before it"
        raise NonFiniteLossError(
            f"a loss became NaN or Inf at step {s}; the run stopped and {kept}. Lower the "
            "learning rate or check the data, then rerun the same command to resume")
    pending_finite.clear()

  try:
    for step in range(start + 1, total + 1):
      try:
        batch = next(data)
      except StopIteration:
        raise UserError("the training data ran out; use a repeating training split") from None
      except _data_errors() as e:
        raise UserError(f"config.data: {e}") from None
      batch = sharding.to_global(trainer.prepare_batch(batch), mesh)
      phase = trainer.phase(step)
      if phase not in step_fns:
        step_fns[phase] = jit_train_step(trainer, shardings, sharding.batch_shardings(batch, mesh),
                                         mesh, phase)
      state, metrics, finite = step_fns[phase](state, batch)
      pending_finite.append((step, finite))
      preempted = preemption.reached(step)  # every step, on every process
      is_log = step % config.log_every_steps == 0 or step == total
      # A preempted run saves at once: an eval due at that step is left to the resumed run.
      eval_due = evaluate and (
          (config.eval_every_steps and step % config.eval_every_steps == 0) or step == total)
      is_eval = eval_due and not preempted
      is_ckpt = (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0) \
          or step == total or preempted
      if is_log:
        values = {k: float(v) for k, v in jax.device_get(metrics).items()}
        check_finite()
        now = time.perf_counter()
        values["steps_per_sec"] = (step - s_last) / max(now - t_last, 1e-9)
        t_last, s_last = now, step
        values.update(trainer.learning_rates(step))
        values.update({f"data/skipped/{k}": v for k, v in data.skipped().items()})
        log.write(step, values)
        log.advance(0, {k: values[k] for k in ("loss",) if k in values})
      if is_eval:
        check_finite()
        last_eval = evaluate(state)
        log.write(step, {f"eval/{k}": v for k, v in last_eval.items()})
        log.print(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in _headline(last_eval)))
      if is_ckpt:
        check_finite()
        ckpt.save(step, train_state.to_flat(state), distributed.gather_json(data.get_state()),
                  eval_pending=bool(eval_due and preempted))
        checkpointed = step
      log.advance(1)
      if preempted and step < total:
        ckpt.wait()
        raise Preempted(step, ckpt.directory)
    check_finite()
    ckpt.wait()
    if checkpointed == total:  # every process takes part (orbax writes collectively)
      export = os.path.join(workdir, EXPORT_DIR)
      trainer.export(state, export)
      if proc == 0:  # the run's curves travel with its export (the demo report plots them)
        shutil.copy(os.path.join(workdir, metrics_lib.METRICS_FILE), export)
  finally:
    preemption.close()
    log.close()
    ckpt.close()
  skipped = data.skipped()
  if skipped and proc == 0:
    print(f"skipped training examples: {json.dumps(skipped)}")
  return last_eval


def _data_errors() -> tuple[type[BaseException], ...]:
  try:
    from soundgen_jax.data.pipeline import DataError  # pylint: disable=g-import-not-at-top
  except ImportError:
    return ()
  return (DataError,)


def _open_data(make_iterator: IteratorFactory, data_config: Any, **kwargs) -> DataIterator:
  """make_iterator, with a bad data setting (unknown task, missing files) as a one-line error."""
  try:
    return make_iterator(data_config, **kwargs)
  except (ValueError, KeyError) as e:
    raise ConfigError(f"config.data: {e}") from None


def _set_data_state(data: DataIterator, states: list[Any], proc: int) -> None:
  """Each host's iterator position from the checkpoint (which keeps every host's), moved onto
  another process count when the iterator can (`set_state_from_shards`)."""
  reshard = getattr(data, "set_state_from_shards", None)
  try:
    if reshard is not None:
      reshard(states)
    elif len(states) == jax.process_count():
      data.set_state(states[proc])
    else:
      raise UserError(f"the checkpoint was written by {len(states)} processes and this run has "
                      f"{jax.process_count()}; its data iterator cannot change process count")
  except _data_errors() as e:
    raise UserError(f"config.data: {e}") from None


def _headline(values: Mapping[str, float], limit: int = 6):
  return list(values.items())[:limit]


def _make_evaluator(config, trainer, shardings, mesh, make_iterator):
  if not config.eval_every_steps and not config.get("eval", None):
    return None
  ev = config.eval
  if int(ev.num_batches) < 1:
    return None
  n_proc, proc = jax.process_count(), jax.process_index()
  eval_fn = None

  def evaluate(state: TrainState) -> dict[str, float]:
    nonlocal eval_fn
    data = _open_data(make_iterator, config.data, split=ev.split,
                      batch_size=ev.batch_size // n_proc, seed=ev.get("seed", 0),
                      shard_index=proc, num_shards=n_proc)
    sums = template = None
    for _ in range(ev.num_batches):
      try:
        local = trainer.prepare_batch(next(data))
      except StopIteration:
        local = None
      except _data_errors() as e:
        raise UserError(f"config.data: {e}") from None
      # Hosts whose shard ran out feed padding rows until every host's has.
      if not distributed.any_process(local is not None):
        break
      if local is None:
        if template is None:
          raise UserError(f"process {proc} got no {ev.split!r} batch: the split has fewer "
                          "examples than processes; lower config.eval.batch_size")
        local = {k: np.zeros_like(v) for k, v in template.items()}
      template = template or local
      batch = sharding.to_global(local, mesh)
      if eval_fn is None:
        eval_fn = jax.jit(trainer.eval_step,
                          in_shardings=(shardings, sharding.batch_shardings(batch, mesh)),
                          out_shardings=NamedSharding(mesh, P()))
      out = eval_fn(state, batch)
      sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
    if sums is None:
      raise UserError(f"the {ev.split!r} split gave no evaluation batch; check config.data")
    return trainer.eval_finalize(jax.device_get(sums))

  return evaluate
