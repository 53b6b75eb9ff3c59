"""Plots a run's WORKDIR/metrics.jsonl (training losses and held-out eval metrics) to a PNG.

  python scripts/plot_metrics.py WORKDIR [--out docs/codec_tiny_curve.png]
      [--train loss l_t l_sisnr l_f] [--eval 3.2kbps/si_snr 3.2kbps/mel_distance]

Training curves (left) and eval metrics (one panel each) against the step. Eval names are
without their `eval/` prefix; by default the highest bitrate's SI-SNR and mel distance.
Needs matplotlib (`pip install -e '.[demo]'`).
"""
import argparse
import os
import re
import sys

from soundgen_jax import cli
from soundgen_jax.training import metrics


def read(workdir: str) -> list[dict]:
  path = os.path.join(workdir, metrics.METRICS_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such file; pass the --workdir of a training run")
  return metrics.read_metrics(workdir)


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
  points = {}
  for r in records:
    v = r.get(key)
    if isinstance(v, (int, float)):
      points[r["step"]] = float(v)  # a resumed run's later record wins
  steps = sorted(points)
  return steps, [points[s] for s in steps]


def default_eval_keys(records: list[dict]) -> list[str]:
  rates = set()
  for r in records:
    for k in r:
      if m := re.match(r"eval/([\d.]+)kbps/", k):
        rates.add(float(m.group(1)))
  if not rates:
    return []
  top = max(rates)
  label = next(k.split("/")[1] for r in records for k in r
               if k.startswith("eval/") and re.match(r"eval/([\d.]+)kbps/", k)
               and float(re.match(r"eval/([\d.]+)kbps/", k).group(1)) == top)
  return [f"{label}/si_snr", f"{label}/mel_distance"]


def plot(workdir: str, out: str, train_keys: list[str], eval_keys: list[str] | None,
         title: str | None = None) -> str:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  records = read(workdir)
  eval_keys = eval_keys if eval_keys is not None else default_eval_keys(records)
  panels = 1 + len(eval_keys)
  fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
  ax = axes[0][0]
  positive = True
  for key in train_keys:
    steps, values = series(records, key)
    if steps:
      ax.plot(steps, values, label=key, linewidth=1)
      positive = positive and min(values) > 0
  ax.set_xlabel("step")
  ax.set_title("training losses")
  ax.set_yscale("log" if positive else "symlog")  # a negative SI-SNR loss can take it below 0
  ax.legend(fontsize=8)
  for ax, key in zip(axes[0][1:], eval_keys):
    steps, values = series(records, f"eval/{key}")
    ax.plot(steps, values, marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_title(f"held-out {key}")
    ax.grid(alpha=0.3)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--out", default=None, help="PNG path (default: WORKDIR/metrics.png)")
  parser.add_argument("--train", nargs="+",
                      default=["loss", "l_t", "l_sisnr", "l_f", "l_g", "l_feat"],
                      help="training metrics to draw")
  parser.add_argument("--eval", nargs="*", default=None, help="eval metrics (without eval/)")
  parser.add_argument("--title", default=None)
  args = parser.parse_args(argv)
  try:
    import matplotlib  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    print("error: matplotlib is missing; pip install -e '.[demo]'", file=sys.stderr)
    return 2
  try:
    out = plot(args.workdir, args.out or os.path.join(args.workdir, "metrics.png"), args.train,
               args.eval, args.title)
  except FileNotFoundError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(out)
  return 0


if __name__ == "__main__":
  cli.run(main)
