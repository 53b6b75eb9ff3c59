"""Encode audio files to codec tokens and decode them back.

  python launch/codec.py encode IN.(wav|flac|ogg|...) OUT.npz --checkpoint DIR [--bandwidth KBPS]
  python launch/codec.py decode IN.npz OUT.wav --checkpoint DIR [--subtype PCM_16] [--format FLAC]

The npz holds `codes` (int32 [codebooks, frames]) and what decoding needs: `sample_rate`,
`bandwidth`, `num_samples`, `scales` (per-chunk normalisation, 48 kHz model), and the input's
own rate. Decoding writes 32-bit float WAV unless told otherwise (no clipping, no quantisation).
"""
import argparse
import os

import numpy as np

from soundgen_jax import audio as audio_io
from soundgen_jax import cli


def _load_codec(directory):
  from soundgen_jax.convert import encodec
  if not os.path.isdir(directory):
    raise cli.UserError(f"{directory}: no such checkpoint folder (make one with "
                        "`python launch/convert.py encodec --from HF_DIR --to DIR`)")
  return encodec.load(directory)


def encode(args):
  from soundgen_jax.codecs import inference
  audio, rate = audio_io.load(args.input)  # checks the file before the model loads
  model = _load_codec(args.checkpoint)
  cfg = model.config
  if args.bandwidth is not None and args.bandwidth not in cfg.bandwidths:
    raise cli.UserError(f"--bandwidth {args.bandwidth} kbps: this codec serves "
                        f"{', '.join(map(str, cfg.bandwidths))}")
  x = audio_io.resample(audio_io.convert_channels(audio, cfg.channels), rate, cfg.sample_rate)
  enc = inference.encode_long(model, x[None], args.bandwidth, args.chunk_seconds,
                              progress=True)
  meta = dict(sample_rate=cfg.sample_rate, bandwidth=enc.bandwidth, num_samples=enc.num_samples,
              source_sample_rate=rate, channels=cfg.channels, codebook_size=cfg.codebook_size)
  if enc.scales is not None:
    meta["scales"] = enc.scales[0]
  os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  np.savez(args.output, codes=enc.codes[0], **meta)
  q, frames = enc.codes.shape[1:]
  print(f"{args.input}: {x.shape[-1] / cfg.sample_rate:.2f} s -> {q} codebooks x {frames} "
        f"frames at {enc.bandwidth} kbps -> {args.output}")


def decode(args):
  from soundgen_jax.codecs import inference
  try:
    data = np.load(args.input)
    codes = data["codes"]
    meta = {k: data[k] for k in data.files if k != "codes"}
  except FileNotFoundError:
    raise cli.UserError(f"{args.input}: no such file") from None
  except (KeyError, ValueError, OSError) as e:
    raise cli.UserError(f"{args.input}: not a codes file written by `codec.py encode` ({e})") \
        from None
  model = _load_codec(args.checkpoint)
  cfg = model.config
  if int(meta.get("sample_rate", cfg.sample_rate)) != cfg.sample_rate:
    raise cli.UserError(f"{args.input} was encoded at {int(meta['sample_rate'])} Hz but the "
                        f"checkpoint's codec runs at {cfg.sample_rate} Hz; use the same codec")
  batched = codes.ndim == 3
  codes = codes if batched else codes[None]
  scales = meta.get("scales")
  if scales is not None and not batched:
    scales = scales[None]
  num_samples = int(meta["num_samples"]) if "num_samples" in meta else None
  try:
    out = inference.decode(model, codes, scales, num_samples)
  except ValueError as e:
    raise cli.UserError(f"{args.input}: {e}") from None
  rate = cfg.sample_rate
  if args.sample_rate:
    out = np.stack([audio_io.resample(o, rate, args.sample_rate) for o in out])
    rate = args.sample_rate
  if batched:
    stem, ext = os.path.splitext(args.output)
    paths = [f"{stem}_{i}{ext}" for i in range(len(out))]
  else:
    paths = [args.output]
  for path, wav in zip(paths, out):
    try:
      audio_io.save(path, wav, rate, subtype=args.subtype, format=args.format)
    except (ValueError, TypeError, RuntimeError) as e:
      raise cli.UserError(f"{path}: cannot write ({e}); see soundfile.available_subtypes()") \
          from None
    print(f"{args.input} -> {path} ({wav.shape[-1] / rate:.2f} s, {rate} Hz, {args.subtype})")


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("encode", help="audio file -> codes .npz")
  p.add_argument("input")
  p.add_argument("output")
  p.add_argument("--checkpoint", required=True, help="codec checkpoint folder")
  p.add_argument("--bandwidth", type=float, default=None,
                 help="kbps, one of the codec's bandwidths (default: the largest)")
  p.add_argument("--chunk-seconds", type=float, default=10.0,
                 help="long files are encoded in chunks of this length (bounded memory)")
  p.set_defaults(fn=encode)
  p = sub.add_parser("decode", help="codes .npz -> audio file")
  p.add_argument("input")
  p.add_argument("output")
  p.add_argument("--checkpoint", required=True, help="codec checkpoint folder")
  p.add_argument("--subtype", default="FLOAT", help="soundfile subtype (FLOAT, PCM_16, PCM_24...)")
  p.add_argument("--format", default=None, help="soundfile format (default: from the extension)")
  p.add_argument("--sample-rate", type=int, default=None, help="resample the output to this rate")
  p.set_defaults(fn=decode)
  args = parser.parse_args()
  args.fn(args)


if __name__ == "__main__":
  cli.run(main)
