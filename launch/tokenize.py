"""Encode a corpus once into codec-token TFRecord shards for the text-codes tasks.

  python launch/tokenize.py --codec CKPT --task debian --out data/codes/debian
  python launch/tokenize.py --codec CKPT --task synthetic --out data/codes/synthetic \
      --max_seconds 4 --examples 2000
  python launch/tokenize.py --codec CKPT --task manifest --manifest my.jsonl --out DIR

Each host encodes its own shards (--shard_index / --num_shards, default jax.process_index() /
jax.process_count()). Finished shards are kept, so a killed run is resumed by running the same
command again. Train on the result with data.task=codes, data.codes_dir=DIR (or the
<corpus>_text_codes task, whose default folder is data/codes/<corpus>).
"""
import os
import sys

if __name__ == "tokenize":
  # Any script in launch/ has this folder first on sys.path, so the standard library's
  # `import tokenize` (numpy -> inspect -> linecache) lands here: hand over the real module
  # (the import statement returns what sys.modules holds once this file has run).
  import importlib.util  # pylint: disable=g-import-not-at-top
  _spec = importlib.util.spec_from_file_location(
      "tokenize", os.path.join(os.path.dirname(os.__file__), "tokenize.py"))
  _real = importlib.util.module_from_spec(_spec)
  sys.modules["tokenize"] = _real
  _spec.loader.exec_module(_real)
else:
  # Run as a script: the repo root first on sys.path, this folder off it.
  _HERE = os.path.dirname(os.path.abspath(__file__))
  sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
  sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import time  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--codec", required=True, help="codec checkpoint folder (launch/convert.py or "
                 "codec training)")
  p.add_argument("--task", default="synthetic", help="corpus: synthetic, debian, files, "
                 "manifest, or a task name such as debian_text_audio (default: %(default)s)")
  p.add_argument("--out", required=True, help="output folder for the shards")
  p.add_argument("--splits", default="train,valid,test", help="comma-separated splits")
  p.add_argument("--bandwidth", type=float, default=None, help="kbps (default: the codec's "
                 "highest)")
  p.add_argument("--max_seconds", type=float, default=10.0, help="longest audio encoded per "
                 "clip; longer clips are cut to a seeded random window (default: %(default)s)")
  p.add_argument("--examples", type=int, default=1000, help="clips to encode from an "
                 "unbounded split (the synthetic train split) (default: %(default)s)")
  p.add_argument("--examples_per_shard", type=int, default=256)
  p.add_argument("--batch_size", type=int, default=8, help="clips per codec call")
  p.add_argument("--workers", type=int, default=4, help="decoding threads")
  p.add_argument("--shard_index", type=int, default=None, help="this host (default: "
                 "jax.process_index())")
  p.add_argument("--num_shards", type=int, default=None, help="hosts (default: "
                 "jax.process_count())")
  p.add_argument("--path", default="", help="files / folder corpus: a folder or file")
  p.add_argument("--glob", default="", help="files corpus: a glob pattern")
  p.add_argument("--manifest", default="", help="manifest corpus: a JSONL manifest")
  p.add_argument("--data_dir", default="data/debian", help="debian corpus folder")
  p.add_argument("--no_progress", action="store_true")
  return p.parse_args(argv)


def main(argv=None):
  from soundgen_jax import cli  # pylint: disable=g-import-not-at-top
  args = parse(argv)
  if not os.path.isdir(args.codec):
    raise cli.UserError(f"--codec {args.codec}: no such checkpoint folder (make one with "
                        "launch/convert.py or launch/train.py)")
  if args.examples_per_shard < 1 or args.batch_size < 1 or args.max_seconds <= 0:
    raise cli.UserError("--examples_per_shard, --batch_size and --max_seconds must be positive")
  import jax  # pylint: disable=g-import-not-at-top
  from soundgen_jax.convert import encodec  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data import tasks  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data import token_cache  # pylint: disable=g-import-not-at-top

  shard_index = jax.process_index() if args.shard_index is None else args.shard_index
  num_shards = jax.process_count() if args.num_shards is None else args.num_shards
  if not 0 <= shard_index < num_shards:
    raise cli.UserError(f"--shard_index {shard_index} is not in [0, --num_shards {num_shards})")
  codec = encodec.load(args.codec)
  cfg = codec.config
  if args.bandwidth is not None and args.bandwidth not in cfg.bandwidths:
    raise cli.UserError(f"--bandwidth {args.bandwidth}: this codec serves "
                        f"{', '.join(map(str, cfg.bandwidths))} kbps")
  config = dict(task=args.task, path=args.path, glob=args.glob, manifest=args.manifest,
                data_dir=args.data_dir)
  base = tasks.base_name(config)
  if base not in tasks.BASES:
    raise cli.UserError(f"--task {args.task}: unknown; use synthetic, debian, files, manifest "
                        f"or one of {', '.join(sorted(tasks.BASES))}")
  corpus, _ = tasks.BASES[base]
  config.update(task=f"{corpus}_text_audio", sample_rate=cfg.sample_rate,
                channels=cfg.channels, crop_seconds=args.max_seconds)
  try:
    task = tasks.task_for(config)
    clips = task.source.clips
  except ValueError as e:
    raise cli.UserError(str(e)) from None
  start = time.time()
  result = token_cache.tokenize(
      codec, clips, args.out, splits=[s for s in args.splits.split(",") if s],
      bandwidth=args.bandwidth, unbounded_examples=args.examples,
      examples_per_shard=args.examples_per_shard, shard_index=shard_index,
      num_shards=num_shards, batch_size=args.batch_size, workers=args.workers,
      task_name=task.name, progress=not args.no_progress)
  skipped = result["skipped"]
  listing = clips.listing_skips
  print(f"host {shard_index}/{num_shards}: wrote {len(result['written'])} shards "
        f"({result['kept']} clips, {result['seconds'] / 3600:.3f} h of audio) in "
        f"{time.time() - start:.0f} s; kept {len(result['already_done'])} finished shards")
  parts = ", ".join(f"{k} {v}" for k, v in {**listing, **skipped}.items()) or "none"
  print(f"skipped: {sum(skipped.values()) + sum(listing.values())} ({parts})")
  total = token_cache.summary(args.out)
  print(f"{args.out}: {total['shards']} shards, {total['kept']} clips in all")
  return 0


if __name__ == "__main__":
  from soundgen_jax import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
