"""Where codec inference time goes: EnCodec 24 kHz on 10 s, layer by layer, ours (each layer
jitted alone) against `transformers.EncodecModel`'s same layer (PyTorch) with the same
converted weights, with each layer's GFLOP (XLA's count) and the rate both sides reach.

  python bench/codec_layers.py [--seconds 10] [--repeats 7]

Layers timed alone keep their inputs and outputs in reused memory, so the sums are below a
whole encode + decode (bench/codec_speed.py), which also pays for fresh pages every call.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "codecs"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from codec_speed import best_of, signal  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args()

  import jax
  import jax.numpy as jnp
  import torch
  from flax import nnx
  from reference import random_encodec, save
  from soundgen_jax.codecs import inference
  from soundgen_jax.convert import encodec

  audio = signal(24000, args.seconds)
  ref = random_encodec("24khz", audio=audio)
  with tempfile.TemporaryDirectory() as tmp:
    ours = encodec.convert(save(ref, os.path.join(tmp, "hf")), os.path.join(tmp, "ours"))
  codes = inference.encode(ours, audio, 6.0).codes
  with torch.no_grad():
    ref_codes = ref.encode(torch.from_numpy(audio), bandwidth=6.0).audio_codes[0]
    stages = [("encoder", ref.encoder.layers, ours.encoder.layers, torch.from_numpy(audio)),
              ("decoder", ref.decoder.layers, ours.decoder.layers,
               ref.quantizer.decode(ref_codes.transpose(0, 1)))]
  ours_inputs = [jnp.swapaxes(jnp.asarray(audio), 1, 2), ours.quantizer.decode(jnp.asarray(codes))]

  print(f"{'layer':30s} {'input [B, T, C]':20s} {'GFLOP':>6s} {'ours ms':>8s} {'GF/s':>5s} "
        f"{'ref ms':>8s} {'GF/s':>5s} {'ref/ours':>8s}")
  for (stage, ref_layers, our_layers, x_ref), x in zip(stages, ours_inputs):
    total_ours = total_ref = 0.0
    for i, (ref_layer, our_layer) in enumerate(zip(ref_layers, our_layers)):
      graphdef, state = nnx.split(our_layer)
      compiled = jax.jit(lambda s, x, g=graphdef: nnx.merge(g, s)(x)).lower(state, x).compile()
      cost = compiled.cost_analysis()
      gflop = (cost[0] if isinstance(cost, list) else cost).get("flops", 0.0) / 1e9
      y = jax.block_until_ready(compiled(state, x))
      t_ours = best_of(lambda: jax.block_until_ready(compiled(state, x)), args.repeats)
      with torch.no_grad():
        y_ref = ref_layer(x_ref)
        t_ref = best_of(lambda: ref_layer(x_ref), args.repeats)
      name = f"{stage}.{i} {type(our_layer).__name__}"
      print(f"{name:30s} {str(tuple(x.shape)):20s} {gflop:6.2f} {1e3 * t_ours:8.2f} "
            f"{gflop / t_ours:5.0f} {1e3 * t_ref:8.2f} {gflop / t_ref:5.0f} {t_ref / t_ours:8.2f}")
      x, x_ref = y, y_ref
      total_ours, total_ref = total_ours + t_ours, total_ref + t_ref
    print(f"{stage + ' sum':30s} {'':20s} {'':6s} {1e3 * total_ours:8.1f} {'':5s} "
          f"{1e3 * total_ref:8.1f} {'':5s} {total_ref / total_ours:8.2f}")
  err = np.abs(np.asarray(x) - np.swapaxes(x_ref.numpy(), 1, 2)).max() / np.abs(x_ref.numpy()).max()
  print(f"decoded audio: layer-by-layer outputs agree to {err:.1e} of peak")


if __name__ == "__main__":
  main()
