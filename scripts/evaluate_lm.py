"""Does a text-to-audio LM follow its captions? Held-out captions of the built-in synthetic
corpus, scored by the caption-adherence checker (soundgen_jax/eval/adherence.py):

  real clips             the held-out audio itself (how far the checker gets at this length)
  codec round trip       the real clips through the LM's codec: the ceiling for generations
  generated, CFG 3       from the captions, audiocraft's guidance
  generated, no CFG      cfg_coef 1
  shuffled captions      the CFG 3 generations scored against other examples' captions: chance

  python scripts/evaluate_lm.py --model WORKDIR/export --examples 64 --out docs/lm_tiny

"All checks pass" is the checker's verdict on a clip (every stated attribute recovered);
"checks passed" is the share of its individual checks (kind, pitch, tempo, colour, ...) that
pass, a graded view of the same. Writes OUT/adherence.json (the table, per kind too) and OUT/spectrograms.png (the first
generations with their captions); prints the table as Markdown.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # noqa: E402  (quiet TensorFlow before it loads)


def _score(audio, rate, attributes):
  """(every check passed, share of checks passed) per example."""
  from soundgen_jax.eval import adherence  # pylint: disable=g-import-not-at-top
  out = []
  for a, attr in zip(audio, attributes):
    r = adherence.score(a, rate, attr)
    out.append((bool(r["match"]), sum(r["checks"].values()) / len(r["checks"])))
  return out


def _by_kind(matches, attributes):
  out = {}
  for m, a in zip(matches, attributes):
    out.setdefault(a["kind"], []).append(m)
  return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def _spectrograms(path, audio, captions, rate, columns=4):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
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


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True, help="model folder (training WORKDIR/export)")
  parser.add_argument("--examples", type=int, default=64, help="held-out captions")
  parser.add_argument("--seconds", type=float, default=0.0,
                      help="clip length (default: the model's window)")
  parser.add_argument("--split", default="test", help="synthetic corpus split")
  parser.add_argument("--batch-size", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="workdirs/evaluate_lm")
  args = parser.parse_args()
  if args.examples < 1:
    raise cli.UserError("--examples must be >= 1")
  import numpy as np  # pylint: disable=g-import-not-at-top
  from soundgen_jax.api import AudioGen  # pylint: disable=g-import-not-at-top
  from soundgen_jax.codecs import inference  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import synthetic  # pylint: disable=g-import-not-at-top
  try:
    model = AudioGen.get_pretrained(args.model)
  except ValueError as e:
    raise cli.UserError(str(e)) from None
  seconds = args.seconds or model.max_duration
  rate = model.sample_rate
  corpus = synthetic.SyntheticCorpus(sample_rate=rate, duration=seconds, seed=0)
  examples = [corpus.example(args.split, i) for i in range(args.examples)]
  captions = [e["caption"] for e in examples]
  attributes = [e["attributes"] for e in examples]
  real = np.stack([e["audio"] for e in examples])

  codec = model.compression_model
  rows = {"real clips": real}
  trip = []
  for i in range(0, len(real), args.batch_size):
    enc = inference.encode(codec, real[i:i + args.batch_size])
    trip.append(inference.decode(codec, enc.codes[:, :model.lm.cfg.num_codebooks], enc.scales,
                                 enc.num_samples))
  rows["codec round trip"] = np.concatenate(trip)
  for name, coef in (("generated, CFG 3", 3.0), ("generated, no CFG", 1.0)):
    model.set_generation_params(duration=seconds, cfg_coef=coef)
    model.set_seed(args.seed)
    rows[name] = np.concatenate([model.generate(captions[i:i + args.batch_size])
                                 for i in range(0, len(captions), args.batch_size)])
  table = {}
  shuffled = attributes[1:] + attributes[:1]
  scored = {name: (_score(audio, rate, attributes), attributes) for name, audio in rows.items()}
  scored["shuffled captions (chance)"] = (_score(rows["generated, CFG 3"], rate, shuffled),
                                          shuffled)
  for name, (results, attrs) in scored.items():
    matches, shares = [m for m, _ in results], [c for _, c in results]
    table[name] = {"adherence": float(np.mean(matches)), "checks_passed": float(np.mean(shares)),
                   "by_kind": _by_kind(matches, attrs)}
  for metric in ("adherence", "checks_passed"):
    ceiling = table["codec round trip"][metric]
    chance = table["shuffled captions (chance)"][metric]
    for name in ("generated, CFG 3", "generated, no CFG"):
      gen = table[name][metric]
      table[name][f"{metric}_from_chance_to_ceiling"] = (gen - chance) / (ceiling - chance) \
          if ceiling > chance else None
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "adherence.json"), "w") as f:
    json.dump({"model": os.path.abspath(args.model), "examples": args.examples,
               "seconds": seconds, "split": args.split, "table": table}, f, indent=2)
  _spectrograms(os.path.join(args.out, "spectrograms.png"), rows["generated, CFG 3"][:8],
                captions[:8], rate)
  def share(row, key):
    v = row.get(key)
    return "" if v is None else f"{100 * v:.0f}%"

  print(f"| {args.examples} held-out captions, {seconds:g} s | all checks pass | chance -> "
        "ceiling | checks passed | chance -> ceiling |")
  print("| --- | --- | --- | --- | --- |")
  for name, row in table.items():
    print(f"| {name} | {100 * row['adherence']:.1f}% | "
          f"{share(row, 'adherence_from_chance_to_ceiling')} | {100 * row['checks_passed']:.1f}% | "
          f"{share(row, 'checks_passed_from_chance_to_ceiling')} |")
  print(f"wrote {args.out}/adherence.json and spectrograms.png")


if __name__ == "__main__":
  cli.run(main)
