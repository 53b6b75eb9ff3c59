"""Train a model from a config; the config's `family` picks the trainer.

  python launch/train.py --config=configs/encodec.py:tiny --workdir=runs/encodec_tiny
  python launch/train.py --config=configs/soundstream.py:tiny --workdir=DIR \
      --config.total_steps=500 --config.data.task=debian

A run resumes from the last checkpoint in --workdir (rerun the same command). WORKDIR gets
metrics.jsonl, tensorboard/, checkpoints/ and, at the end, export/ (for a codec, usable as
`launch/codec.py ... --checkpoint WORKDIR/export`). With several processes (JAX_COORDINATOR_ADDRESS
or JAX_NUM_PROCESSES > 1 in the environment) jax.distributed is initialised first.
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
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.environ.get("JAX_COMPILATION_CACHE_DIR",
                                        "~/.cache/soundgen_jax/xla"),
    "persistent XLA compilation cache, so a resumed run does not compile again ('' to disable)")


def _multi_process() -> bool:
  return bool(os.environ.get("JAX_COORDINATOR_ADDRESS")) or \
      int(os.environ.get("JAX_NUM_PROCESSES", "1") or 1) > 1


def _last_line(message: str) -> str:
  """config_flags puts the config file's whole traceback in its message; keep what was raised."""
  if "Traceback (most recent call last)" not in message:
    return message
  head = message.split("Traceback (most recent call last)")[0].rstrip(": \n")
  tail = [line for line in message.splitlines() if line.strip()][-1]
  return f"{head}: {tail}"


def main() -> int:
  try:
    flags.FLAGS(sys.argv)
  except flags.Error as e:
    raise cli.UserError(f"{_last_line(str(e))}; see --helpfull") from None
  except (ValueError, TypeError, AttributeError, ImportError) as e:  # raised by get_config
    raise cli.UserError(f"--config: {e}") from None
  if _CONFIG.value is None:
    raise cli.UserError("--config is required, e.g. --config=configs/encodec.py:tiny")
  if not _WORKDIR.value:
    raise cli.UserError("--workdir is required: the folder for checkpoints and metrics")
  config = _CONFIG.value

  import jax  # pylint: disable=g-import-not-at-top
  if _multi_process():
    jax.distributed.initialize()
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(_CACHE.value))
  if jax.default_backend() == "cpu":
    # XLA:CPU compiles the partitionable threefry ~5x slower (seconds per random op); on CPU
    # nothing is large enough to need sharded random generation.
    jax.config.update("jax_threefry_partitionable", False)
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
