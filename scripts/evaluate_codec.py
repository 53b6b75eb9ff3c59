"""Per-clip quality of a trained or converted codec on whole held-out files.

  python scripts/evaluate_codec.py --checkpoint WORKDIR/export \
      --manifest data/debian/openttd-opensfx/manifest.jsonl [--split valid] [--json OUT.json]
  python scripts/evaluate_codec.py --checkpoint DIR --files 'sounds/*.wav'

For each clip of the split (whole files, resampled and channel-converted to the codec's): SI-SNR
and mel distance (the trainer's eval metrics) at each bandwidth the codec serves, and with the
quantizer bypassed (decoder(encoder(x)); codecs without model-level chunks), which tells the
autoencoder's limit from the bitrate's.
The trainer's periodic eval uses one fixed crop per clip instead; this one scores the whole clip.
"""
import argparse
import functools
import json
import math

from soundgen_jax import cli  # first: quiets TensorFlow before anything loads it

import jax  # pylint: disable=g-import-not-at-top,wrong-import-order
import jax.numpy as jnp
import numpy as np
from flax import nnx

from soundgen_jax import audio as audio_io
from soundgen_jax.codecs import inference
from soundgen_jax.data import sources
from soundgen_jax.data.corpora import manifest as mf
from soundgen_jax.eval import codec_metrics

NO_QUANTIZER = "no quantizer"


def clip_scores(model, x: np.ndarray) -> dict[str, tuple[float, float]]:
  """x [C, T] at the codec's rate -> {label: (SI-SNR dB, mel distance)}: one per bandwidth,
  through the inference path (`codecs.inference`: chunking and normalisation as in use), and
  the quantizer bypassed for codecs without model-level chunks."""
  cfg = model.config
  n = x.shape[-1]
  # Zero padding to whole seconds keeps the number of compiled shapes small; it leaves the
  # scored samples of a causal codec unchanged.
  padded = np.pad(x, ((0, 0), (0, -n % _bucket(cfg))))[None]
  outputs = {}
  for bw in cfg.bandwidths:
    enc = inference.encode(model, padded, bw)
    outputs[f"{bw} kbps"] = inference.decode(model, enc.codes, enc.scales, padded.shape[-1])
  if cfg.chunk_length is None and not cfg.normalize:
    graphdef, state = nnx.split(model)
    outputs[NO_QUANTIZER] = _bypass(graphdef, state, jnp.asarray(padded))
  scores = _scores(jnp.asarray(x[None]), [jnp.asarray(y)[..., :n] for y in outputs.values()],
                   cfg.sample_rate)
  return {label: (float(snr), float(mel)) for label, (snr, mel) in zip(outputs, scores)}


@functools.partial(jax.jit, static_argnums=(2,))
def _scores(ref, estimates, sample_rate: int):
  """One compiled call per clip length (op-by-op metrics would compile every op instead)."""
  return [(codec_metrics.si_snr(ref, y)[0], codec_metrics.mel_distance(ref, y, sample_rate)[0])
          for y in estimates]


def _bucket(cfg) -> int:
  return math.lcm(cfg.sample_rate, cfg.hop_length)


@functools.partial(jax.jit, static_argnums=(0,))
def _bypass(graphdef, state, x) -> jax.Array:
  """decoder(encoder(x)): the autoencoder without the quantizer."""
  model = nnx.merge(graphdef, state)
  return jnp.swapaxes(model.decoder(model.encoder(jnp.swapaxes(x, 1, 2))), 1, 2)


def entries(args) -> list[mf.Entry]:
  if args.manifest:
    by_split, _ = sources.manifest_entries(args.manifest)
    chosen = by_split[sources.canonical_split(args.split)]
    if not chosen:
      raise cli.UserError(f"no clips in split {args.split!r}")
    return chosen
  # Every file of a folder or glob (with no held-out share they all land in one split).
  by_split = sources.file_entries(args.files, eval_fraction=0.0)
  return [e for split in by_split.values() for e in split]


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--checkpoint", required=True,
                 help="a codec folder: WORKDIR/export of a training run, or convert's output")
  src = p.add_mutually_exclusive_group(required=True)
  src.add_argument("--manifest", help="a JSONL manifest; clips of --split are scored")
  src.add_argument("--files", help="a folder or glob of audio files; all are scored")
  p.add_argument("--split", default="valid", help="manifest split (valid, test, train)")
  p.add_argument("--json", help="also write the per-clip scores to this JSON file")
  args = p.parse_args(argv)

  from soundgen_jax.convert import encodec
  model = encodec.load(args.checkpoint)
  cfg = model.config
  rows = []
  for e in entries(args):
    x, _ = audio_io.load(e.path, cfg.sample_rate, cfg.channels)
    rows.append({"path": e.path, "seconds": x.shape[-1] / cfg.sample_rate,
                 "scores": clip_scores(model, x)})
  labels = list(rows[0]["scores"])
  print(f"{'clip':40s} {'s':>5s} " + " ".join(f"{l:>22s}" for l in labels))
  print(f"{'':40s} {'':5s} " + " ".join(f"{'SI-SNR dB   mel dist':>22s}" for _ in labels))
  for r in rows:
    cells = " ".join(f"{r['scores'][l][0]:10.2f} {r['scores'][l][1]:11.3f}" for l in labels)
    print(f"{r['path'][-40:]:40s} {r['seconds']:5.2f} {cells}")
  means = {l: tuple(float(np.mean([r["scores"][l][i] for r in rows])) for i in (0, 1))
           for l in labels}
  cells = " ".join(f"{means[l][0]:10.2f} {means[l][1]:11.3f}" for l in labels)
  print(f"{'mean over ' + str(len(rows)) + ' clips':40s} {'':5s} {cells}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"clips": rows, "mean": means}, f, indent=1)


if __name__ == "__main__":
  cli.run(main)
