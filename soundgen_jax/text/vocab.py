"""Vocabularies of the text encoders, all as seqio vocabularies, and batch padding.

  sentencepiece(path)        T5 / FLAN / a caption-trained SentencePiece model
  byte()                     ByT5's UTF-8 bytes
  WordPieceVocabulary(path)  BERT / MiniLM, from tokenizer.json (or vocab.txt)
  encode_batch(vocab, texts, max_length) -> (ids [B, L] int32, mask [B, L] bool)

Every one reserves id 0 for padding (seqio's PAD_ID), so the same data pipeline and the same
mask rule (`ids != 0`) serve all encoders.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import seqio
import tensorflow as tf
import tokenizers


def sentencepiece(path: str, extra_ids: int = 0) -> seqio.SentencePieceVocabulary:
  """A SentencePiece model in T5's id layout: 0 = pad, 1 = eos (appended), 2 = unk."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such SentencePiece model; pass the spiece.model of the "
                            "checkpoint (launch/convert.py copies it next to the weights)")
  vocab = seqio.SentencePieceVocabulary(path, extra_ids=extra_ids)
  if vocab.tokenizer.pad_id() != 0 or vocab.eos_id != 1:
    raise ValueError(f"{path}: pad id {vocab.tokenizer.pad_id()}, eos id {vocab.eos_id}; "
                     "train it with pad_id=0 eos_id=1 unk_id=2 bos_id=-1 (T5's layout)")
  return vocab


def byte(extra_ids: int = 0) -> seqio.ByteVocabulary:
  """UTF-8 bytes + 3 (0 = pad, 1 = eos, 2 = unk), as ByT5 reads text."""
  return seqio.ByteVocabulary(extra_ids=extra_ids)


class WordPieceVocabulary(seqio.Vocabulary):
  """BERT's WordPiece (via the `tokenizers` package) behind seqio's vocabulary interface.

  `encode` gives the word pieces without [CLS]/[SEP] (seqio's encode adds no EOS either);
  `encode_batch` adds them. [SEP] plays seqio's EOS, [CLS] its BOS, [PAD] must be id 0.
  """

  def __init__(self, path: str, lowercase: bool = True):
    """`path`: tokenizer.json, or a vocab.txt (then `lowercase` says if the model is uncased)."""
    if not os.path.isfile(path):
      raise FileNotFoundError(f"{path}: no such tokenizer file; pass tokenizer.json or vocab.txt")
    self.path = path
    if path.endswith(".json"):
      self.tokenizer = tokenizers.Tokenizer.from_file(path)
    else:
      self.tokenizer = tokenizers.BertWordPieceTokenizer(path, lowercase=lowercase)
    self.tokenizer.no_truncation()  # encode_batch truncates and pads, keeping [SEP]
    self.tokenizer.no_padding()
    ids = {t: self.tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[UNK]")}
    if None in ids.values() or ids["[PAD]"] != seqio.vocabularies.PAD_ID:
      raise ValueError(f"{path}: not a BERT WordPiece vocabulary with [PAD] = 0 ({ids})")
    self._cls, self._sep, self._unk = ids["[CLS]"], ids["[SEP]"], ids["[UNK]"]
    super().__init__(extra_ids=0)

  @property
  def bos_id(self) -> int:
    return self._cls

  @property
  def eos_id(self) -> int:
    return self._sep

  @property
  def unk_id(self) -> int:
    return self._unk

  @property
  def _base_vocab_size(self) -> int:
    return self.tokenizer.get_vocab_size()

  def _encode(self, s: str) -> list[int]:
    return self.tokenizer.encode(s, add_special_tokens=False).ids

  def _decode(self, ids: Sequence[int]) -> str:
    return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

  # The TF forms run the same Rust tokenizer inside the graph (not serialisable, exact).
  def _encode_tf(self, s: tf.Tensor) -> tf.Tensor:
    def encode(b):  # bytes in a graph, a 0-d object array when eager
      b = b.item() if isinstance(b, np.ndarray) else b
      return np.asarray(self._encode(b.decode("utf-8")), np.int32)
    ids = tf.numpy_function(encode, [s], tf.int32, stateful=False)
    return tf.ensure_shape(ids, [None])

  def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
    def decode(rows):
      flat = rows.reshape(-1, rows.shape[-1]) if rows.ndim else rows.reshape(1, 1)
      out = [self._decode([i for i in r if i != self.pad_id]).encode("utf-8") for r in flat]
      return np.asarray(out, object).reshape(rows.shape[:-1])
    return tf.ensure_shape(tf.numpy_function(decode, [ids], tf.string, stateful=False),
                           ids.shape[:-1])

  def __eq__(self, other) -> bool:
    return isinstance(other, WordPieceVocabulary) and other.tokenizer.to_str() == \
        self.tokenizer.to_str()

  def __hash__(self) -> int:
    return hash(self.tokenizer.to_str())


def encode_batch(vocab: seqio.Vocabulary, texts: Sequence[str], max_length: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Texts -> (ids [B, max_length] int32, mask [B, max_length] bool), right-padded with 0.

  Adds what each encoder was trained with: EOS after the text (T5, ByT5), [CLS] ... [SEP]
  around it (BERT). Too long texts are cut before the end marker, so it is always there.
  """
  prefix = [vocab.bos_id] if isinstance(vocab, WordPieceVocabulary) else []
  room = max_length - len(prefix) - 1
  if room < 1:
    raise ValueError(f"max_length {max_length} leaves no room for text")
  ids = np.full((len(texts), max_length), vocab.pad_id, np.int32)
  mask = np.zeros((len(texts), max_length), bool)
  for row, text in enumerate(texts):
    tokens = prefix + list(vocab.encode(text))[:room] + [vocab.eos_id]
    ids[row, :len(tokens)] = tokens
    mask[row, :len(tokens)] = True
  return ids, mask
