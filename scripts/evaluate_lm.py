"""Does a text-to-audio LM follow its captions? Held-out captions of the built-in synthetic
corpus, scored by the caption-adherence checker (soundgen_jax/eval/adherence.py):

  real clips             the held-out audio itself (how far the checker gets at this length)
  codec round trip       the real clips through the LM's codec: the ceiling for generations
  generated, CFG c       from the captions, a row per --cfg coefficient (default 3, audiocraft's)
  generated, no CFG      cfg_coef 1
  shuffled captions      the first --cfg row's generations scored against other examples'
                         captions: chance
Each CFG row's paired difference from the no-CFG row (same captions) follows the table.

  python scripts/evaluate_lm.py --model WORKDIR/export --examples 1024 --temperature 0.3 \
      --cfg 3,2 --out docs/lm_tiny
  python scripts/evaluate_lm.py --model WORKDIR/export --examples 256 --greedy --cfg 3,2 \
      --out docs/lm_tiny/greedy

Decoding: top-k 250 sampling at --temperature (default 1, audiocraft's), or argmax with
--greedy. A small, short-trained LM sampled at temperature 1 draws a new code almost every
frame: clicks that the checker hears as drums; a low temperature keeps tones steady.

Columns as soundgen_jax/eval/adherence_table.py says. Writes OUT/adherence.json (the table,
per kind too) and OUT/spectrograms.png (the first generations with their captions); prints the
table as Markdown.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # noqa: E402  (quiet TensorFlow before it loads)


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
  parser.add_argument("--greedy", action="store_true",
                      help="decode by argmax instead of top-k 250 sampling")
  parser.add_argument("--temperature", type=float, default=1.0,
                      help="sampling temperature (unused with --greedy)")
  parser.add_argument("--cfg", default="3",
                      help="guidance coefficients, comma-separated: a row each (plus no CFG); "
                           "the first one's generations give the chance row")
  parser.add_argument("--out", default="workdirs/evaluate_lm")
  args = parser.parse_args()
  if args.examples < 1:
    raise cli.UserError("--examples must be >= 1")
  try:
    coefs = [float(c) for c in args.cfg.split(",")]
  except ValueError:
    raise cli.UserError(f"--cfg takes numbers separated by commas, e.g. 2,3; got {args.cfg!r}"
                        ) from None
  if any(c <= 1.0 for c in coefs) or len(set(coefs)) < len(coefs):
    raise cli.UserError(f"--cfg coefficients must be > 1 (no CFG is always a row) and each "
                        f"given once; got {args.cfg}")
  if args.temperature <= 0:
    raise cli.UserError(f"--temperature must be > 0 (use --greedy for argmax); got "
                        f"{args.temperature:g}")
  import numpy as np  # pylint: disable=g-import-not-at-top
  from soundgen_jax.api import AudioGen  # pylint: disable=g-import-not-at-top
  from soundgen_jax.codecs import inference  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import synthetic  # pylint: disable=g-import-not-at-top
  from soundgen_jax.eval import adherence_table  # pylint: disable=g-import-not-at-top
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
  guided = [f"generated, CFG {c:g}" for c in coefs]
  unguided = "generated, no CFG"
  for name, coef in [*zip(guided, coefs), (unguided, 1.0)]:
    model.set_generation_params(duration=seconds, cfg_coef=coef, use_sampling=not args.greedy,
                                temperature=args.temperature)
    model.set_seed(args.seed)
    rows[name] = np.concatenate([model.generate(captions[i:i + args.batch_size])
                                 for i in range(0, len(captions), args.batch_size)])
  table = adherence_table.table(rows, rate, attributes, chance_of=guided[0], baseline=unguided)
  decoding = ("greedy" if args.greedy
              else f"top-k 250 sampling, temperature {args.temperature:g}")
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "adherence.json"), "w") as f:
    json.dump({"model": os.path.abspath(args.model), "examples": args.examples,
               "seconds": seconds, "split": args.split,
               "decoding": decoding,
               "chance_of": guided[0], "baseline": unguided,
               "table": adherence_table.without_clips(table)}, f, indent=2)
  adherence_table.spectrograms(os.path.join(args.out, "spectrograms.png"),
                               rows[guided[0]][:8], captions[:8], rate)
  print(adherence_table.markdown(table, f"{args.examples} held-out captions, {seconds:g} s"))
  print(f"wrote {args.out}/adherence.json and spectrograms.png")


if __name__ == "__main__":
  cli.run(main)
