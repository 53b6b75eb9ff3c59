"""SoundStorm decoding speed: the compiled decode loop against its own forward passes timed
alone, and against autoregressive decoding of the same audio with models of the same width and
depth in compiled loops with KV caches. One process, same machine.

  python bench/soundstorm_decode.py              # base size, 30 s at 50 frames/s, 12 levels
  python bench/soundstorm_decode.py --size tiny --seconds 2 --batches 1   # a quick look

Sides (conditioned on 25 Hz semantic-style tokens, as the paper; no text):
  soundstorm   the paper's schedule (16, 1, ..., 1): 27 passes over all 1500 frames
  flat AR      AudioLM-style flattened decoding of the 11 finer levels: 16,500 steps
  delay LM     the audio LM's delay pattern over all 12 levels: 1,511 steps
An AR step is timed over `--ar-steps` steps at the end of a KV cache of the full length; every
step reads the whole preallocated cache, so a step costs the same wherever it is and the total
is steps x that cost. FLOPs and bytes are counted per side from the shapes; from the same
counts, the time a TPU v4 chip would take at its peak (275 TFLOP/s bf16, 1.2 TB/s HBM, bf16
weights and caches) bounds the ratio there.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SIZES = {  # dim, layers, heads, ffn
    "base": (768, 12, 12, 3072),
    "tiny": (128, 2, 4, 512),
}
LEVELS, CODEBOOK, FRAME_RATE, COND_RATE = 12, 1024, 50, 25
TPU_V4_FLOPS, TPU_V4_BYTES_PER_S = 275e12, 1.2e12


def _timed(fn, repeats=1):
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def peak_matmul_flops(n=2048, repeats=5):
  """This machine's float32 matmul rate (XLA, all threads): the compute floor of a pass."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jnp.ones((n, n), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  return 2 * n**3 / _timed(lambda: mm(a).block_until_ready(), repeats)


