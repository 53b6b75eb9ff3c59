"""BERT / MiniLM encoder vs transformers.BertModel: random weights, and the real MiniLM."""
import os

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from soundgen_jax.convert import bert as bert_convert
from soundgen_jax.convert.common import ConversionError
from soundgen_jax.text import minilm
from soundgen_jax.text import vocab as vocab_lib
from soundgen_jax.text.bert import mean_pool

CAPTIONS = [
    "A dog barks repeatedly in the distance while cars pass by.",
    "Rain falls on a tin roof; thunder rumbles far away.",
    "Upbeat electronic music with a heavy bass line and claps",
    "",
]


def _hf_bert(path):
  torch.manual_seed(0)
  config = transformers.BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=80,
                                   max_position_embeddings=40)
  model = transformers.BertModel(config).eval()
  with torch.no_grad():
    for p in model.parameters():
      p.normal_(0.0, 0.2)
  model.save_pretrained(path)
  return str(path), model


def test_random_bert_parity(tmp_path):
  src, reference = _hf_bert(tmp_path / "hf")
  rng = np.random.RandomState(0)
  ids = rng.randint(1, 99, (2, 33))
  mask = np.ones((2, 33), bool)
  mask[1, 17:] = False
  ids[~mask] = 0
  with torch.no_grad():
    want = reference(input_ids=torch.tensor(ids),
                     attention_mask=torch.tensor(mask.astype(np.int64))).last_hidden_state.numpy()
  bert_convert.convert(src, str(tmp_path / "ours"))
  got, _ = bert_convert.load(str(tmp_path / "ours"))(jnp.asarray(ids), jnp.asarray(mask))
  assert np.abs(np.asarray(got) - want)[mask].max() < 1e-4

  # The same weights from a PyTorch pickle, with a BertFor* `bert.` prefix and a pooler.
  tensors = load_file(os.path.join(src, "model.safetensors"))
  os.remove(os.path.join(src, "model.safetensors"))
  torch.save({"bert." + k: torch.from_numpy(v) for k, v in tensors.items()},
             os.path.join(src, "pytorch_model.bin"))
  got_bin, _ = bert_convert.from_hf(src)[0](jnp.asarray(ids), jnp.asarray(mask))
  np.testing.assert_array_equal(np.asarray(got_bin), np.asarray(got))


def test_bfloat16_checkpoint_reads_as_float32(tmp_path):
  src, reference = _hf_bert(tmp_path / "hf")
  from safetensors.torch import save_file as save_torch  # pylint: disable=g-import-not-at-top
  save_torch({k: v.to(torch.bfloat16).contiguous() for k, v in reference.state_dict().items()},
             os.path.join(src, "model.safetensors"))
  model, _ = bert_convert.from_hf(src)
  want = reference.embeddings.word_embeddings.weight.detach().to(torch.bfloat16).float().numpy()
  assert model.word_embed[...].dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(model.word_embed[...]), want)


def test_converter_errors_name_the_tensor(tmp_path):
  src, _ = _hf_bert(tmp_path / "hf")
  path = os.path.join(src, "model.safetensors")
  tensors = load_file(path)
  save_file({**tensors, "encoder.layer.1.adapter.weight": np.zeros(3, np.float32)}, path)
  with pytest.raises(ConversionError, match="unknown tensor encoder.layer.1.adapter.weight"):
    bert_convert.from_hf(src)
  del tensors["encoder.layer.1.attention.self.key.bias"]
  save_file(tensors, path)
  with pytest.raises(ConversionError, match="missing tensor encoder.layer.1.attention.self.key.bias"):
    bert_convert.from_hf(src)


@pytest.fixture(scope="module")
def minilm_reference():
  return transformers.BertModel.from_pretrained(minilm.package_dir()).eval()


def test_minilm_real_weights_parity(minilm_reference):
  vocab = minilm.vocabulary()
  ids, mask = vocab_lib.encode_batch(vocab, CAPTIONS, 24)
  # Our tokenisation is the reference tokenizer's, padding and truncation included.
  tokenizer = transformers.AutoTokenizer.from_pretrained(minilm.package_dir())
  want_ids = tokenizer(CAPTIONS, padding="max_length", truncation=True, max_length=24,
                       return_tensors="np")
  np.testing.assert_array_equal(ids, want_ids["input_ids"])
  np.testing.assert_array_equal(mask, want_ids["attention_mask"].astype(bool))

  with torch.no_grad():
    want = minilm_reference(input_ids=torch.tensor(ids, dtype=torch.long),
                            attention_mask=torch.tensor(mask, dtype=torch.long)
                            ).last_hidden_state.numpy()
  model = minilm.load()
  got, _ = model(jnp.asarray(ids), jnp.asarray(mask))
  assert got.shape == (4, 24, 384)
  assert np.abs(np.asarray(got) - want)[mask].max() < 1e-4

  # Sentence embeddings as sentence-transformers pools them: the mean over real tokens.
  pooled = (want * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  assert np.abs(np.asarray(mean_pool(got, jnp.asarray(mask))) - pooled).max() < 1e-4
