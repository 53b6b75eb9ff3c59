"""Audio LM training step: ours (one jitted step, donated state) against the same model's
PyTorch training step (`transformers` MusicgenForCausalLM, forward + backward + AdamW), one
process, base shape (12 layers, width 768, 4 x 2048 codebooks), cross-attention to 16 text
states, random tokens.

  python bench/lm_train_step.py                  # batch 2 x 250 steps of the pattern
  python bench/lm_train_step.py --shape tiny --steps 5

Both sides: float32, AdamW, the mean cross-entropy over the K heads; the models have the same
shape and their own random weights (the step's cost does not depend on the values). MFU is the
step's matmul FLOPs (6 x matmul parameters x tokens + attention) over the float32 matmul rate
measured in the same run.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SHAPES = {  # dim, layers, heads, ffn, codebooks, codebook size
    "base": (768, 12, 12, 3072, 4, 2048),
    "tiny": (256, 4, 4, 1024, 4, 256),
}
TEXT_LENGTH = 16


def _best(fn, repeats):
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t)
  return best


def step_flops(dim, layers, ffn, k, v, batch, length):
  """Forward + backward (3x the forward) of the decoder's matmuls: self-attention q/k/v/out,
  cross-attention q/out (its keys / values over TEXT_LENGTH states), the FFN, the K heads."""
  per_token = layers * (4 * dim * dim + 2 * dim * dim + 2 * dim * ffn) + k * v * dim
  attention = layers * (4 * length * dim + 4 * TEXT_LENGTH * dim)
  cross_kv = layers * 2 * dim * dim * TEXT_LENGTH * batch
  return 3 * (2 * batch * length * per_token + batch * length * attention + 2 * cross_kv)


def time_ours(shape, batch, length, repeats):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from soundgen_jax.lm.model import AudioLM, LMConfig  # pylint: disable=g-import-not-at-top
  from soundgen_jax.parallel import sharding  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn, k, v = SHAPES[shape]
  cfg = LMConfig(num_codebooks=k, codebook_size=v, dim=dim, num_heads=heads, num_layers=layers,
                 ffn_dim=ffn, text_dim=dim)
  lm = sharding.sharded_init(lambda: AudioLM(cfg, rngs=nnx.Rngs(0)))
  graphdef, params = nnx.split(lm)
  tx = optax.adamw(1e-4)
  opt = tx.init(params)
  rng = np.random.default_rng(0)
  seq = jnp.asarray(rng.integers(0, v, (batch, k, length + 1)), jnp.int32)
  text = jnp.asarray(rng.normal(size=(batch, TEXT_LENGTH, dim)), jnp.float32)
  mask = jnp.ones((batch, TEXT_LENGTH), bool)

  def loss_fn(p):
    logits = nnx.merge(graphdef, p)(seq[:, :, :-1], text, mask)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, seq[:, :, 1:, None], axis=-1))

  def step(p, o):
    loss, grads = jax.value_and_grad(loss_fn)(p)
    updates, o = tx.update(grads, o, p)
    return optax.apply_updates(p, updates), o, loss

  step = jax.jit(step, donate_argnums=(0, 1))
  state = [params, opt]

  def run():
    state[0], state[1], loss = step(*state)
    loss.block_until_ready()

  run()  # compile
  return _best(run, repeats)


def time_reference(shape, batch, length, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  dim, layers, heads, ffn, k, v = SHAPES[shape]
  torch.manual_seed(0)
  config = transformers.MusicgenDecoderConfig(
      vocab_size=v, hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
      ffn_dim=ffn, num_codebooks=k, max_position_embeddings=length + 8, pad_token_id=v,
      bos_token_id=v, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
      layerdrop=0.0)
  model = transformers.MusicgenForCausalLM(config).train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
  ids = torch.randint(0, v, (batch * k, length + 1))
  text = torch.randn(batch, TEXT_LENGTH, dim)

  def run():
    opt.zero_grad(set_to_none=True)
    logits = model(input_ids=ids[:, :-1], encoder_hidden_states=text).logits  # [B, K, T, V]
    targets = ids[:, 1:].reshape(batch, k, length)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))
    loss.backward()
    opt.step()

  run()  # warm-up
  return _best(run, repeats)


def peak_matmul_flops(n=2048, repeats=5):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jnp.ones((n, n), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  return 2 * n**3 / _best(lambda: mm(a).block_until_ready(), repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--shape", default="base", choices=sorted(SHAPES))
  parser.add_argument("--batch", type=int, default=2)
  parser.add_argument("--steps", type=int, default=250, help="pattern steps per example")
  parser.add_argument("--repeats", type=int, default=3, help="timed steps (best of)")
  parser.add_argument("--threads", type=int, default=2, help="torch threads")
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  peak = peak_matmul_flops()
  t_ours = time_ours(args.shape, args.batch, args.steps, args.repeats)
  t_ref = time_reference(args.shape, args.batch, args.steps, args.repeats)
  dim, layers, _, ffn, k, v = SHAPES[args.shape]
  flops = step_flops(dim, layers, ffn, k, v, args.batch, args.steps)
  print(f"float32 matmul {peak / 1e9:.1f} GFLOP/s; a step is {flops / 1e9:.0f} GFLOP: ours "
        f"{t_ours:.3f} s (MFU {flops / t_ours / peak:.0%}), reference {t_ref:.3f} s "
        f"(MFU {flops / t_ref / peak:.0%})")
  print(f"bench lm_train_step_{args.shape}_b{args.batch}: ours {1 / t_ours:.3f} steps/s, "
        f"reference {1 / t_ref:.3f} steps/s, speedup {t_ref / t_ours:.2f}x")


if __name__ == "__main__":
  main()
