"""Train a model from a config; the config's `family` picks the trainer.

  python launch/train.py --config=configs/encodec.py:tiny --workdir=runs/encodec_tiny
  python launch/train.py --config=configs/soundstream.py:tiny --workdir=DIR \
      --config.total_steps=500 --config.data.task=debian

A run resumes from the newest intact checkpoint in --workdir (rerun the same command; a damaged
one is moved aside as `<step>.damaged`). WORKDIR gets metrics.jsonl, tensorboard/, checkpoints/
and, at the end, export/ (for a codec, usable as `launch/codec.py ... --checkpoint
WORKDIR/export`). SIGTERM (preemption) finishes the current step, checkpoints it and exits
with status 0 after one `preempted ...` line.

Several processes: --coordinator_address=HOST:PORT --num_processes=N --process_id=I (or
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID) start jax.distributed first; on one
machine `launch/local_multihost.sh N ARGS...` does it for N local processes.
"""
import os
import sys

# This folder off sys.path (launch/tokenize.py would shadow the standard library's tokenize);
# the repo root on it, for `configs`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from absl import flags  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags

from soundgen_jax import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "config file and variant, e.g. configs/encodec.py:tiny", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "run folder (checkpoints, metrics, export)")
_PROGRESS = flags.DEFINE_bool("progress", True, "show a progress bar with ETA")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0, for several processes "
    "(default: $JAX_COORDINATOR_ADDRESS)")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "processes in the job (default: $JAX_NUM_PROCESSES, else 1)")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "this process's index, 0 to num_processes - 1 (default: $JAX_PROCESS_ID)")
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.environ.get("JAX_COMPILATION_CACHE_DIR",
                                        "~/.cache/soundgen_jax/xla"),
    "persistent XLA compilation cache, so a resumed run does not compile again ('' to disable)")


def _last_line(message: str) -> str:
  """config_flags puts the config file's whole traceback in its message; keep what was raised."""
  if "Traceback (most recent call last)" not in message:
    return message
  head = message.split("Traceback (most recent call last)")[0].rstrip(": \n")
  tail = [line for line in message.splitlines() if line.strip()][-1]
  return f"{head}: {tail}"


def main() -> int:
  # absl defines --help only under absl.app, which this launcher does not use.
  asked = {"-h", "--help", "--helpshort", "--helpfull"} & set(sys.argv[1:])
  if asked:
    print(__doc__.strip() + "\n")
    print(flags.FLAGS.get_help() if "--helpfull" in asked else flags.FLAGS.main_module_help())
    print("\n--config.FIELD=VALUE overrides any field of the config (see the file's comments).")
    return 0
  try:
    flags.FLAGS(sys.argv)
  except flags.Error as e:
    raise cli.UserError(f"{_last_line(str(e))}; see --help") from None
  except (ValueError, TypeError, AttributeError, ImportError) as e:  # raised by get_config
    raise cli.UserError(f"--config: {e}") from None
  if _CONFIG.value is None:
    raise cli.UserError("--config is required, e.g. --config=configs/encodec.py:tiny")
  if not _WORKDIR.value:
    raise cli.UserError("--workdir is required: the folder for checkpoints and metrics")
  config = _CONFIG.value

  import jax  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import distributed  # pylint: disable=g-import-not-at-top
  try:
    processes = distributed.resolve(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    distributed.initialize(processes)
  except (ValueError, RuntimeError) as e:
    raise cli.UserError(str(e)) from None
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(_CACHE.value))
  # Partitionable threefry (jax's default) on every backend and process count: the random
  # streams are the same everywhere. It used to be off on XLA:CPU, which compiled it ~5x
  # slower; with jax 0.10.2 no longer (tiny configs, 2 steps, no cache, 2 busy cores, 3 runs
  # each, CPU seconds of the whole run, off -> on): encodec 69.2 69.8 67.4 -> 68.2 65.5 71.8,
  # audiogen 30.1 30.1 33.7 -> 30.0 26.7 31.8.
  jax.config.update("jax_threefry_partitionable", True)
  from soundgen_jax import training  # pylint: disable=g-import-not-at-top
  from soundgen_jax.training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  try:
    trainer = training.get_trainer(config)
  except ValueError as e:
    raise cli.UserError(str(e)) from None
  try:
    final = trainer_lib.train(config, _WORKDIR.value, trainer, progress=_PROGRESS.value)
  except trainer_lib.NonFiniteLossError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except trainer_lib.Preempted as e:
    if jax.process_index() == 0:
      print(e, file=sys.stderr, flush=True)
    return 0
  if jax.process_index() == 0:
    for k, v in final.items():
      if "/" in k and not k.startswith("codebook/"):
        print(f"eval {k}: {v:.4g}")
    export = os.path.join(os.path.abspath(_WORKDIR.value), trainer_lib.EXPORT_DIR)
    if os.path.isdir(export):
      print(f"exported: {export}")
  return 0


if __name__ == "__main__":
  cli.run(main)
