"""Does a SoundStorm learn? Held-out clips and captions of the built-in synthetic corpus:

  1. Given the true first level: each finer level decoded, its token accuracy against the
     truth and two baselines (the level's most frequent code on the training split; the
     previous frame's true code), and the decoded audio's SI-SNR / mel distance to the real
     clip against the codec round trip's own (and the first level alone, decoded).
  2. From text alone: the adherence table (soundgen_jax/eval/adherence_table.py) of
     generations from the captions with CFG 3 and without, against shuffled-caption chance.

  python scripts/evaluate_soundstorm.py --soundstorm WORKDIR/export --examples 64 \
      --out docs/soundstorm_tiny

Decoding as the folder's defaults (the paper's schedule, CFG with the caption), greedy
(temperature 0, no confidence noise), greedy without CFG, and the model's argmax in one pass per
level without CFG (each token's most likely code: what token accuracy rewards). Writes
OUT/evaluation.json and OUT/spectrograms.png; prints the tables as Markdown.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # noqa: E402  (quiet TensorFlow before it loads)


def _batched(fn, items, size):
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.concatenate([fn(items[i:i + size]) for i in range(0, len(items), size)])


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--soundstorm", required=True, help="SoundStorm folder (WORKDIR/export)")
  parser.add_argument("--examples", type=int, default=64, help="held-out clips")
  parser.add_argument("--seconds", type=float, default=0.0,
                      help="clip length (default: the model's window)")
  parser.add_argument("--split", default="test", help="synthetic corpus split")
  parser.add_argument("--batch-size", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="workdirs/evaluate_soundstorm")
  args = parser.parse_args()
  if args.examples < 2:
    raise cli.UserError("--examples must be >= 2 (the chance row pairs clips)")
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from soundgen_jax.api import SoundStorm  # pylint: disable=g-import-not-at-top
  from soundgen_jax.codecs import inference  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import synthetic  # pylint: disable=g-import-not-at-top
  from soundgen_jax.eval import adherence_table, codec_metrics  # pylint: disable=g-import-not-at-top
  try:
    storm = SoundStorm.get_pretrained(args.soundstorm)
  except ValueError as e:
    raise cli.UserError(str(e)) from None
  seconds = args.seconds or storm.max_duration
  rate, bs = storm.sample_rate, args.batch_size
  corpus = synthetic.SyntheticCorpus(sample_rate=rate, duration=seconds, seed=0)
  examples = [corpus.example(args.split, i) for i in range(args.examples)]
  captions = [e["caption"] for e in examples]
  attributes = [e["attributes"] for e in examples]
  real = np.stack([e["audio"] for e in examples]).astype(np.float32)
  train = np.stack([corpus.example("train", i)["audio"] for i in range(args.examples)])

  truth = _batched(storm.encode, real, bs)                       # [N, Q, T]
  levels = truth.shape[1]
  train_codes = _batched(storm.encode, train.astype(np.float32), bs)
  most_frequent = [np.bincount(train_codes[:, q].ravel(), minlength=storm.model.config
                               .codebook_size).argmax() for q in range(levels)]
  defaults = storm.decoding

  def complete(settings):
    storm.set_generation_params(duration=seconds, **settings)
    storm.set_seed(args.seed)
    out = []
    for i in range(0, len(truth), bs):
      out.append(storm.complete(truth[i:i + bs, :1], captions[i:i + bs]))
    return np.concatenate(out), storm.last_stats["passes"]

  base = dict(steps=defaults.steps, top_k=defaults.top_k, cfg_coef=defaults.cfg_coef)
  greedy = dict(base, temperature=0.0, choice_temperature=0.0)
  runs = {"default decoding": dict(base, temperature=defaults.temperature,
                                   choice_temperature=defaults.choice_temperature),
          "greedy": greedy,
          "greedy, no CFG": dict(greedy, cfg_coef=1.0),
          "argmax, one pass, no CFG": dict(greedy, cfg_coef=1.0, steps=(1,) * levels)}
  accuracy = {f"level {q}": {} for q in range(1, levels)}
  for q in range(1, levels):
    accuracy[f"level {q}"]["most frequent code"] = float(np.mean(truth[:, q] == most_frequent[q]))
    accuracy[f"level {q}"]["previous frame"] = float(np.mean(truth[:, q, 1:] == truth[:, q, :-1]))
  decoded, passes = {}, {}
  for name, settings in runs.items():
    codes, passes[name] = complete(settings)
    assert (codes[:, 0] == truth[:, 0]).all()
    for q in range(1, levels):
      accuracy[f"level {q}"][f"SoundStorm, {name}"] = float(np.mean(codes[:, q] == truth[:, q]))
    decoded[name] = codes

  def decode(codes):
    return _batched(storm.generate_audio, codes, bs)

  def first_level_only(codes):
    return np.asarray(inference.decode(storm.compression_model, codes[:, :1],
                                       num_samples=codes.shape[-1] * storm.compression_model
                                       .config.hop_length), np.float32)

  audio_rows = {"codec round trip (all levels)": decode(truth),
                "first level only": _batched(first_level_only, truth, bs)}
  for name, codes in decoded.items():
    audio_rows[f"SoundStorm, {name}"] = decode(codes)
  quality = {}
  for name, audio in audio_rows.items():
    n = min(audio.shape[-1], real.shape[-1])
    ref, est = jnp.asarray(real[..., :n]), jnp.asarray(audio[..., :n])
    quality[name] = {"si_snr_db": float(np.mean(codec_metrics.si_snr(ref, est))),
                     "mel_distance": float(np.mean(codec_metrics.mel_distance(ref, est, rate)))}
  trip_mel = quality["codec round trip (all levels)"]["mel_distance"]
  for row in quality.values():
    row["mel_vs_round_trip"] = row["mel_distance"] / trip_mel

  text_rows = {"real clips": real, "codec round trip": audio_rows["codec round trip (all levels)"]}
  text_passes = {}
  for name, coef in (("SoundStorm from text, CFG 3", 3.0), ("SoundStorm from text, no CFG", 1.0)):
    storm.set_generation_params(duration=seconds, **dict(runs["default decoding"],
                                                         cfg_coef=coef))
    storm.set_seed(args.seed)
    text_rows[name] = _batched(storm.generate, captions, bs)
    text_passes[name] = storm.last_stats["passes"]
  table = adherence_table.table(text_rows, rate, attributes,
                                chance_of="SoundStorm from text, CFG 3")

  above_baselines = {n: all(row[f"SoundStorm, {n}"] > max(row["most frequent code"],
                                                          row["previous frame"])
                            for row in accuracy.values()) for n in runs}
  targets = {
      "every finer level above both baselines": above_baselines["default decoding"],
      "mel distance at most 1.5x the round trip's": quality[
          "SoundStorm, default decoding"]["mel_vs_round_trip"] <= 1.5}
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "evaluation.json"), "w") as f:
    json.dump({"soundstorm": os.path.abspath(args.soundstorm), "examples": args.examples,
               "seconds": seconds, "split": args.split, "passes": passes,
               "text_passes": text_passes, "accuracy": accuracy, "quality": quality,
               "adherence": adherence_table.without_clips(table), "targets": targets,
               "above_baselines_by_decoding": above_baselines}, f,
              indent=2)
  adherence_table.spectrograms(os.path.join(args.out, "spectrograms.png"),
                               text_rows["SoundStorm from text, CFG 3"][:8], captions[:8], rate)

  columns = list(next(iter(accuracy.values())))
  print(f"Given the true first level ({args.examples} held-out clips, {seconds:g} s; "
        f"passes: {passes}):\n")
  print("| token accuracy | " + " | ".join(columns) + " |")
  print("| --- |" + " --- |" * len(columns))
  for level, row in accuracy.items():
    print(f"| {level} | " + " | ".join(f"{100 * row[c]:.1f}%" for c in columns) + " |")
  print("\n| decoded audio vs the real clip | SI-SNR (dB) | mel distance | x round trip |")
  print("| --- | --- | --- | --- |")
  for name, row in quality.items():
    print(f"| {name} | {row['si_snr_db']:.2f} | {row['mel_distance']:.3f} | "
          f"{row['mel_vs_round_trip']:.2f} |")
  print()
  print(adherence_table.markdown(table, f"from text alone, {args.examples} captions"))
  print("\ntargets (default decoding): " + ", ".join(
      f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items()))
  print("every finer level above both baselines, by decoding: " + ", ".join(
      f"{n}: {'yes' if v else 'no'}" for n, v in above_baselines.items()))
  print(f"wrote {args.out}/evaluation.json and spectrograms.png")


if __name__ == "__main__":
  cli.run(main)
