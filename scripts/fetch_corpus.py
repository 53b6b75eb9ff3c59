"""Builds the real-audio `debian` text-audio corpus from Debian packages.

  python scripts/fetch_corpus.py                       # the small set (what tests and CI use)
  python scripts/fetch_corpus.py --packages all        # + large packages and rendered MIDI
  python scripts/fetch_corpus.py --packages hedgewars-data wesnoth-1.16-music --out data/debian

Packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into the data
folder (nothing is installed). Re-running skips sources already built. The manifests are
OUT/{train,valid,test,all}.jsonl (paths relative to OUT) and OUT/<package>/manifest.jsonl (paths
relative to that folder); see soundgen_jax/data/corpora/debian.py for the layout and the splits.

Sources: small = openttd-opensfx, sound-theme-freedesktop; all = small + 0ad-data,
supertuxkart-data, hedgewars-data, tuxpaint-stamps-default, wesnoth-1.16-music,
warzone2100-music, music21-midi (needs `pip install -e '.[corpus]'`). Any other package name is
taken with a generic extractor (every audio file, captioned from its path).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # pylint: disable=g-import-not-at-top
from soundgen_jax.data.corpora import debian  # pylint: disable=g-import-not-at-top


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--packages", nargs="+", default=["small"], metavar="small|all|NAME",
                      help="sources to build (default: small)")
  parser.add_argument("--out", default=debian.DEFAULT_DIR,
                      help="data folder (default: %(default)s)")
  parser.add_argument("--midi-pieces", type=int, default=100,
                      help="scores of music21's corpus to render for music21-midi")
  args = parser.parse_args(argv)
  try:
    summary = debian.fetch(args.packages, args.out, midi_pieces=args.midi_pieces,
                           log=lambda msg: print(msg, flush=True))
  except debian.FetchError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("interrupted; re-run to finish (built sources are kept)", file=sys.stderr)
    return 130
  print()
  print(debian.format_summary(summary))
  print(f"manifests: {os.path.join(args.out, '{train,valid,test,all}.jsonl')}")
  for name, why in summary["failed"].items():
    print(f"error: {name}: {why}", file=sys.stderr)
  return 1 if summary["failed"] else 0


if __name__ == "__main__":
  cli.run(main)
