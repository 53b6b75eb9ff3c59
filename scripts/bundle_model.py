"""Copies a training run's export into the package as a bundled model (soundgen_jax/assets/),
its weights stored in bfloat16 (half the bytes; restored as the config's float32 on load), with
the run's metrics.jsonl (which the export carries) for the demo report's curves.

  python scripts/bundle_model.py workdirs/demo_train/lm audiogen_tiny

Used for the LM and SoundStorm; the bundled codec is its export copied as it is (float32).

The asset folder's README.md (the command that made it and its figures) is written by hand.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # noqa: E402  (quiet TensorFlow before it loads)


def bundle(workdir: str, name: str) -> str:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from soundgen_jax import assets  # pylint: disable=g-import-not-at-top
  from soundgen_jax.training import checkpoints  # pylint: disable=g-import-not-at-top
  workdir = os.path.abspath(workdir)
  export = os.path.join(workdir, "export")
  if not os.path.isfile(os.path.join(export, checkpoints.CONFIG_FILE)):
    raise cli.UserError(f"{export}: no finished export; train the run to its end first")
  dest = os.path.join(os.path.dirname(os.path.abspath(assets.__file__)), name)
  readme = os.path.join(dest, "README.md")
  kept = open(readme).read() if os.path.isfile(readme) else None
  shutil.rmtree(dest, ignore_errors=True)
  # Everything but the model's own weights (the codec's state/ below is copied as it is).
  shutil.copytree(export, dest, ignore=lambda d, names: [checkpoints.STATE_DIR]
                  if os.path.samefile(d, export) else [])
  with ocp.StandardCheckpointer() as ckptr:
    state = ckptr.restore(os.path.join(export, checkpoints.STATE_DIR))

    def cast(x):
      if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x  # a codec's state holds a random key
      x = np.asarray(x)
      return jnp.asarray(x, jnp.bfloat16) if np.issubdtype(x.dtype, np.floating) else x

    half = jax.tree.map(cast, state)
    ckptr.save(os.path.join(dest, checkpoints.STATE_DIR), half, force=True)
  if kept is not None:
    with open(readme, "w") as f:
      f.write(kept)
  return dest


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("workdir", help="a finished training run (WORKDIR with export/)")
  parser.add_argument("name", help="asset folder name, e.g. audiogen_tiny")
  args = parser.parse_args()
  dest = bundle(args.workdir, args.name)
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(dest) for f in fs)
  print(f"bundled {dest} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
  cli.run(main)
