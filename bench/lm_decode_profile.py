"""Where an LM decode step's time goes on this backend: one compiled generation under the JAX
profiler, its XLA thunks summed by kind (numbered copies of one fusion kind together).

  python bench/lm_decode_profile.py                       # MusicGen-small shape, CFG 3
  python bench/lm_decode_profile.py --cfg 1 --frames 200
  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= python bench/lm_decode_profile.py

Random weights, top-k 250, batch 1 (CFG doubles it). Prints ms/step with and without the
profiler, then the thunk kinds by total time: on XLA:CPU a CFG step's weight products and its
self-attention are `ffi_call`s (soundgen_jax/nn/cpu_kernels.cc), XLA's own matmuls `dot` or
`ynn_fusion` (YNNPACK). Keep --frames to a few hundred: over ~500 steps the profiler drops events
and the per-kind sums fall short of the step.
"""
import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import lm_decode  # noqa: E402  (this folder's: the shapes, the model, the floor)


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--shape", default="small", choices=sorted(lm_decode.SHAPES))
  parser.add_argument("--frames", type=int, default=100)
  parser.add_argument("--cfg", type=float, default=3.0, help="1: no guidance (batch 1)")
  parser.add_argument("--top", type=int, default=12, help="thunk kinds listed")
  args = parser.parse_args()
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm import patterns, sampling  # pylint: disable=g-import-not-at-top
  lm = lm_decode.random_lm(args.shape)
  cfg, k = lm.cfg, lm.cfg.num_codebooks
  pattern = patterns.make("delay", k)
  s = sampling.Sampling(top_k=250, cfg_coef=args.cfg)
  text, mask = jnp.ones((1, 8, 64)), jnp.ones((1, 8), bool)
  steps = args.frames + k

  def run(seed):
    sampling.generate(lm, pattern, num_frames=args.frames, sampling=s, text=text,
                      text_mask=mask, key=jax.random.key(seed)).block_until_ready()

  run(0)  # compile
  plain = min(lm_decode._timed(lambda: run(i + 1)) for i in range(2))  # pylint: disable=protected-access
  floor = lm_decode.decoder_bytes(cfg) / lm_decode.read_bandwidth()
  with tempfile.TemporaryDirectory() as trace_dir:
    t = time.perf_counter()
    with jax.profiler.trace(trace_dir):
      run(3)
    profiled = time.perf_counter() - t
    path = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
      events = json.load(f)["traceEvents"]
  total, count = collections.Counter(), collections.Counter()
  for e in events:
    name = e.get("name", "")
    if e.get("ph") != "X" or name.startswith(("$", "ThunkExecutor", "SlinkyThreadPool", "end:")):
      continue
    kind = re.sub(r"\.\d+$", "", name)
    total[kind] += e["dur"]
    count[kind] += 1
  print(f"{args.shape}, CFG {args.cfg:g}, {steps} steps: {1e3 * plain / steps:.2f} ms/step "
        f"({1e3 * profiled / steps:.2f} under the profiler); floor {1e3 * floor:.2f} ms/step "
        f"({floor * steps / plain:.0%} of it)")
  for kind, us in total.most_common(args.top):
    print(f"  {us / 1e3 / steps:8.2f} ms/step  {count[kind] / steps:6.1f} per step  {kind}")


if __name__ == "__main__":
  main()
