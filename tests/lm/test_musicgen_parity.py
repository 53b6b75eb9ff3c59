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
