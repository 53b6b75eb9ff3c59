"""Vocabularies: round trips of captions, padding to length, the TF forms, bad SPM layouts."""
import numpy as np
import pytest
import sentencepiece as spm
import tensorflow as tf

from soundgen_jax.text import minilm
from soundgen_jax.text import vocab as vocab_lib

CAPTION = "A dog barks twice, then a door slams shut."
CAPTIONS = [
    "a dog barks twice then a door slams shut",
    "rain falls on a tin roof and thunder rumbles",
    "a man speaks while birds chirp in the background",
    "upbeat electronic music with a heavy bass line",
    "a car engine revs and tires screech on the road",
] * 20


def _train_spm(tmp_path, **ids):
  prefix = str(tmp_path / "spm")
  spm.SentencePieceTrainer.train(sentence_iterator=iter(CAPTIONS), model_prefix=prefix,
                                 vocab_size=60, character_coverage=1.0, hard_vocab_limit=False,
                                 minloglevel=2, **ids)
  return prefix + ".model"


def test_wordpiece_round_trip_and_batch():
  vocab = minilm.vocabulary()
  ids = vocab.encode(CAPTION)
  assert vocab.decode(ids) == CAPTION.lower()  # uncased model
  assert vocab.bos_id not in ids and vocab.eos_id not in ids
  batch, mask = vocab_lib.encode_batch(vocab, [CAPTION, "rain"], 16)
  assert batch.shape == mask.shape == (2, 16) and batch.dtype == np.int32
  assert list(batch[0, :len(ids) + 2]) == [vocab.bos_id] + list(ids) + [vocab.eos_id]
  assert mask[1].sum() == 3 and (batch[1, 3:] == 0).all()
  assert vocab.decode(batch[0]) == CAPTION.lower()  # decoding stops at [SEP], drops [CLS]
  # Too long: cut before [SEP], which stays last.
  short, short_mask = vocab_lib.encode_batch(vocab, [CAPTION], 5)
  assert short_mask.all() and short[0, 0] == vocab.bos_id and short[0, -1] == vocab.eos_id
  np.testing.assert_array_equal(short[0, 1:4], ids[:3])


def test_wordpiece_tf_forms_match_python():
  vocab = minilm.vocabulary()
  np.testing.assert_array_equal(vocab.encode_tf(tf.constant(CAPTION)).numpy(), vocab.encode(CAPTION))
  # Inside a tf.data graph, as a seqio task's tokenizer runs it.
  ds = tf.data.Dataset.from_tensor_slices([CAPTION, "rain"]).map(vocab.encode_tf)
  assert [list(x) for x in ds.as_numpy_iterator()] == [vocab.encode(CAPTION), vocab.encode("rain")]
  batch, _ = vocab_lib.encode_batch(vocab, [CAPTION, "rain"], 16)
  decoded = vocab.decode_tf(tf.constant(batch)).numpy()
  assert [d.decode() for d in decoded] == [CAPTION.lower(), "rain"]


def test_byte_round_trip():
  vocab = vocab_lib.byte()
  text = "Café ambience — cups clink"
  assert vocab.decode(vocab.encode(text)) == text
  batch, mask = vocab_lib.encode_batch(vocab, [text], 64)
  assert mask.sum() == len(text.encode("utf-8")) + 1 and batch[0, mask.sum() - 1] == vocab.eos_id
  assert vocab.decode(batch[0]) == text


def test_sentencepiece_round_trip(tmp_path):
  path = _train_spm(tmp_path, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
  vocab = vocab_lib.sentencepiece(path)
  caption = CAPTIONS[2]
  assert vocab.decode(vocab.encode(caption)) == caption
  batch, mask = vocab_lib.encode_batch(vocab, [caption, ""], 32)
  assert vocab.decode(batch[0]) == caption
  assert mask[1].sum() == 1 and batch[1, 0] == 1  # an empty caption is just EOS


def test_sentencepiece_with_default_ids_is_refused(tmp_path):
  path = _train_spm(tmp_path)  # sentencepiece's defaults: unk=0, bos=1, eos=2, no pad
  with pytest.raises(ValueError, match="pad_id=0 eos_id=1"):
    vocab_lib.sentencepiece(path)
  with pytest.raises(FileNotFoundError, match="no such SentencePiece model"):
    vocab_lib.sentencepiece(str(tmp_path / "missing.model"))