def read_bandwidth(gib=1.0, repeats=5):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  x = jnp.ones((int(gib * 2**30) // 4,), jnp.float32)
  total = jax.jit(jnp.sum)
  total(x).block_until_ready()
  return x.nbytes / _timed(lambda: total(x).block_until_ready(), repeats)


def count_params(module):
  import jax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


# --- SoundStorm ---------------------------------------------------------------------------------


def soundstorm(size):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  from soundgen_jax.soundstorm.model import SoundStorm, SoundStormConfig  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn = SIZES[size]
  cfg = SoundStormConfig(num_levels=LEVELS, codebook_size=CODEBOOK, dim=dim, num_heads=heads,
                         num_layers=layers, ffn_dim=ffn, cond_vocab=1024,
                         cond_upsample=FRAME_RATE // COND_RATE, text_dim=0)
  return sharding.sharded_init(lambda: SoundStorm(cfg, rngs=nnx.Rngs(0)))


def pass_flops(cfg, params_matmul, frames, batch):
  """One forward over `frames`: 2 x (matmul weights) per frame plus attention's two T x T
  products per layer."""
  return batch * (2 * params_matmul * frames + 4 * frames**2 * cfg.dim * cfg.num_layers)


def time_soundstorm(model, frames, batch, repeats):
  """(decode seconds, passes, best single forward seconds)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from soundgen_jax.soundstorm import generation  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  cond = jnp.asarray(rng.integers(0, 1024, (batch, frames * COND_RATE // FRAME_RATE)),
                     jnp.int32)
  codes = jnp.zeros((batch, LEVELS, frames), jnp.int32)
  # The paper's sampling: temperature 1, Gumbel-noised confidence; cfg is moot without text.
  decoding = generation.Decoding(steps=(16,) + (1,) * (LEVELS - 1))
  passes = [0]

  def decode(seed):
    out, passes[0] = generation.generate(model, key=jax.random.key(seed), decoding=decoding,
                                         codes=codes, cond_tokens=cond)
    out.block_until_ready()

  decode(0)  # compile
  seconds = _timed(lambda: decode(1), repeats)
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda s, c, t: nnx.merge(graphdef, s)(c, None, t))
  masked = jnp.full(codes.shape, CODEBOOK, jnp.int32)
  forward(state, masked, cond).block_until_ready()
  single = _timed(lambda: forward(state, masked, cond).block_until_ready(), max(repeats, 3))
  return seconds, passes[0], single


def time_soundstorm_single(model, frames, batch):
  """(None, passes, best single forward seconds) without running the whole decode."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  cond = jnp.zeros((batch, frames * COND_RATE // FRAME_RATE), jnp.int32)
  graphdef, state = nnx.split(model)
  forward = jax.jit(lambda s, c, t: nnx.merge(graphdef, s)(c, None, t))
  masked = jnp.full((batch, LEVELS, frames), CODEBOOK, jnp.int32)
  forward(state, masked, cond).block_until_ready()
  return None, 16 + LEVELS - 1, _timed(lambda: forward(state, masked, cond).block_until_ready(),
                                       2)


# --- autoregressive sides -----------------------------------------------------------------------


def audio_lm(size, num_codebooks):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm.model import AudioLM, LMConfig  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn = SIZES[size]
  cfg = LMConfig(num_codebooks=num_codebooks, codebook_size=CODEBOOK, dim=dim, num_heads=heads,
                 num_layers=layers, ffn_dim=ffn, text_dim=0, positions="rotary")
  return sharding.sharded_init(lambda: AudioLM(cfg, rngs=nnx.Rngs(0)))


def time_ar_step(lm, cache_length, steps, batch):
  """Seconds per decode step: `steps` greedy steps in one fori_loop, ending at cache_length."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  graphdef, state = nnx.split(lm)
  k = lm.cfg.num_codebooks

  @jax.jit
  def run(state, cache, tokens):
    model = nnx.merge(graphdef, state)

    def body(i, carry):
      cache, tok = carry
      logits, cache = model.step(tok, None, None, cache, cache_length - steps + i)
      return cache, jnp.argmax(logits[:, :, -1], axis=-1).astype(jnp.int32)[..., None]

    return jax.lax.fori_loop(0, steps, body, (cache, tokens))[1]

  tokens = jnp.zeros((batch, k, 1), jnp.int32)
  cache = lm.init_cache(batch, cache_length)
  run(state, cache, tokens).block_until_ready()
  return _timed(lambda: run(state, cache, tokens).block_until_ready(), 2) / steps


def ar_step_counts(cfg, params_matmul, cache_length, batch, bytes_per_value):
  """(FLOPs, bytes) of one step: the weights and the whole KV cache read once."""
  kv = 2 * cfg.num_layers * cache_length * cfg.dim * batch
  flops = batch * 2 * params_matmul + 2 * kv
  return flops, (params_matmul + kv) * bytes_per_value


def tpu_seconds(flops, nbytes):
  return max(flops / TPU_V4_FLOPS, nbytes / TPU_V4_BYTES_PER_S)


def matmul_params(model):
  """Parameters a token / frame multiplies by: all but the embedding tables."""
  import jax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  total = 0
  for path, x in jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param)):
    name = jax.tree_util.keystr(path)
    if "embed" not in name:
      total += int(np.prod(x.shape))
  return total


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--size", default="base", choices=sorted(SIZES))
  parser.add_argument("--seconds", type=float, default=30.0)
  parser.add_argument("--batches", default="1,4")
  parser.add_argument("--ar-steps", type=int, default=64, help="AR steps timed per side")
  parser.add_argument("--repeats", type=int, default=1, help="timed decodes (best of)")
  args = parser.parse_args()
  import jax  # pylint: disable=g-import-not-at-top
  frames = int(args.seconds * FRAME_RATE)
  flat_steps, delay_steps = (LEVELS - 1) * frames, frames + LEVELS - 1
  peak, bandwidth = peak_matmul_flops(), read_bandwidth()
  print(f"{jax.devices()[0].device_kind}: float32 matmul {peak / 1e9:.1f} GFLOP/s, read "
        f"bandwidth {bandwidth / 1e9:.1f} GB/s")
  storm = soundstorm(args.size)
  flat, delay = audio_lm(args.size, 1), audio_lm(args.size, LEVELS)
  p_storm, p_flat, p_delay = (matmul_params(m) for m in (storm, flat, delay))
  print(f"{args.size}: SoundStorm {count_params(storm) / 1e6:.1f}M parameters, flat AR "
        f"{count_params(flat) / 1e6:.1f}M, delay LM {count_params(delay) / 1e6:.1f}M; "
        f"{args.seconds:g} s = {frames} frames x {LEVELS} levels")
  lines = []
  for batch in (int(b) for b in args.batches.split(",")):
    b = f"b{batch}"
    if batch == 1:  # the loop overhead, from the whole decode
      seconds, passes, single = time_soundstorm(storm, frames, batch, args.repeats)
    else:  # compute-bound passes: passes x one pass x b1's loop overhead (a whole base-size
      # decode at batch 4 takes ~10 minutes on 2 CPU cores)
      _, passes, single = time_soundstorm_single(storm, frames, batch)
      seconds = passes * single * overhead
    flops = passes * pass_flops(storm.cfg, p_storm, frames, batch)
    how = "decoded" if batch == 1 else "passes x one pass x the b1 overhead"
    print(f"soundstorm {b}: {passes} passes, {seconds:.2f} s ({how}; {single:.3f} s a pass), "
          f"{flops / 1e12:.2f} TFLOP, {flops / seconds / peak:.0%} of the matmul peak")
    if batch == 1:
      overhead = seconds / (passes * single)
      lines.append(f"bench soundstorm_loop_{args.size}_{b}: ours {seconds:.2f} s, reference "
                   f"{passes * single:.2f} s ({passes} single passes), speedup "
                   f"{passes * single / seconds:.3f}x (overhead {overhead:.3f}x)")
    storm_tpu = passes * tpu_seconds(pass_flops(storm.cfg, p_storm, frames, batch),
                                     2 * p_storm)
    for name, lm, params, steps in (("flat_ar", flat, p_flat, flat_steps),
                                    ("delay_lm", delay, p_delay, delay_steps)):
      per_step = time_ar_step(lm, steps, min(args.ar_steps, steps), batch)
      total = per_step * steps
      f, nbytes = ar_step_counts(lm.cfg, params, steps, batch, 4)
      f_tpu, bytes_tpu = ar_step_counts(lm.cfg, params, steps, batch, 2)
      ar_tpu = steps * tpu_seconds(f_tpu, bytes_tpu)
      print(f"{name} {b}: {steps} steps x {1e3 * per_step:.2f} ms = {total:.1f} s, "
            f"{steps * f / 1e12:.2f} TFLOP, {steps * nbytes / 1e9:.0f} GB read "
            f"({nbytes / per_step / bandwidth:.0%} of the bandwidth a step); TPU v4 bound "
            f"{ar_tpu:.2f} s vs SoundStorm {storm_tpu:.3f} s: {ar_tpu / storm_tpu:.0f}x")
      lines.append(f"bench soundstorm_vs_{name}_{args.size}_{b}: ours {seconds:.2f} s, "
                   f"reference {total:.1f} s ({steps} steps), speedup {total / seconds:.2f}x "
                   f"(TPU v4 bound {ar_tpu / storm_tpu:.0f}x)")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
