"""TextConditioner: shapes, masks, the null condition, frozen encoder, T5 end to end."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sentencepiece as spm
import torch
import transformers

from soundgen_jax.convert import t5 as t5_convert
from soundgen_jax.text import conditioner as cond_lib

CAPTIONS = ["a dog barks twice",
            "heavy rain falls on a tin roof while thunder rumbles far away and a dog whimpers"]


@pytest.fixture(scope="module")
def minilm_conditioner():
  config = cond_lib.get_config("minilm")
  config.max_length = 16
  return cond_lib.TextConditioner(config)


def test_minilm_shapes_masks_and_null(minilm_conditioner):
  cond = minilm_conditioner
  hidden, mask = cond(CAPTIONS)
  assert hidden.shape == (2, 16, 384) and hidden.dtype == jnp.float32 and cond.dim == 384
  ids, want_mask = cond.tokenize(CAPTIONS)
  np.testing.assert_array_equal(np.asarray(mask), want_mask)
  assert want_mask[0].sum() == 7 and want_mask[1].all()  # [CLS] a dog bark ##s twice [SEP]
  hidden = np.asarray(hidden)
  assert (hidden[~want_mask] == 0).all() and (np.abs(hidden[want_mask]).sum(-1) > 0).all()
  # Padding does not leak into real tokens: the short caption alone gives the same states.
  alone, _ = cond(CAPTIONS[:1])
  assert np.abs(np.asarray(alone)[0] - hidden[0]).max() < 1e-5

  null_hidden, null_mask = cond.null(3)
  assert null_hidden.shape == (3, 16, 384) and null_mask.shape == (3, 16)
  assert not np.asarray(null_mask).any() and not np.asarray(null_hidden).any()
  # Conditioned and null halves stack into one CFG batch.
  assert jnp.concatenate([hidden, null_hidden[:2]]).shape == (4, 16, 384)


def test_output_projection():
  config = cond_lib.get_config("minilm")
  config.max_length = 16  # as the fixture: the jitted encoder is reused
  config.output_dim = 8
  cond = cond_lib.TextConditioner(config)
  hidden, mask = cond(CAPTIONS)
  assert hidden.shape == (2, 16, 8) and cond.dim == 8 and cond.encoder_dim == 384
  assert not np.asarray(hidden)[~np.asarray(mask)].any()
  assert cond.proj.kernel.get_metadata()["out_sharding"] == ("embed", "mlp")
  assert cond.null(1)[0].shape == (1, 16, 8)


def test_t5_end_to_end(tmp_path):
  # A caption-trained SentencePiece (T5's id layout) and a random T5 sharing it.
  src = tmp_path / "hf"
  src.mkdir()
  corpus = [c for c in CAPTIONS for _ in range(30)] + ["birds chirp and a man speaks"] * 30
  spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=str(src / "spiece"),
                                 vocab_size=40, hard_vocab_limit=False, minloglevel=2,
                                 pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
  torch.manual_seed(0)
  config = transformers.T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=2,
                                 num_heads=4, feed_forward_proj="gated-gelu")
  reference = transformers.T5EncoderModel(config).eval()
  reference.save_pretrained(src)
  t5_convert.convert(str(src), str(tmp_path / "t5"))

  config = cond_lib.get_config("t5")
  config.checkpoint = str(tmp_path / "t5")  # spiece.model was copied there by the converter
  config.max_length = 20
  cond = cond_lib.TextConditioner(config)
  hidden, mask = cond(CAPTIONS)
  ids, want_mask = cond.tokenize(CAPTIONS)
  assert hidden.shape == (2, 20, 16)
  assert (ids[np.arange(2), want_mask.sum(1) - 1] == 1).all()  # each caption ends with EOS
  with torch.no_grad():
    want = reference(input_ids=torch.tensor(ids, dtype=torch.long),
                     attention_mask=torch.tensor(want_mask, dtype=torch.long)
                     ).last_hidden_state.numpy()
  assert np.abs(np.asarray(hidden) - want * want_mask[..., None]).max() < 1e-4

  # Frozen: no gradient reaches the encoder's weights through the conditioner.
  grads = jax.grad(lambda state: cond_lib._frozen_forward(  # pylint: disable=protected-access
      cond._graphdef, state, ids, want_mask)[0].sum())(cond._state)  # pylint: disable=protected-access
  assert jax.tree.leaves(grads) and all(not np.asarray(g).any() for g in jax.tree.leaves(grads))


def test_config_errors():
  with pytest.raises(ValueError, match="needs a checkpoint folder"):
    cond_lib.TextConditioner(cond_lib.get_config("t5"))
  with pytest.raises(ValueError, match="use one of"):
    cond_lib.get_config("clap")
