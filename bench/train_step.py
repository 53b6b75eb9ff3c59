"""Codec GAN training step, steps/s: ours (jitted JAX, `configs/encodec.py:base`: EnCodec 24 kHz
with the 5-scale MS-STFT discriminator, balancer, Adam) against the same step in PyTorch
(`transformers.EncodecModel` with straight-through RVQ + a torch MS-STFT discriminator written
here + the same losses and balancer), in one process after warm-up, on this machine's CPU.

  python bench/train_step.py [--variant base] [--batch 2] [--seconds 1.0] [--steps 3]

The batch is small (CPU); the config's own batch is 64. Differences of the reference: one
bandwidth per batch (the HF quantizer takes one), no EMA codebook update or k-means.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def _audio(batch, rate, seconds, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(int(rate * seconds)) / rate
  f = rng.uniform(100, 3000, (batch, 1, 1))
  x = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal((batch, 1, t.size))
  return x.astype(np.float32)


def ours(config, audio, steps):
  import jax
  from soundgen_jax.parallel import sharding
  from soundgen_jax.training import codec_trainer, trainer as trainer_lib
  trainer = codec_trainer.CodecTrainer(config)
  mesh = sharding.mesh_from_config(config.mesh)
  _, shardings = sharding.abstract_shardings(trainer.init_state, mesh)
  start = time.perf_counter()
  state = sharding.init_sharded(trainer.init_state, shardings)
  batch = sharding.to_global({"audio": audio}, mesh)
  step = trainer_lib.jit_train_step(trainer, shardings, sharding.batch_shardings(batch, mesh),
                                    mesh)
  state, metrics, _ = step(state, batch)  # compile + first step (k-means init)
  jax.block_until_ready(metrics)
  warmup = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics, _ = step(state, batch)
  jax.block_until_ready(metrics)
  return steps / (time.perf_counter() - start), warmup, float(metrics["loss"])


# --- the PyTorch reference -------------------------------------------------------------------

def torch_step_fn(config, audio):
  import torch
  import transformers
  from torch.nn.utils.parametrizations import weight_norm
  from soundgen_jax import audio as audio_lib

  m, rate = config.model, config.model.sample_rate
  hf = transformers.EncodecConfig(
      sampling_rate=rate, audio_channels=m.channels, num_filters=m.num_filters,
      upsampling_ratios=list(m.ratios), hidden_size=m.dimension, codebook_size=m.codebook_size,
      target_bandwidths=list(m.bandwidths), num_lstm_layers=m.lstm_layers,
      use_causal_conv=m.causal, norm_type=m.norm, use_conv_shortcut=m.conv_shortcut)
  torch.manual_seed(0)
  gen = transformers.EncodecModel(hf).train()

  class ScaleD(torch.nn.Module):
    def __init__(self, n_fft, filters, dilations=(1, 2, 4)):
      super().__init__()
      self.n_fft, self.hop = n_fft, n_fft // 4
      self.register_buffer("window", torch.hann_window(n_fft))
      convs = [weight_norm(torch.nn.Conv2d(2 * m.channels, filters, (3, 9), padding=(1, 4)))]
      for d in dilations:
        convs.append(weight_norm(torch.nn.Conv2d(filters, filters, (3, 9), stride=(1, 2),
                                                 dilation=(d, 1), padding=(d, 4))))
      convs.append(weight_norm(torch.nn.Conv2d(filters, filters, (3, 3), padding=(1, 1))))
      self.convs = torch.nn.ModuleList(convs)
      self.post = weight_norm(torch.nn.Conv2d(filters, 1, (3, 3), padding=(1, 1)))

    def forward(self, x):
      b, c, t = x.shape
      z = torch.stft(x.reshape(b * c, t), self.n_fft, self.hop, window=self.window,
                     center=False, return_complex=True) / self.window.pow(2).sum().sqrt()
      z = z.reshape(b, c, *z.shape[1:])
      z = torch.cat([z.real, z.imag], 1).transpose(2, 3)  # [B, 2C, frames, freqs]
      fmap = []
      for conv in self.convs:
        z = torch.nn.functional.leaky_relu(conv(z), 0.2)
        fmap.append(z)
      return self.post(z), fmap

  d_cfg = config.discriminator
  disc = torch.nn.ModuleList([ScaleD(int(n), d_cfg.filters) for n in d_cfg.n_ffts])
  mels = {}
  for i in config.loss.mel_scales:
    n = 2 ** i
    mels[n] = (torch.from_numpy(np.asarray(audio_lib.mel_filterbank(rate, n, config.loss.mel_bins),
                                           np.float32)), torch.hann_window(n))

  def mel_loss(y, x):
    total = 0.0
    for n, (fb, win) in mels.items():
      both = torch.cat([y, x]).reshape(-1, y.shape[-1])
      s = torch.stft(both, n, n // 4, window=win, center=True, pad_mode="reflect",
                     return_complex=True).abs().transpose(1, 2) @ fb
      sy, sx = s.chunk(2)
      total = total + (sy - sx).abs().mean() + (sy - sx).pow(2).mean()
    return total

  def run_d(z):
    out = [d(z) for d in disc]
    return [o[0] for o in out], [o[1] for o in out]

  o = config.optimizer
  opt_g = torch.optim.Adam(gen.parameters(), lr=o.generator.learning_rate,
                           betas=(o.generator.b1, o.generator.b2))
  opt_d = torch.optim.Adam(disc.parameters(), lr=o.discriminator.learning_rate,
                           betas=(o.discriminator.b1, o.discriminator.b2))
  weights = {"l_t": config.loss.time, "l_f": config.loss.freq, "l_g": config.loss.adversarial,
             "l_feat": config.loss.feature}
  ema = {k: 0.0 for k in weights}
  count = [0.0]
  x = torch.from_numpy(audio)
  rng = np.random.default_rng(0)

  def step():
    bw = float(rng.choice(m.bandwidths))
    emb = gen.encoder(x)
    codes = gen.quantizer.encode(emb, bw)
    quant = gen.quantizer.decode(codes)
    commit = torch.nn.functional.mse_loss(emb, quant.detach())
    y = gen.decoder(emb + (quant - emb).detach())[..., :x.shape[-1]]
    # Discriminator update.
    real, _ = run_d(x)
    fake, _ = run_d(y.detach())
    d_loss = sum(torch.relu(1 - r).mean() + torch.relu(1 + f).mean()
                 for r, f in zip(real, fake)) / len(real)
    opt_d.zero_grad()
    d_loss.backward()
    torch.nn.utils.clip_grad_norm_(disc.parameters(), o.discriminator.grad_clip_norm)
    opt_d.step()
    # Generator losses, balanced at the decoder output.
    y_leaf = y.detach().requires_grad_(True)
    with torch.no_grad():
      fmap_real = run_d(x)[1]
    logits, fmap_fake = run_d(y_leaf)
    losses = {"l_t": (y_leaf - x).abs().mean(), "l_f": mel_loss(y_leaf, x),
              "l_g": sum(torch.relu(1 - f).mean() for f in logits) / len(logits),
              "l_feat": sum(sum((r - f).abs().mean() / (r.abs().mean() + 1e-8)
                                for r, f in zip(rs, fs)) / len(rs)
                            for rs, fs in zip(fmap_real, fmap_fake)) / len(fmap_real)}
    count[0] = count[0] * config.balancer.ema_decay + 1
    grad_y = torch.zeros_like(y_leaf)
    total_w = sum(weights.values())
    for k, loss in losses.items():
      (g,) = torch.autograd.grad(loss, y_leaf, retain_graph=True)
      norm = g.flatten(1).norm(dim=1).mean().item()
      ema[k] = ema[k] * config.balancer.ema_decay + norm
      grad_y += g * (weights[k] / total_w / (ema[k] / count[0] + 1e-12))
    opt_g.zero_grad()
    torch.autograd.backward([y, commit * config.loss.commitment], [grad_y, None])
    torch.nn.utils.clip_grad_norm_(gen.parameters(), o.generator.grad_clip_norm)
    opt_g.step()
    return float(sum(weights[k] * v.item() for k, v in losses.items()))

  return step


def reference(config, audio, steps):
  step = torch_step_fn(config, audio)
  start = time.perf_counter()
  step()
  warmup = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(steps):
    loss = step()
  return steps / (time.perf_counter() - start), warmup, loss


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", default="base", help="configs/encodec.py variant")
  parser.add_argument("--batch", type=int, default=2)
  parser.add_argument("--seconds", type=float, default=1.0)
  parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
  args = parser.parse_args()
  from configs import encodec
  config = encodec.get_config(args.variant)
  config.batch_size = args.batch
  config.mesh.data = 1
  audio = _audio(args.batch, config.model.sample_rate, args.seconds)
  ours_sps, ours_warm, ours_loss = ours(config, audio, args.steps)
  print(f"ours: {ours_sps:.4f} steps/s (compile + first step {ours_warm:.1f} s, loss "
        f"{ours_loss:.3f})", flush=True)
  ref_sps, ref_warm, ref_loss = reference(config, audio, args.steps)
  print(f"reference (PyTorch): {ref_sps:.4f} steps/s (first step {ref_warm:.1f} s, loss "
        f"{ref_loss:.3f})", flush=True)
  name = (f"codec_train_step ({args.variant}, {config.model.sample_rate} Hz, batch "
          f"{args.batch} x {args.seconds:g} s, cpu)")
  print(f"bench {name}: ours {ours_sps:.4f} steps/s, reference {ref_sps:.4f} steps/s, "
        f"speedup {ours_sps / ref_sps:.2f}x")


if __name__ == "__main__":
  main()
