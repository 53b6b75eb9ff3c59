"""Audio LM decoding speed: ours (one compiled lax loop) against `transformers`
MusicgenForConditionalGeneration.generate, same random weights, one process; and the
memory-bandwidth floor of the decode (every decoder weight read once per step).

  python bench/lm_decode.py                  # MusicGen-small shape + tiny shape, batch 1 and 8
  python bench/lm_decode.py --shapes tiny --steps 200

Sampling as audiocraft's defaults: top-k 250, CFG 3 (the batch doubled), temperature 1.
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SHAPES = {  # dim, layers, heads, ffn, codebooks, codebook size
    "small": (1024, 24, 16, 4096, 4, 2048),
    "tiny": (256, 4, 4, 1024, 4, 256),
}


def reference_model(shape, seed=0):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn, k, v = SHAPES[shape]
  torch.manual_seed(seed)
  text = transformers.T5Config(vocab_size=99, d_model=64, d_kv=16, d_ff=64, num_layers=1,
                               num_heads=4)
  codec = transformers.EncodecConfig(sampling_rate=32000, num_filters=4,
                                     upsampling_ratios=[8, 5, 4, 4], codebook_size=v,
                                     hidden_size=16, target_bandwidths=[k * 0.5 * np.log2(v)],
                                     use_causal_conv=False, num_lstm_layers=1)
  decoder = transformers.MusicgenDecoderConfig(
      vocab_size=v, hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
      ffn_dim=ffn, num_codebooks=k, max_position_embeddings=4096, pad_token_id=v,
      bos_token_id=v, decoder_start_token_id=v)
  config = transformers.MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
                                       decoder=decoder.to_dict())
  return transformers.MusicgenForConditionalGeneration(config).eval()


def ours_from(ref):
  """Our LM with the reference's decoder weights (in memory, through the converter's mapping)."""
  from soundgen_jax.convert import common, musicgen  # pylint: disable=g-import-not-at-top
  state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
  tensors = common.TensorMap(state, "reference")
  cfg = musicgen.lm_config(ref.config.decoder.to_dict(), ref.config.text_encoder.d_model)
  params = musicgen.lm_params(tensors, cfg)
  musicgen.add_text_projection(params, tensors, cfg, "enc_to_dec_proj")
  return musicgen.fill_lm(cfg, params), cfg


def random_lm(shape, text_dim=64):
  """Our LM at one of SHAPES with random weights, conditioned on text states of `text_dim`."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm.model import AudioLM, LMConfig  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn, k, v = SHAPES[shape]
  cfg = LMConfig(num_codebooks=k, codebook_size=v, dim=dim, num_heads=heads, num_layers=layers,
                 ffn_dim=ffn, text_dim=text_dim)
  return sharding.sharded_init(lambda: AudioLM(cfg, rngs=nnx.Rngs(0)))


def decoder_bytes(cfg):
  """Bytes of weights one decode step reads: every block, the final norm and the heads; the
  embeddings only K rows. The condition's cross-attention K/V weights are read once, not per
  step, in both implementations' caches, so they are left out."""
  d, f, k, v = cfg.dim, cfg.ffn_dim, cfg.num_codebooks, cfg.codebook_size
  per_layer = 3 * d * d + d * d + d * d + d * d + 2 * d * f + 6 * d  # qkv, out, cross q, out
  return 4 * (cfg.num_layers * per_layer + k * v * d + 2 * d)


