"""Quiet process start for the command lines: only TensorFlow's start-up noise is dropped.

TensorFlow (the host input pipeline, through seqio) prints lines at import that say nothing
about the run: oneDNN notices, "Could not find cuda drivers", a cuInit error on a machine
without a GPU. Some come from C++ static initialisers before absl logging is set up, so
TF_CPP_MIN_LOG_LEVEL cannot reach them; `quiet()` catches stderr while `tensorflow` is imported
and writes back every line but the known noise. Python warnings are left alone.

Standard library only: `soundgen_jax/__init__.py` imports this before flax, because `import jax`
sets TF_CPP_MIN_LOG_LEVEL=1 when it is unset, and the user's own setting has to be told apart.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# What the user (not jax) set, recorded before anything else is imported.
_USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")

NOISE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"TF-TRT Warning: Could not find TensorRT",
]))


def is_noise(line: str) -> bool:
  return bool(NOISE.search(line))


@contextlib.contextmanager
def _filtered_stderr():
  """Sends fd 2 to a file for the block, then writes back what is not start-up noise.

  A file, not a pipe: nothing reads while the block runs, and a full pipe would block it."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as caught:
    os.dup2(caught.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      caught.seek(0)
      kept = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
              if not is_noise(line)]
      if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
  """Runs the `tensorflow` package's import with stderr filtered, then hides the GPUs from it:
  TensorFlow only feeds the host input pipeline, the accelerators belong to JAX."""

  def __init__(self, inner):
    self._inner = inner

  def create_module(self, spec):
    return self._inner.create_module(spec)

  def exec_module(self, module):
    module.__loader__ = module.__spec__.loader = self._inner
    with _filtered_stderr():
      self._inner.exec_module(module)
      try:
        module.config.set_visible_devices([], "GPU")
      except (AttributeError, RuntimeError, ValueError):  # a stub, or devices already in use
        pass


class _QuietFinder(importlib.abc.MetaPathFinder):

  def find_spec(self, fullname, path, target=None):
    if fullname != "tensorflow":
      return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, path)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietLoader(spec.loader)
    return spec


def quiet() -> None:
  """Call before anything imports TensorFlow (idempotent)."""
  # 2: TensorFlow's C++ errors still show, its INFO and WARNING lines do not.
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = _USER_TF_LOG_LEVEL or "2"
  if "tensorflow" not in sys.modules and \
      not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietFinder())
