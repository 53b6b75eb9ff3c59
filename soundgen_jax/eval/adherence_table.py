"""The adherence table of the generative evaluations (scripts/evaluate_lm.py,
scripts/evaluate_soundstorm.py, the demo report): rows of clips scored against their captions'
attributes, the shuffled-caption chance row, and each row's place from chance to the ceiling.

"All checks pass" is the checker's verdict on a clip (every stated attribute recovered);
"checks passed" the share of its individual checks (kind, pitch, tempo, colour, ...) passed.
A row's place from chance to the ceiling comes with a 95% bootstrap interval over the clips: on
256 captions it spans about +-10 points, so one evaluation decides little near a target.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

CHANCE = "shuffled captions (chance)"
CEILING = "codec round trip"


def score(audio: Sequence[np.ndarray], rate: int, attributes: Sequence[dict[str, Any]]):
  """(every check passed, share of checks passed, the checks) per clip."""
  from soundgen_jax.eval import adherence  # pylint: disable=g-import-not-at-top
  out = []
  for a, attr in zip(audio, attributes):
    r = adherence.score(a, rate, attr)
    out.append((bool(r["match"]), sum(r["checks"].values()) / len(r["checks"]), r["checks"]))
  return out


def _by_kind(matches, attributes):
  out = {}
  for m, a in zip(matches, attributes):
    out.setdefault(a["kind"], []).append(m)
  return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def _resampled_means(rows, resamples: int, seed: int) -> np.ndarray:
  """Each row's mean over `resamples` bootstrap draws of the clips, [rows, resamples]; the same
  draws for every row, so rows of the same captions stay paired."""
  scores = np.asarray(rows, dtype=np.float64)
  picks = np.random.default_rng(seed).integers(0, scores.shape[1], (resamples, scores.shape[1]))
  return scores[:, picks].mean(-1)


def interval(row, chance, ceiling, resamples: int = 1000, seed: int = 0):
  """95% bootstrap interval of (row - chance) / (ceiling - chance) over the clips, per-clip
  scores paired by index (the rows score the same captions' clips), or None."""
  g, c, r = _resampled_means([row, chance, ceiling], resamples, seed)
  ok = r > c
  if not ok.any():
    return None
  lo, hi = np.percentile((g[ok] - c[ok]) / (r[ok] - c[ok]), [2.5, 97.5])
  return [float(lo), float(hi)]


def difference(row, baseline, resamples: int = 1000, seed: int = 0) -> tuple[float, list[float]]:
  """mean(row) - mean(baseline) and its 95% bootstrap interval, per-clip scores paired by
  index: whether one decoding beats another on the same captions (CFG against no CFG)."""
  g, b = _resampled_means([row, baseline], resamples, seed)
  lo, hi = np.percentile(g - b, [2.5, 97.5])
  return float(np.mean(row) - np.mean(baseline)), [float(lo), float(hi)]


def table(rows: dict[str, np.ndarray], rate: int, attributes: list[dict[str, Any]],
          chance_of: str, baseline: str | None = None) -> dict[str, dict[str, Any]]:
  """Each row's adherence / checks passed (and per kind); `chance_of`'s clips scored against
  the next example's captions give the chance row; generated rows get their place between
  chance and the codec round trip (the CEILING row, when present), and, given a `baseline`
  row, their paired difference from it (`{metric}_over_baseline`, with its `_95` interval)."""
  shuffled = attributes[1:] + attributes[:1]
  scored = {name: (score(audio, rate, attributes), attributes) for name, audio in rows.items()}
  scored[CHANCE] = (score(rows[chance_of], rate, shuffled), shuffled)
  out, clips = {}, {}  # clips: per-clip scores by row, then metric
  for name, (results, attrs) in scored.items():
    matches = [m for m, _, _ in results]
    clips[name] = {"adherence": matches, "checks_passed": [c for _, c, _ in results]}
    out[name] = {"adherence": float(np.mean(matches)),
                 "checks_passed": float(np.mean(clips[name]["checks_passed"])),
                 "by_kind": _by_kind(matches, attrs), "per_clip": [r[2] for r in results]}
  generated = [name for name in rows if name not in (CEILING, "real clips")]
  if CEILING in out:
    for metric in ("adherence", "checks_passed"):
      ceiling, chance = out[CEILING][metric], out[CHANCE][metric]
      for name in generated:
        out[name][f"{metric}_from_chance_to_ceiling"] = \
            (out[name][metric] - chance) / (ceiling - chance) if ceiling > chance else None
        out[name][f"{metric}_from_chance_to_ceiling_95"] = interval(
            clips[name][metric], clips[CHANCE][metric], clips[CEILING][metric])
  for name in generated:
    if baseline and name != baseline:
      out[name]["baseline"] = baseline
      for metric in ("adherence", "checks_passed"):
        (out[name][f"{metric}_over_baseline"],
         out[name][f"{metric}_over_baseline_95"]) = difference(clips[name][metric],
                                                               clips[baseline][metric])
  return out


def markdown(t: dict[str, dict[str, Any]], title: str) -> str:
  def share(row, key):
    v, span = row.get(key), row.get(key + "_95")
    if v is None:
      return ""
    return f"{100 * v:.0f}%" + (f" ({100 * span[0]:.0f} to {100 * span[1]:.0f}%)" if span else "")

  lines = [f"| {title} | all checks pass | chance -> ceiling | checks passed | chance -> "
           "ceiling |", "| --- | --- | --- | --- | --- |"]
  for name, row in t.items():
    lines.append(f"| {name} | {100 * row['adherence']:.1f}% | "
                 f"{share(row, 'adherence_from_chance_to_ceiling')} | "
                 f"{100 * row['checks_passed']:.1f}% | "
                 f"{share(row, 'checks_passed_from_chance_to_ceiling')} |")
  for name, row in t.items():
    if "checks_passed_over_baseline" in row:
      v, (lo, hi) = row["checks_passed_over_baseline"], row["checks_passed_over_baseline_95"]
      lines.append(f"\n{name} minus {row['baseline']}, checks passed: {100 * v:+.1f} "
                   f"points (95%: {100 * lo:+.1f} to {100 * hi:+.1f}), paired over the clips")
  return "\n".join(lines)


def without_clips(t: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """The table without the per-clip checks (for a summary file)."""
  return {name: {k: v for k, v in row.items() if k != "per_clip"} for name, row in t.items()}


def spectrograms(path: str, audio, captions, rate: int, columns: int = 4) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = -(-len(audio) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, x, caption in zip(axes.ravel(), audio, captions):
    ax.axis("on")
    ax.specgram(np.asarray(x).reshape(-1), NFFT=512, Fs=rate, noverlap=384, cmap="magma")
    ax.set_title(caption if len(caption) < 48 else caption[:45] + "...", fontsize=8)
    ax.set_ylim(0, min(rate / 2, 6000))
    ax.tick_params(labelsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