def read_bandwidth(gib=1.0, repeats=5):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  x = jnp.ones((int(gib * 2**30) // 4,), jnp.float32)
  total = jax.jit(jnp.sum)
  total(x).block_until_ready()
  best = min(_timed(lambda: total(x).block_until_ready()) for _ in range(repeats))
  return x.nbytes / best


def _timed(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def time_ours(lm, cfg, batch, steps, text_dim, repeats):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm import patterns, sampling  # pylint: disable=g-import-not-at-top
  pattern = patterns.make("delay", cfg.num_codebooks)
  frames = steps - cfg.num_codebooks  # S = frames + K steps, as the reference's max_length
  text = jnp.asarray(np.random.default_rng(0).normal(size=(batch, 8, text_dim)), jnp.float32)
  mask = jnp.ones((batch, 8), bool)
  s = sampling.Sampling(top_k=250, cfg_coef=3.0)

  def run(seed):
    codes = sampling.generate(lm, pattern, num_frames=frames, sampling=s, text=text,
                              text_mask=mask, key=jax.random.key(seed))
    codes.block_until_ready()

  run(0)  # compile
  return min(_timed(lambda: run(i + 1)) for i in range(repeats))


def time_reference(ref, batch, steps, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  ids = torch.randint(1, 99, (batch, 8))
  mask = torch.ones_like(ids)

  def run(new_tokens):
    with torch.no_grad():
      ref.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=250,
                   guidance_scale=3.0, max_new_tokens=new_tokens, min_new_tokens=new_tokens)

  run(10)  # warm-up
  return min(_timed(lambda: run(steps - 1)) for _ in range(repeats))


def long_form_peak(seconds, window, stride):
  """(peak RSS MiB, wall s) of tiny-shape long-form generation of `seconds`, in a fresh process
  (a process's peak RSS only grows: the big shape's run would hide it)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  out = subprocess.run([sys.executable, os.path.abspath(__file__), "--long-form-only",
                        f"{seconds},{window},{stride}"], capture_output=True, text=True,
                       check=True).stdout
  result = json.loads(out.strip().splitlines()[-1])
  return result["peak_mib"], result["seconds"]


def long_form_memory(seconds, window, stride, frame_rate=50):
  """Generates `seconds` of audio tokens (tiny shape) by windows; prints peak RSS as JSON."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm import patterns, sampling  # pylint: disable=g-import-not-at-top
  lm = random_lm("tiny")
  k = lm.cfg.num_codebooks
  text, mask = jnp.ones((1, 8, 64)), jnp.ones((1, 8), bool)
  s = sampling.Sampling(top_k=250, cfg_coef=3.0)
  t = _timed(lambda: np.asarray(sampling.generate_long(
      lm, patterns.make("delay", k), num_frames=seconds * frame_rate, window=window * frame_rate,
      stride=stride * frame_rate, sampling=s, key=jax.random.key(0), text=text,
      text_mask=mask)))
  print(json.dumps({"peak_mib": _peak_rss_mib(), "seconds": t}))


def _peak_rss_mib():
  """This process's peak RSS. /proc's VmHWM, not getrusage: Linux carries ru_maxrss over from
  the parent through fork + exec, so a child of a big process would report the parent's."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--shapes", default="small,tiny")
  parser.add_argument("--steps", type=int, default=500)
  parser.add_argument("--batches", default="1,8")
  parser.add_argument("--repeats", type=int, default=1, help="timed runs (best of)")
  parser.add_argument("--threads", type=int, default=2, help="torch threads")
  parser.add_argument("--long-seconds", type=int, default=60,
                      help="long-form memory check at this length and twice it (0: skip it)")
  parser.add_argument("--long-form-only", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.long_form_only:
    long_form_memory(*(int(v) for v in args.long_form_only.split(",")))
    return
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  bandwidth = read_bandwidth()
  print(f"read bandwidth (jnp.sum over 1 GiB): {bandwidth / 1e9:.1f} GB/s")
  lines = []
  for shape in args.shapes.split(","):
    ref = reference_model(shape)
    lm, cfg = ours_from(ref)
    floor = decoder_bytes(cfg) / bandwidth
    for batch in (int(b) for b in args.batches.split(",")):
      t_ours = time_ours(lm, cfg, batch, args.steps, ref.config.text_encoder.d_model,
                         args.repeats)
      t_ref = time_reference(ref, batch, args.steps, args.repeats)
      tok_ours, tok_ref = batch * args.steps / t_ours, batch * args.steps / t_ref
      name = f"lm_decode_{shape}_b{batch}"
      print(f"{name}: ours {1e3 * t_ours / args.steps:.2f} ms/step, reference "
            f"{1e3 * t_ref / args.steps:.2f} ms/step, floor {1e3 * floor:.2f} ms/step "
            f"({decoder_bytes(cfg) / 2**20:.0f} MiB of weights a step)")
      lines.append(f"bench {name}: ours {tok_ours:.1f} tokens/s, reference {tok_ref:.1f} "
                   f"tokens/s, speedup {t_ref / t_ours:.2f}x")
      if batch == 1:
        lines.append(f"bench {name}_floor: ours {1e3 * t_ours / args.steps:.2f} ms/step, "
                     f"reference {1e3 * floor:.2f} ms/step (bandwidth floor), speedup "
                     f"{floor * args.steps / t_ours:.2f}x")
    del ref, lm
  if args.long_seconds <= 0:
    print("\n".join(lines))
    return
  # One window, then longer: the continuation windows compile a second executable, after which
  # the peak must not grow with the length.
  peaks = {n: long_form_peak(n, 30, 18) for n in (30, args.long_seconds, 2 * args.long_seconds)}
  print("long-form (tiny shape, 30 s window, 18 s stride): " + ", ".join(
      f"{n} s: {mib:.0f} MiB peak RSS in {t:.1f} s" for n, (mib, t) in peaks.items()))
  (short, _), (long, _) = peaks[args.long_seconds], peaks[2 * args.long_seconds]
  lines.append(f"bench lm_long_form_memory: ours {long:.0f} MiB for {2 * args.long_seconds} s, "
               f"reference {short:.0f} MiB for {args.long_seconds} s, speedup "
               f"{short / long:.2f}x")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
