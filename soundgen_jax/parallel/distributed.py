"""Several processes: starting `jax.distributed` from flags or the environment, and the few
agreements between processes the training loop needs (all trivial with one process).

`launch/train.py` passes its `--coordinator_address / --num_processes / --process_id` flags,
falling back on `JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID`: on CPU jax
itself reads only the address. `launch/local_multihost.sh N ARGS...` runs N processes on one
machine this way.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID"}


@dataclasses.dataclass(frozen=True)
class Processes:
  """Who this process is; None fields are left to jax's cluster detection (Cloud TPU, SLURM)."""
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None

  @property
  def multi(self) -> bool:
    return bool(self.coordinator_address) or (self.num_processes or 1) > 1


def resolve(coordinator_address: str | None = None, num_processes: int | None = None,
            process_id: int | None = None,
            environ: Mapping[str, str] = os.environ) -> Processes:
  """Flags first, then the environment; a bad value is a ValueError naming the flag."""
  def pick(name, value, kind):
    if value is not None and value != "":
      return value
    raw = environ.get(ENV[name], "").strip()
    if not raw:
      return None
    if kind is str:
      return raw
    try:
      return int(raw)
    except ValueError:
      raise ValueError(f"{ENV[name]}={raw!r} is not a whole number") from None

  address = pick("coordinator_address", coordinator_address, str)
  n = pick("num_processes", num_processes, int)
  pid = pick("process_id", process_id, int)
  if n is not None and n < 1:
    raise ValueError(f"--num_processes={n}: use 1 or more")
  if pid is not None:
    if n is None:
      raise ValueError(f"--process_id={pid} needs --num_processes (or {ENV['num_processes']})")
    if not 0 <= pid < n:
      raise ValueError(f"--process_id={pid} is out of range for --num_processes={n} "
                       f"(use 0 to {n - 1})")
  if address is not None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
      raise ValueError(f"--coordinator_address={address!r}: use HOST:PORT, e.g. 127.0.0.1:1234")
  return Processes(address, n, pid)


def initialize(processes: Processes) -> bool:
  """Starts jax.distributed if the job has several processes (before any other jax call);
  returns whether it did. Errors (e.g. no coordinator) are RuntimeErrors of one line."""
  if not processes.multi:
    return False
  # CPU collectives between processes: gloo (jaxlib's own; the default since jax 0.4.3x, set
  # so that an older default of none fails here rather than at the first collective).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(processes.coordinator_address, processes.num_processes,
                               processes.process_id)
  except (ValueError, RuntimeError, TypeError) as e:
    message = " ".join(str(e).split())
    raise RuntimeError(f"jax.distributed.initialize({processes}): {message}") from None
  return True


def any_process(flag: bool) -> bool:
  """Whether `flag` is true on any process (every process must call it)."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(np.asarray(multihost_utils.process_allgather(np.array([bool(flag)]))).any())


def barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def gather_json(obj: Any) -> list[Any]:
  """Every process's JSON-able `obj`, in process order."""
  if jax.process_count() == 1:
    return [obj]
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  raw = np.frombuffer(json.dumps(obj).encode(), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(np.array([raw.size]))).reshape(-1)
  padded = np.zeros((int(sizes.max()),), np.uint8)
  padded[:raw.size] = raw
  rows = np.asarray(multihost_utils.process_allgather(padded))
  return [json.loads(bytes(rows[i, :sizes[i]]).decode()) for i in range(len(sizes))]
