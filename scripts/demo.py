"""The demo: text to audio with the bundled models, and an HTML report of what came out.

  python scripts/demo.py                      # bundled LM + SoundStorm, 8 held-out captions
  python scripts/demo.py --lm DIR --soundstorm DIR --examples 4 --out workdirs/demo

For held-out captions of the built-in synthetic corpus it generates audio three ways: the LM
alone (every codec level), the LM + SoundStorm (the LM's first level, SoundStorm the finer
ones) and SoundStorm alone from the text; and writes OUT/report.html: per caption the real clip
and each generation as audio players with spectrograms and the adherence checker's verdict on
every stated attribute; a table of timings (seconds, real-time factor, tokens/s, SoundStorm
passes) measured in this run; the training curves of the models (their metrics.jsonl).
OUT/report.json holds the same numbers.
"""
import argparse
import html
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # noqa: E402  (quiet TensorFlow before it loads)

MODES = ("LM alone", "LM + SoundStorm", "SoundStorm alone")
# The bundled LM's decoding: top-k 250 sampling at a low temperature (at audiocraft's 1 the
# tiny LM draws clicks) with audiocraft's CFG 3 (README, "Audio LM").
LM_TEMPERATURE = 0.3
LM_CFG = 3.0


def _spectrogram(path, audio, rate):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(2.6, 1.6))
  ax.specgram(np.asarray(audio).reshape(-1), NFFT=256, Fs=rate, noverlap=192, cmap="magma")
  ax.set_ylim(0, min(rate / 2, 6000))
  ax.set_xticks([])
  ax.set_yticks([])
  fig.tight_layout(pad=0.1)
  fig.savefig(path, dpi=80)
  plt.close(fig)


