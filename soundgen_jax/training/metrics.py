"""Where a run's numbers go: `WORKDIR/metrics.jsonl` (one JSON object per logging step or
evaluation), TensorBoard summaries (clu metric writers) and a progress bar with ETA (tqdm)."""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import tqdm

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """The records of `WORKDIR/metrics.jsonl` (a torn last line, from a kill, is ignored)."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return records


def truncate_metrics(workdir: str, step: int) -> None:
  """Drops records after `step` (written by a run that died after its last checkpoint), so a
  resumed run's file reads as if it had never been interrupted."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return
  kept = [r for r in read_metrics(workdir) if r.get("step", 0) <= step]
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    for r in kept:
      f.write(json.dumps(r) + "\n")
  os.replace(tmp, path)


def _jsonable(v: Any) -> Any:
  v = float(v)
  return v if math.isfinite(v) else str(v)  # JSON has no NaN / Infinity


class MetricsLogger:
  """Writes metrics of process 0; every other process only counts along."""

  def __init__(self, workdir: str, total_steps: int, start_step: int, enabled: bool = True,
               progress: bool = True):
    self.enabled = enabled
    self._file = self._writer = self._bar = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._file = open(os.path.join(workdir, METRICS_FILE), "a", buffering=1)
    from clu import metric_writers  # imports TensorFlow: only where metrics are written
    self._writer = metric_writers.AsyncWriter(
        metric_writers.SummaryWriter(os.path.join(workdir, TENSORBOARD_DIR)))
    if progress:
      self._bar = tqdm.tqdm(total=total_steps, initial=start_step, unit="step",
                            dynamic_ncols=True, file=sys.stderr, mininterval=1.0)

  def write(self, step: int, metrics: Mapping[str, Any]) -> None:
    """Appends {"step": step, **metrics} to metrics.jsonl and writes the TensorBoard scalars."""
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _jsonable(v) for k, v in sorted(metrics.items())}}
    self._file.write(json.dumps(record) + "\n")
    self._writer.write_scalars(int(step), {k: float(v) for k, v in metrics.items()})

  def advance(self, steps: int = 1, postfix: Mapping[str, float] | None = None) -> None:
    if self._bar is not None:
      self._bar.update(steps)
      if postfix:
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

  def print(self, message: str) -> None:
    """A line above the progress bar (or on stderr when there is none)."""
    if not self.enabled:
      return
    if self._bar is not None:
      self._bar.write(message, file=sys.stderr)
    else:
      print(message, file=sys.stderr, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
    if self._file is not None:
      self._file.close()
