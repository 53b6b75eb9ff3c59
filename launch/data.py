"""List the data tasks, or look at the examples of one.

  python launch/data.py list
  python launch/data.py inspect synthetic_text_audio [--split valid] [--examples 4] [--stats 64]
  python launch/data.py inspect files --path sounds/ --sample_rate 16000 --save /tmp/look
  python launch/data.py inspect codes --codes_dir data/codes/debian
  python launch/data.py inspect debian_text_audio --set mix_probability=0.5

Any option of soundgen_jax/data/tasks.py DEFAULTS can be given with --set KEY=VALUE.
"""
import argparse
import ast
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from soundgen_jax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="command", required=True)
  sub.add_parser("list", help="list the registered tasks")
  q = sub.add_parser("inspect", help="print examples of a task and statistics")
  q.add_argument("task", help="a task name (see `list`) or a shorthand: synthetic, debian, "
                 "files, manifest, codes")
  q.add_argument("--split", default="train")
  q.add_argument("--examples", type=int, default=4, help="examples to print")
  q.add_argument("--stats", type=int, default=32, help="examples to compute statistics over")
  q.add_argument("--seed", type=int, default=0)
  q.add_argument("--save", default="", help="write the printed audio examples as WAV here")
  for name, kind in (("sample_rate", int), ("channels", int), ("crop_seconds", float)):
    q.add_argument(f"--{name}", type=kind, default=None)
  for name in ("path", "glob", "manifest", "codes_dir", "data_dir"):
    q.add_argument(f"--{name}", default=None)
  q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="any other task option, e.g. mix_probability=0.5")
  return p.parse_args(argv)


def _options(args):
  from soundgen_jax.data import tasks  # pylint: disable=g-import-not-at-top
  config = {"task": args.task}
  for name in ("sample_rate", "channels", "crop_seconds", "path", "glob", "manifest",
               "codes_dir", "data_dir"):
    if getattr(args, name) is not None:
      config[name] = getattr(args, name)
  for item in args.set:
    key, sep, value = item.partition("=")
    if not sep or key not in tasks.DEFAULTS:
      raise cli.UserError(f"--set {item}: use KEY=VALUE with KEY one of "
                          f"{', '.join(tasks.DEFAULTS)}")
    try:
      config[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      config[key] = value
  return config


def list_tasks():
  from soundgen_jax.data import tasks  # pylint: disable=g-import-not-at-top
  print(f"{'task':24s} {'view':11s} options")
  for name in tasks.names():
    o = tasks.options(name)
    shown = {k: v for k, v in o.items() if k not in ("corpus", "view")
             and v not in ("", None) and tasks.DEFAULTS.get(k) != v}
    where = ""
    if o["view"] == tasks.TEXT_CODES:
      where = o["codes_dir"] + ("" if os.path.isdir(o["codes_dir"]) else " (not made yet: "
                                "launch/tokenize.py)")
    elif o["corpus"] == "debian":
      where = o["data_dir"] + ("" if os.path.isdir(o["data_dir"]) else " (not fetched yet: "
                               "scripts/fetch_corpus.py)")
    extra = ", ".join(f"{k}={v}" for k, v in shown.items() if k not in ("codes_dir",))
    print(f"{name:24s} {o['view']:11s} {where or 'built in'}{', ' + extra if extra else ''}")
  print("\nuser data: `inspect files --path DIR` / `--glob 'x/*.wav'` / "
        "`inspect manifest --manifest M.jsonl` (add --set ... for options)")
  print("shorthands: synthetic -> synthetic_audio, debian -> debian_audio, files / manifest -> "
        "user_audio, codes -> user_text_codes (with --codes_dir)")


def _db(x: float) -> str:
  return f"{20 * np.log10(max(x, 1e-10)):6.1f} dB"


def inspect(args):
  from soundgen_jax import audio as audio_lib  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data import tasks  # pylint: disable=g-import-not-at-top
  try:
    it = pipeline.make_iterator(_options(args), split=args.split, batch_size=1, seed=args.seed)
  except ValueError as e:  # bad option, unknown task, no corpus
    raise cli.UserError(str(e)) from None
  view = it.view
  print(f"task {it.task.name} ({view}), split {it.split}; source: {it.task.source}")
  count = max(args.examples, args.stats)
  rms, peaks, frames, lengths = [], [], [], []
  start = time.time()
  n = 0
  for n, batch in enumerate(it, 1):
    if view == tasks.TEXT_CODES:
      codes, mask = batch["codes"][0], batch["codes_mask"][0]
      frames.append(int(mask.sum()))
      line = f"codes {codes.shape[0]} x {int(mask.sum())} frames, range [{codes.min()}, " \
             f"{codes.max()}]"
    else:
      audio = batch["audio"][0]
      rms.append(float(np.sqrt(np.mean(audio ** 2))))
      peaks.append(float(np.abs(audio).max()))
      nonzero = np.flatnonzero(np.abs(audio).max(0) > 0)
      lengths.append((nonzero[-1] + 1 if nonzero.size else 0) / it.task.source.clips.options
                     .sample_rate if hasattr(it.task.source, "clips") else 0.0)
      line = f"audio {audio.shape}, rms {_db(rms[-1])}, peak {_db(peaks[-1])}"
      if args.save and n <= args.examples:
        path = os.path.join(args.save, f"{n:03d}.wav")
        audio_lib.save(path, audio, it.task.source.clips.options.sample_rate)
        line += f" -> {path}"
    if n <= args.examples:
      caption = f'  "{batch["caption"][0]}"' if "caption" in batch else ""
      ident = f"  [{batch['id'][0]}]" if "id" in batch else ""
      print(f"{n:3d}. {line}{caption}{ident}")
    if n >= count:
      break
  seconds = time.time() - start
  it.close()
  print(f"\nstatistics over {n} examples ({n / max(seconds, 1e-9):.1f} examples/s, "
        f"first one included):")
  if rms:
    print(f"  rms   mean {_db(float(np.mean(rms)))}, min {_db(min(rms))}, max {_db(max(rms))}")
    print(f"  peak  mean {_db(float(np.mean(peaks)))}, clipped (>= 1.0): "
          f"{sum(p >= 1.0 for p in peaks)}")
    print(f"  sound before padding: mean {np.mean(lengths):.2f} s")
  if frames:
    print(f"  frames mean {np.mean(frames):.1f}, min {min(frames)}, max {max(frames)}")
  skipped = it.skipped()
  total = sum(skipped.values())
  parts = ", ".join(f"{k} {v}" for k, v in skipped.items())
  print(f"  kept {it.kept()}, skipped {total}" + (f" ({parts})" if parts else ""))
  return 0


def main(argv=None):
  args = parse(argv)
  if args.command == "list":
    list_tasks()
    return 0
  return inspect(args)


if __name__ == "__main__":
  cli.run(main)