def _curves(path, metrics_file, title, train_key, eval_key, ylabel):
  """A training curve from a metrics.jsonl: `train_key` per logged step (if any) and
  `eval_key` per held-out eval."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  train, evals = {}, {}
  with open(metrics_file) as f:
    for line in f:
      r = json.loads(line)
      if train_key and train_key in r:
        train[r["step"]] = r[train_key]
      if eval_key in r:
        evals[r["step"]] = r[eval_key]
  fig, ax = plt.subplots(figsize=(4.2, 2.8))
  if train:
    ax.plot(sorted(train), [train[s] for s in sorted(train)], label="train", lw=1)
  ax.plot(sorted(evals), [evals[s] for s in sorted(evals)], "o-", label="held-out", ms=3)
  ax.set_xlabel("step")
  ax.set_ylabel(ylabel, fontsize=8)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def _timing(name, seconds, audio_seconds, **extra):
  return {"mode": name, "seconds": seconds, "audio_seconds": audio_seconds,
          "rtf": seconds / audio_seconds, **extra}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--lm", default="", help="LM folder (default: the bundled one)")
  parser.add_argument("--soundstorm", default="", help="SoundStorm folder (default: bundled)")
  parser.add_argument("--examples", type=int, default=8, help="held-out captions")
  parser.add_argument("--split", default="test", help="synthetic corpus split")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="workdirs/demo")
  args = parser.parse_args()
  if args.examples < 1:
    raise cli.UserError("--examples must be >= 1")
  start_all = time.perf_counter()
  import numpy as np  # pylint: disable=g-import-not-at-top
  from soundgen_jax import assets  # pylint: disable=g-import-not-at-top
  from soundgen_jax import audio as audio_io  # pylint: disable=g-import-not-at-top
  from soundgen_jax.api import AudioGen, SoundStorm  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import synthetic  # pylint: disable=g-import-not-at-top
  from soundgen_jax.eval import adherence_table  # pylint: disable=g-import-not-at-top
  lm_dir = args.lm or assets.path(assets.AUDIOGEN_TINY)
  storm_dir = args.soundstorm or assets.path(assets.SOUNDSTORM_TINY)
  try:
    lm, storm = AudioGen.get_pretrained(lm_dir), SoundStorm.get_pretrained(storm_dir)
  except (ValueError, FileNotFoundError) as e:
    raise cli.UserError(str(e)) from None
  seconds, rate = lm.max_duration, lm.sample_rate
  corpus = synthetic.SyntheticCorpus(sample_rate=rate, duration=seconds, seed=0)
  examples = [corpus.example(args.split, i) for i in range(args.examples)]
  captions = [e["caption"] for e in examples]
  attributes = [e["attributes"] for e in examples]

  clips = {"real clip": np.stack([e["audio"] for e in examples]).astype(np.float32)}
  timings = []
  print(f"generating {len(captions)} x {seconds:g} s three ways ...", file=sys.stderr)
  for mode in MODES:
    lm.set_generation_params(duration=seconds, temperature=LM_TEMPERATURE, cfg_coef=LM_CFG)
    lm.set_seed(args.seed)
    storm.set_seed(args.seed)
    storm.set_generation_params(duration=seconds, **storm.decoding_params)
    t = time.perf_counter()
    if mode == "SoundStorm alone":
      audio = storm.generate(captions)
      timings.append(_timing(mode, time.perf_counter() - t, len(captions) * seconds,
                             passes=storm.last_stats["passes"]))
    else:
      lm.set_soundstorm(storm if mode == "LM + SoundStorm" else None,
                        1 if mode == "LM + SoundStorm" else None)
      audio = lm.generate(captions)
      extra = {"tokens_per_s": lm.last_stats.tokens_per_s, "lm_seconds": lm.last_stats.seconds}
      if mode == "LM + SoundStorm":
        extra["passes"] = storm.last_stats["passes"]
      timings.append(_timing(mode, time.perf_counter() - t, len(captions) * seconds, **extra))
    clips[mode] = audio
  lm.set_soundstorm(None)

  table = adherence_table.table({k: clips[k] for k in ("real clip", *MODES)}, rate, attributes,
                                chance_of="LM alone")
  out = os.path.abspath(args.out)
  for sub in ("audio", "img"):
    shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    os.makedirs(os.path.join(out, sub))
  files = []
  for i in range(len(captions)):
    row = {}
    for name, audio in clips.items():
      stem = f"{i:02d}_{name.replace(' + ', '_').replace(' ', '_').lower()}"
      audio_io.save(os.path.join(out, "audio", stem + ".wav"), audio[i], rate)
      _spectrogram(os.path.join(out, "img", stem + ".png"), audio[i], rate)
      row[name] = {"audio": f"audio/{stem}.wav", "image": f"img/{stem}.png",
                   "checks": table[name]["per_clip"][i]}
    files.append(row)
  curves = {}
  # (label, model folder, train key, eval key, axis); the codec is the one in the LM's folder.
  for label, folder, train_key, eval_key, ylabel in (
      ("codec", os.path.join(lm_dir, "codec"), None, "eval/3.2kbps/si_snr",
       "SI-SNR at 3.2 kbps (dB)"),
      ("LM", lm_dir, "loss", "eval/loss", "cross-entropy"),
      ("SoundStorm", storm_dir, "loss", "eval/loss", "masked cross-entropy")):
    path = os.path.join(folder, "metrics.jsonl")
    if os.path.isfile(path):
      curves[label] = f"img/curve_{label.lower()}.png"
      _curves(os.path.join(out, curves[label]), path, label, train_key, eval_key, ylabel)
  total = time.perf_counter() - start_all
  report = {"lm": lm_dir, "soundstorm": storm_dir, "seconds": seconds, "sample_rate": rate,
            "captions": captions, "timings": timings, "files": files, "curves": curves,
            "adherence": adherence_table.without_clips(table), "wall_seconds": total}
  with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
  with open(os.path.join(out, "report.html"), "w") as f:
    f.write(render(report))
  print(os.path.join(out, "report.html"))


def render(report) -> str:
  esc = html.escape
  names = list(report["files"][0]) if report["files"] else []
  parts = ["<!doctype html><meta charset='utf-8'><title>soundgen_jax demo</title>",
           "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;"
           "vertical-align:top;font-size:13px}.ok{color:#080}.no{color:#b00}"
           "audio{width:220px}</style>",
           "<h1>soundgen_jax: text to audio with the bundled models</h1>",
           f"<p>LM: <code>{esc(report['lm'])}</code><br>SoundStorm: "
           f"<code>{esc(report['soundstorm'])}</code><br>{len(report['captions'])} held-out "
           f"captions of the synthetic corpus, {report['seconds']:g} s each at "
           f"{report['sample_rate']} Hz; whole run {report['wall_seconds']:.1f} s. The LM decodes "
           f"by top-k 250 sampling at temperature {LM_TEMPERATURE:g} with CFG {LM_CFG:g}; "
           "SoundStorm with its folder's schedule.</p>",
           "<h2>Timings (this run; each mode's first call, so compilation included)</h2>"
           "<table><tr><th>mode</th><th>seconds</th>"
           "<th>real-time factor</th><th>LM tokens/s</th><th>SoundStorm passes</th></tr>"]
  for t in report["timings"]:
    tps = f"{t['tokens_per_s']:.0f}" if "tokens_per_s" in t else ""
    parts.append(f"<tr><td>{esc(t['mode'])}</td><td>{t['seconds']:.2f}</td>"
                 f"<td>{t['rtf']:.3f}</td><td>{tps}</td><td>{t.get('passes', '')}</td></tr>")
  parts.append("</table><h2>Caption adherence</h2><table><tr><th>clips</th>"
               "<th>all checks pass</th><th>checks passed</th></tr>")
  for name, row in report["adherence"].items():
    parts.append(f"<tr><td>{esc(name)}</td><td>{100 * row['adherence']:.0f}%</td>"
                 f"<td>{100 * row['checks_passed']:.0f}%</td></tr>")
  parts.append("</table><h2>Per caption</h2><table><tr><th>caption</th>" +
               "".join(f"<th>{esc(n)}</th>" for n in names) + "</tr>")
  for caption, row in zip(report["captions"], report["files"]):
    cells = []
    for n in names:
      c = row[n]
      checks = " ".join(f"<span class='{'ok' if v else 'no'}'>{esc(k)} "
                        f"{'&#10003;' if v else '&#10007;'}</span>"
                        for k, v in c["checks"].items())
      cells.append(f"<td><audio controls src='{esc(c['audio'])}'></audio><br>"
                   f"<img src='{esc(c['image'])}' alt='spectrogram'><br>{checks}</td>")
    parts.append(f"<tr><td>{esc(caption)}</td>{''.join(cells)}</tr>")
  parts.append("</table><h2>Training curves</h2>")
  for label, image in report["curves"].items():
    parts.append(f"<img src='{esc(image)}' alt='{esc(label)} training curve'>")
  return "\n".join(parts) + "\n"


if __name__ == "__main__":
  cli.run(main)
