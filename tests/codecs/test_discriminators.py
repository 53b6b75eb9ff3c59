"""Discriminators: shapes on 1 s of 24 kHz audio, gradients, and a PyTorch re-statement of one
MS-STFT scale (torch.stft + weight-normed Conv2d) fed our weights."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import soundgen_jax  # noqa: F401  (turns off eager sharding)
from soundgen_jax.codecs import discriminators as D
from soundgen_jax.codecs import losses

SR = 24000


# Small SoundStream widths: few distinct conv shapes keep parameter init and compiles short.
SMALL_SOUNDSTREAM = dict(wave_kwargs=dict(filters=4, max_filters=16),
                         stft_kwargs=dict(filters=4, channel_mults=(1,) * 5 + (2,)))


@pytest.fixture(scope="module")
def wav():
  return 0.1 * jax.random.normal(jax.random.key(0), (1, 1, SR))


def _forward(model, x):
  return nnx.jit(lambda m, x: m(x))(model, x)


def test_msstft_shapes(wav):
  model = D.MultiScaleSTFTDiscriminator(rngs=nnx.Rngs(0))  # EnCodec's widths
  logits, fmaps = _forward(model, wav)
  assert len(logits) == len(fmaps) == 5
  for (n_fft, hop, _), logit, fmap in zip(D.ENCODEC_STFT_SCALES, logits, fmaps):
    frames = 1 + (SR - n_fft) // hop
    freqs = [n_fft // 2 + 1]
    for _ in range(3):  # three stride-2 convs in frequency
      freqs.append((freqs[-1] - 1) // 2 + 1)
    assert [f.shape for f in fmap] == [(1, frames, f, 32) for f in freqs + freqs[-1:]]
    assert logit.shape == (1, frames, freqs[-1], 1)
    assert np.isfinite(np.asarray(logit)).all()


def test_soundstream_shapes(wav):
  model = D.SoundStreamDiscriminator(rngs=nnx.Rngs(0), **SMALL_SOUNDSTREAM)
  logits, fmaps = _forward(model, wav)
  assert len(logits) == len(fmaps) == 4
  # Wave scales: 1x, 2x, 4x pooled audio, four stride-4 convs each.
  for i, n in enumerate([SR, SR // 2, SR // 4]):
    lengths = [n]
    for _ in range(4):
      lengths.append(-(-lengths[-1] // 4))
    assert [f.shape[1:] for f in fmaps[i]] == list(zip(lengths + lengths[-1:],
                                                       [4, 16, 16, 16, 16, 16]))
    assert logits[i].shape == (1, lengths[-1], 1)
  # STFT: 90 frames x 512 bins, time halved 3 times and frequency 6 times.
  assert [f.shape[1:] for f in fmaps[3]] == [(90, 512, 4), (90, 256, 4), (45, 128, 4),
                                              (45, 64, 4), (23, 32, 4), (23, 16, 4),
                                              (12, 8, 8)]
  assert logits[3].shape == (1, 12, 1, 1)


def test_msstft_stereo_and_growth():
  model = D.MultiScaleSTFTDiscriminator(4, in_channels=2, filters_scale=2, max_filters=16,
                                        scales=((256, 64, 256), (128, 32, 100)),
                                        rngs=nnx.Rngs(0))
  x = 0.1 * jax.random.normal(jax.random.key(1), (2, 2, 4000))
  logits, fmaps = _forward(model, x)
  assert [f.shape[-1] for f in fmaps[0]] == [4, 8, 16, 16, 16]
  assert logits[1].shape == (2, 1 + (4000 - 128) // 32, 9, 1)
  with pytest.raises(ValueError, match="samples"):
    model(x[:, :1])


@pytest.mark.parametrize("build", [
    lambda: D.MultiScaleSTFTDiscriminator(4, scales=D.ENCODEC_STFT_SCALES[1:3],
                                          rngs=nnx.Rngs(0)),
    lambda: D.SoundStreamDiscriminator(
        wave_kwargs=dict(filters=4, max_filters=16, num_scales=2, n_layers=2),
        stft_kwargs=dict(filters=4, strides=((1, 2), (2, 2)), channel_mults=(1, 2)),
        rngs=nnx.Rngs(0)),
], ids=["msstft", "soundstream"])
def test_gradients_flow(build, wav):
  """All three GAN losses give finite gradients, non-zero for every parameter and the audio.
  Real and fake (a scaled, reversed copy) go through one call, as a batch of two."""
  def loss(m, x):
    logits, fmaps = m(jnp.concatenate([x, 0.5 * x[..., ::-1]]))
    real, fake = [l[:1] for l in logits], [l[1:] for l in logits]
    fm_real = [[f[:1] for f in fs] for fs in fmaps]
    fm_fake = [[f[1:] for f in fs] for fs in fmaps]
    return (losses.hinge_generator_loss(fake) + losses.feature_matching_loss(fm_real, fm_fake)
            + losses.hinge_discriminator_loss(real, fake))
  grads, x_grad = nnx.jit(nnx.grad(loss, argnums=(0, 1)))(build(), wav[..., :8000])
  leaves = jax.tree.leaves(grads)
  assert leaves and all(np.isfinite(np.asarray(g)).all() for g in leaves)
  assert all(float(jnp.abs(g).max()) > 0 for g in leaves)
  assert np.isfinite(np.asarray(x_grad)).all() and float(jnp.abs(x_grad).max()) > 0


def test_params_have_logical_axes_and_weight_norm():
  model = D.SoundStreamDiscriminator(rngs=nnx.Rngs(0), **SMALL_SOUNDSTREAM)
  params = nnx.state(model, nnx.Param)
  for path, var in jax.tree.leaves_with_path(params, is_leaf=lambda v: isinstance(v, nnx.Param)):
    names = var.get_metadata().get("out_sharding")
    assert names is not None and len(names) == var.ndim, path
  conv = model.stft.conv_pre
  x = jax.random.normal(jax.random.key(2), (1, 8, 8, 2))
  y = conv(x)
  conv.v[...] = 3.0 * conv.v[...]  # weight norm: the kernel ignores v's scale
  np.testing.assert_allclose(conv(x), y, rtol=1e-5, atol=1e-6)
  conv.g[...] = 2.0 * conv.g[...]
  np.testing.assert_allclose(conv(x) - conv.bias[...], 2.0 * (y - conv.bias[...]),
                             rtol=1e-5, atol=1e-6)


def test_avg_pool_matches_torch():
  x = np.random.default_rng(0).normal(size=(2, 1, 101)).astype(np.float32)
  ref = torch.nn.AvgPool1d(4, 2, padding=1, count_include_pad=False)(torch.from_numpy(x))
  np.testing.assert_allclose(D.avg_pool_audio(jnp.asarray(x)), ref.numpy(), rtol=1e-6, atol=1e-6)


def _torch_conv2d(conv, z, stride=(1, 1), dilation=(1, 1)):
  """Our WNConv through torch's weight_norm'd Conv2d (NCHW, weight [out, in, kh, kw])."""
  v = torch.from_numpy(np.array(conv.v[...])).permute(3, 2, 0, 1)
  layer = torch.nn.Conv2d(v.shape[1], v.shape[0], v.shape[2:], stride=stride,
                          dilation=dilation, padding=tuple(p[0] for p in conv.padding))
  layer = torch.nn.utils.parametrizations.weight_norm(layer)
  with torch.no_grad():
    layer.parametrizations.weight.original0.copy_(
        torch.from_numpy(np.array(conv.g[...])).view(-1, 1, 1, 1))
    layer.parametrizations.weight.original1.copy_(v)
    layer.bias.copy_(torch.from_numpy(np.array(conv.bias[...])))
    return layer(z)


def test_stft_discriminator_matches_torch_restatement():
  model = D.STFTDiscriminator(4, n_fft=256, hop=64, win_length=200, rngs=nnx.Rngs(3))
  rng = np.random.default_rng(0)
  for conv in list(model.convs) + [model.conv_post]:  # gains away from ||v||
    conv.g[...] = conv.g[...] * rng.uniform(0.5, 1.5, conv.g.shape).astype(np.float32)
    conv.bias[...] = rng.normal(size=conv.bias.shape).astype(np.float32) * 0.1
  x = rng.normal(size=(2, 1, 3000)).astype(np.float32)
  logit, fmap = model(jnp.asarray(x))

  with torch.no_grad():
    window = torch.hann_window(200)
    spec = torch.stft(torch.from_numpy(x[:, 0]), 256, 64, 200, window=window, center=False,
                      return_complex=True)  # [B, freqs, frames]
    spec = spec / window.pow(2).sum().sqrt()  # torchaudio's normalized=True
    z = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)  # [B, 2, frames, freqs]
    ref = []
    for i, conv in enumerate(model.convs):
      stride, dil = ((1, 2), (2 ** (i - 1), 1)) if 1 <= i <= 3 else ((1, 1), (1, 1))
      z = torch.nn.functional.leaky_relu(_torch_conv2d(conv, z, stride, dil), 0.2)
      ref.append(z)
    ref_logit = _torch_conv2d(model.conv_post, z)
  for ours, theirs in zip(fmap, ref):
    np.testing.assert_allclose(ours, theirs.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(logit, ref_logit.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-4)
