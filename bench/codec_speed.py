"""EnCodec 24 kHz at 6 kbps: encode + decode of 10 s, ours (jitted JAX) against
`transformers.EncodecModel` (PyTorch) with the same converted weights, in one process after
warm-up; then the peak memory of encoding a 10-minute file in chunks (each in a fresh process).

  python bench/codec_speed.py [--seconds 10] [--repeats 10] [--long-minutes 10]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "codecs"))

import numpy as np  # noqa: E402


def signal(rate, seconds, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(int(rate * seconds)) / rate
  x = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(t))) + 0.03 * rng.standard_normal(t.size)
  return x[None, None].astype(np.float32)


def best_of(fn, repeats):
  return min(_timed(fn) for _ in range(repeats))


def _timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def speed(args, checkpoint_dir):
  import torch
  from reference import random_encodec, save
  from soundgen_jax.codecs import inference
  from soundgen_jax.convert import encodec

  audio = signal(24000, args.seconds)
  ref = random_encodec("24khz", audio=audio)
  ours = encodec.convert(save(ref, os.path.join(checkpoint_dir, "hf")),
                         os.path.join(checkpoint_dir, "ours"))
  x = torch.from_numpy(audio)

  def run_ref():
    with torch.no_grad():
      enc = ref.encode(x, bandwidth=6.0)
      return ref.decode(enc.audio_codes, enc.audio_scales)[0]

  def run_ours():
    enc = inference.encode(ours, audio, 6.0)
    return inference.decode(ours, enc.codes, num_samples=audio.shape[-1])

  out_ref, out_ours = run_ref().numpy(), run_ours()  # warm-up (and compile)
  err = np.abs(out_ours - out_ref[..., :audio.shape[-1]]).max() / np.abs(out_ref).max()
  # Alternating runs, so a slow spell of the machine hits both sides alike.
  times = np.array([(_timed(run_ours), _timed(run_ref)) for _ in range(args.repeats)])
  (t_ours, t_ref), (m_ours, m_ref) = times.min(0), np.median(times, 0)
  print(f"threads: torch {torch.get_num_threads()}, cpus {os.cpu_count()}; "
        f"outputs agree to {err:.1e} of peak")
  for name, best, median in (("ours", t_ours, m_ours), ("reference", t_ref, m_ref)):
    print(f"{name:9s} {best:.3f} s for {args.seconds:g} s (best of {args.repeats}; median "
          f"{median:.3f} s): real-time factor {best / args.seconds:.4f}")
  print(f"bench codec_speed_24khz_6kbps: ours {t_ours / args.seconds:.4f} rtf, "
        f"reference {t_ref / args.seconds:.4f} rtf, speedup {t_ref / t_ours:.2f}x")


def long_file_peak(minutes, checkpoint):
  """Encodes `minutes` of audio with encode_long in this process; prints peak RSS in MiB."""
  from soundgen_jax.codecs import inference
  from soundgen_jax.convert import encodec
  model = encodec.load(checkpoint)
  audio = signal(24000, 60 * minutes)
  start = time.perf_counter()
  enc = inference.encode_long(model, audio, 6.0, chunk_seconds=10.0)
  elapsed = time.perf_counter() - start
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"{peak:.0f} {elapsed:.1f} {enc.codes.shape[-1]}")


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--long-minutes", type=float, default=10.0)
  parser.add_argument("--_long", type=float, default=None, help=argparse.SUPPRESS)
  parser.add_argument("--_checkpoint", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args._long is not None:
    return long_file_peak(args._long, args._checkpoint)
  with tempfile.TemporaryDirectory() as tmp:
    speed(args, tmp)
    peaks = {}
    for minutes in (1.0, args.long_minutes):
      out = subprocess.run([sys.executable, __file__, "--_long", str(minutes), "--_checkpoint",
                            os.path.join(tmp, "ours")], capture_output=True, text=True, check=True)
      peak, elapsed, frames = out.stdout.split()[-3:]
      peaks[minutes] = float(peak)
      print(f"encode_long {minutes:g} min: peak RSS {float(peak):.0f} MiB, {float(elapsed):.1f} s, "
            f"{frames} frames")
    print(f"bench codec_long_file_memory: ours {peaks[args.long_minutes]:.0f} MiB for "
          f"{args.long_minutes:g} min, reference {peaks[1.0]:.0f} MiB for 1 min, "
          f"speedup {peaks[1.0] / peaks[args.long_minutes]:.2f}x")


if __name__ == "__main__":
  main()
