"""The memory-bound parts of an LM decode step on XLA:CPU: `cpu_kernels.cc` as FFI custom calls.

- `two_row_matvec`: with classifier-free guidance every decode step multiplies each weight by two
  rows (cond and null). XLA:CPU reads a weight at the memory bandwidth only for one row; for two
  it sends the dot to YNNPACK (~12 GB/s on MusicGen-small's weights, Intel Xeon, 2 cores) and the
  best other formulation, a fused multiply + sum, reached ~20 GB/s against 27. The kernel reads
  each weight once for both rows, at the one-row rate.
- `cached_attention`: a decode step's query over the filled part of the KV cache only; XLA's
  attention reads the whole preallocated window at every step.

They are compiled on first use with the machine's C++ compiler (`$CXX`, else `c++`) for this CPU
(`-march=native`: the vector width and the registers the accumulators need) and cached
under `$SOUNDGEN_JAX_CACHE` (default `~/.cache/soundgen_jax`), keyed by the source, the compiler,
jaxlib and the CPU. Where that fails (no compiler), `available()` says so once and callers use
XLA's own products. Accelerators never call them. They have no partitioning rule: under a mesh
XLA gathers their operands (decoding here runs unsharded).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shlex
import subprocess
import tempfile

import jax
import jax.numpy as jnp
import jaxlib
from absl import logging

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_kernels.cc")
_TARGETS = {"soundgen_two_row_matvec": "SoundgenTwoRowMatvec",
            "soundgen_cached_attention": "SoundgenCachedAttention"}


def _cpu_identity() -> str:
  """The CPU's model and instruction-set flags: a binary built for one must not run on another."""
  try:
    with open("/proc/cpuinfo") as f:
      lines = [l for l in f if l.startswith(("model name", "flags", "Features"))]
    return "".join(sorted(set(lines)))
  except OSError:
    return platform.processor() + platform.machine()


def _build() -> str:
  """The compiled library's path, compiling it into the cache if it is not there yet."""
  with open(_SOURCE, "rb") as f:
    source = f.read()
  cxx = shlex.split(os.environ.get("CXX", "c++"))  # "ccache g++" too
  flags = ["-O3", "-march=native", "-fno-math-errno", "-std=c++17", "-shared", "-fPIC",
           "-I" + jax.ffi.include_dir()]
  version = subprocess.run([*cxx, "--version"], capture_output=True, text=True,
                           check=True).stdout
  key = hashlib.sha256(source + repr((cxx, version, flags[:-1], jaxlib.__version__,
                                      _cpu_identity())).encode()).hexdigest()[:16]
  cache = os.environ.get("SOUNDGEN_JAX_CACHE") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "soundgen_jax")
  path = os.path.join(cache, f"cpu_kernels-{key}.so")
  if not os.path.exists(path):
    os.makedirs(cache, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)  # concurrent builds: last rename wins
    os.close(fd)
    try:
      subprocess.run([*cxx, *flags, _SOURCE, "-o", tmp], capture_output=True, text=True,
                     check=True)
      os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  return path


@functools.cache
def available() -> bool:
  """Whether the kernels are built and registered with XLA:CPU (built on the first call)."""
  try:
    library = ctypes.CDLL(_build())
  except (OSError, subprocess.CalledProcessError) as e:
    logging.warning("soundgen_jax: the CPU decode kernels could not be built, so decoding uses "
                    "XLA's slower products (install a C++ compiler to fix): %s", e)
    logging.debug("the compiler said: %s", getattr(e, "stderr", ""))
    return False
  for target, symbol in _TARGETS.items():
    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, symbol)),
                                platform="cpu")
  return True


def usable(*arrays: jax.Array) -> bool:
  """Whether these operands go to the kernels: XLA:CPU, float32, the kernels built."""
  return (jax.default_backend() == "cpu" and all(a.dtype == jnp.float32 for a in arrays)
          and available())


def two_row_matvec(x: jax.Array, w: jax.Array) -> jax.Array:
  """x [2, in], w [out, in] -> x @ w.T [2, out], each weight read once (float32; see `usable`).
  No gradient of its own (layers.project's custom VJP has it)."""
  call = jax.ffi.ffi_call("soundgen_two_row_matvec",
                          jax.ShapeDtypeStruct((2, w.shape[0]), jnp.float32),
                          vmap_method="sequential")
  return call(x, w)


def cached_attention(q: jax.Array, k: jax.Array, v: jax.Array, length) -> jax.Array:
  """One decode step's attention over cache positions [0, length): q [B, 1, H, d], keys
  [B, H, d, L], values [B, H, L, d] (attention.KVCache) -> [B, 1, H, d] (float32; see
  `usable`). The softmax is over the given positions only, as a causal mask would make it."""
  b, _, h, d = q.shape
  call = jax.ffi.ffi_call("soundgen_cached_attention",
                          jax.ShapeDtypeStruct((b, h, d), jnp.float32), vmap_method="sequential")
  scaled = q[:, 0] * jnp.asarray(d ** -0.5, q.dtype)
  return call(scaled, k, v, jnp.asarray(length, jnp.int32)).reshape(b, 1, h, d)
