"""Converted `transformers` MusicGen (random weights, mono and stereo) gives the reference's
per-step logits with classifier-free guidance, and its greedy generation token for token."""
import numpy as np
import pytest
import torch
import jax
import jax.numpy as jnp

from soundgen_jax.convert import musicgen as musicgen_convert
from soundgen_jax.lm import pretrained
from musicgen_reference import random_musicgen, text_batch

CFG = 3.0


@pytest.fixture(scope="module", params=[1, 2], ids=["mono", "stereo"])
def converted(request, tmp_path_factory):
  root = tmp_path_factory.mktemp(f"musicgen{request.param}")
  ref = random_musicgen(root / "hf", channels=request.param)
  musicgen_convert.convert(str(root / "hf"), str(root / "ours"))
  return ref, pretrained.load(str(root / "ours"))


def _text_states(ref, ours, ids, mask):
  with torch.no_grad():
    hidden = ref.text_encoder(input_ids=torch.from_numpy(ids),
                              attention_mask=torch.from_numpy(mask)).last_hidden_state
  states, m = ours.conditioner.encode_ids(ids, mask)
  return hidden, np.asarray(states), np.asarray(m)


def test_text_encoder_and_delays(converted):
  ref, ours = converted
  ids, mask = text_batch()
  hidden, states, _ = _text_states(ref, ours, ids, mask)
  err = np.abs(states - hidden.numpy() * mask[..., None]).max()
  assert err < 1e-5, err
  k = ref.decoder.num_codebooks
  assert ours.pattern.delays == tuple(range(k)) if k == 4 else \
      ours.pattern.delays == (0, 0, 1, 1, 2, 2, 3, 3)


def test_cfg_logits_match(converted):
  ref, ours = converted
  ids, mask = text_batch()
  b, k, steps = ids.shape[0], ref.decoder.num_codebooks, 9
  rng = np.random.default_rng(1)
  seq = rng.integers(0, 32, (b, k, steps))
  seq[:, :, 0] = 32
  with torch.no_grad():
    hidden = ref.text_encoder(input_ids=torch.from_numpy(ids),
                              attention_mask=torch.from_numpy(mask)).last_hidden_state
    both = torch.cat([hidden, torch.zeros_like(hidden)])
    both_mask = torch.cat([torch.from_numpy(mask), torch.zeros_like(torch.from_numpy(mask))])
    out = ref(encoder_outputs=(both,), attention_mask=both_mask,
              decoder_input_ids=torch.from_numpy(np.concatenate([seq, seq])).reshape(2 * b * k, -1))
    logits = out.logits.reshape(2, b, k, steps, -1)
    want = (logits[1] + CFG * (logits[0] - logits[1])).numpy()
  states, smask = ours.conditioner.encode_ids(ids, mask)
  null = jnp.zeros_like(states)
  got = ours.lm(jnp.asarray(np.concatenate([seq, seq])), jnp.concatenate([states, null]),
                jnp.concatenate([smask, jnp.zeros_like(smask)]))
  got = np.asarray(got[b:] + CFG * (got[:b] - got[b:]))
  err = np.abs(got - want).max() / np.abs(want).max()
  print(f"CFG logits: max error / largest logit {err:.2e}")
  assert err < 1e-4, err


def _reference_greedy_codes(ref, ids, mask, new_tokens):
  """Codes [B, K, T] of `generate(do_sample=False, guidance_scale=3)` (caught on their way into
  the audio decoder; stereo: left / right interleaved back)."""
  caught = []
  decode = ref.audio_encoder.decode

  def spy(codes, *args, **kwargs):
    caught.append(codes[0].numpy())
    return decode(codes, *args, **kwargs)

  ref.audio_encoder.decode = spy
  try:
    with torch.no_grad():
      ref.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                   do_sample=False, guidance_scale=CFG, max_new_tokens=new_tokens)
  finally:
    ref.audio_encoder.decode = decode
  if len(caught) == 1:
    return caught[0]
  left, right = caught
  out = np.empty((left.shape[0], 2 * left.shape[1], left.shape[2]), left.dtype)
  out[:, ::2], out[:, 1::2] = left, right
  return out


def test_greedy_generation_matches_transformers(converted):
  from soundgen_jax.lm import sampling
  ref, ours = converted
  ids, mask = text_batch()
  k = ref.decoder.num_codebooks
  want = _reference_greedy_codes(ref, ids, mask, 60)
  frames = want.shape[-1]
  assert frames >= 50
  states, smask = ours.conditioner.encode_ids(ids, mask)
  got = sampling.generate(ours.lm, ours.pattern, num_frames=frames, text=states,
                          text_mask=smask, key=jax.random.key(0),
                          sampling=sampling.Sampling(use_sampling=False, cfg_coef=CFG))
  got = np.asarray(got)
  assert got.shape == want.shape == (2, k, frames)
  agree = float(np.mean(got == want))
  print(f"greedy: {frames} frames x {k} codebooks, {100 * agree:.2f}% of tokens identical")
  np.testing.assert_array_equal(got, want)
  # One prompt: CFG's batch is 2 rows, so every weight product goes through the two-row kernel
  # (tests/nn/test_cpu_kernels.py).
  one = sampling.generate(ours.lm, ours.pattern, num_frames=frames, text=states[:1],
                          text_mask=smask[:1], key=jax.random.key(0),
                          sampling=sampling.Sampling(use_sampling=False, cfg_coef=CFG))
  np.testing.assert_array_equal(np.asarray(one), want[:1])
