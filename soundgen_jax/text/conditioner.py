"""Text conditioning shared by the audio LM and SoundStorm: captions -> frozen encoder states.

  cond = TextConditioner(get_config('minilm'))
  hidden, mask = cond(['a dog barks', 'rain on a roof'])   # [B, L, D] float32, [B, L] bool
  null_hidden, null_mask = cond.null(2)                    # classifier-free guidance

Tokenisation runs in Python; the encoder forward is jitted once per batch size and length
bucket (the batch's tokens rounded up to a multiple of 8; the states are padded back to
`max_length`) and is frozen: its output is under `stop_gradient` and its weights are not
part of any trainable module. Padded positions of `hidden` are zero.

The optional `output_dim` projection is the one trainable part. A trainer that learns it holds
`cond.proj` inside its own model and applies it to `cond.encode(texts)`; `__call__` applies the
current `cond.proj` for inference.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import seqio
from flax import nnx

from soundgen_jax.convert import bert as bert_convert
from soundgen_jax.convert import t5 as t5_convert
from soundgen_jax.text import minilm
from soundgen_jax.text import vocab as vocab_lib
from soundgen_jax.training import checkpoints

ENCODERS = ("minilm", "t5", "bert")
_LENGTH_BUCKET = 8  # encoder lengths run: multiples of 8 (one compile each)


def get_config(arg: str = "minilm") -> ml_collections.ConfigDict:
  """Variants: 'minilm' (offline default, bundled weights), 't5', 'bert' (set `checkpoint`)."""
  if arg not in ENCODERS:
    raise ValueError(f"text conditioner variant {arg!r}: use one of {ENCODERS}")
  c = ml_collections.ConfigDict()
  c.encoder = arg  # text encoder architecture: 'minilm', 't5' (also FLAN, ByT5) or 'bert'
  c.checkpoint = ""  # folder written by launch/convert.py; '' = the bundled MiniLM (minilm only)
  c.vocab = ""  # spiece.model (t5), 'byte' (ByT5), tokenizer.json / vocab.txt (bert); '' = next to checkpoint
  c.max_length = 64  # tokens per caption incl. special tokens; longer captions are cut
  c.output_dim = 0  # width of a trainable linear projection of the states; 0 = encoder width
  c.dtype = "float32"  # encoder compute dtype ('bfloat16' on TPU); outputs are float32
  c.seed = 0  # initialises the projection
  return c


def _vocabulary(config: ml_collections.ConfigDict) -> seqio.Vocabulary:
  if config.vocab == "byte":
    return vocab_lib.byte()
  if config.encoder == "minilm" and not config.vocab and not config.checkpoint:
    return minilm.vocabulary()
  candidates = [config.vocab] if config.vocab else [
      os.path.join(config.checkpoint, name) for name in
      (t5_convert.VOCAB_FILES if config.encoder == "t5" else bert_convert.VOCAB_FILES)]
  for path in candidates:
    if os.path.isfile(path):
      return (vocab_lib.sentencepiece(path) if config.encoder == "t5"
              else vocab_lib.WordPieceVocabulary(path))
  raise FileNotFoundError(f"no vocabulary for the {config.encoder} text encoder at "
                          f"{' or '.join(candidates)}; set --config.text.vocab")


def _encoder(config: ml_collections.ConfigDict) -> nnx.Module:
  dtype = jnp.dtype(config.dtype)
  if config.encoder == "minilm" and not config.checkpoint:
    return minilm.load(dtype)
  if not config.checkpoint:
    raise ValueError(f"the {config.encoder} text encoder needs a checkpoint folder: convert one "
                     f"with launch/convert.py {config.encoder} and set --config.text.checkpoint")
  architecture = checkpoints.load_config(config.checkpoint).get("architecture")
  converter = t5_convert if config.encoder == "t5" else bert_convert
  if architecture != converter.ARCHITECTURE:
    raise ValueError(f"{config.checkpoint} holds a {architecture!r} model, not the "
                     f"{config.encoder} encoder ({converter.ARCHITECTURE!r})")
  return converter.load(config.checkpoint, dtype)


@functools.partial(jax.jit, static_argnums=0)
def _frozen_forward(graphdef: nnx.GraphDef, state: nnx.State, ids: jax.Array,
                    mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  hidden, mask = nnx.merge(graphdef, state)(ids, mask)
  return jax.lax.stop_gradient(hidden) * mask[..., None], mask


@nnx.jit
def _project(proj: nnx.Linear, hidden: jax.Array, mask: jax.Array) -> jax.Array:
  return proj(hidden) * mask[..., None]


class TextConditioner:
  """Captions -> (hidden [B, max_length, dim], mask [B, max_length]) from a frozen encoder."""

  def __init__(self, config: ml_collections.ConfigDict):
    if config.encoder not in ENCODERS:
      raise ValueError(f"text encoder {config.encoder!r}: use one of {ENCODERS}")
    self.config = config
    self.max_length = config.max_length
    encoder = _encoder(config)
    cfg = encoder.config
    self._vocab_size_limit = cfg.vocab_size
    self._vocab = None
    self.encoder_dim = cfg.d_model if config.encoder == "t5" else cfg.hidden_size
    limit = getattr(cfg, "max_position_embeddings", None)
    if limit is not None and self.max_length > limit:
      raise ValueError(f"max_length {self.max_length} > {limit} positions of the text encoder")
    self._graphdef, self._state = nnx.split(encoder)
    self.proj = None
    if config.output_dim:
      self.proj = nnx.Linear(
          self.encoder_dim, config.output_dim, rngs=nnx.Rngs(config.seed),
          kernel_init=nnx.with_partitioning(nnx.initializers.lecun_normal(), ("embed", "mlp")),
          bias_init=nnx.with_partitioning(nnx.initializers.zeros_init(), ("mlp",)))
    self.dim = config.output_dim or self.encoder_dim

  @property
  def vocab(self) -> seqio.Vocabulary:
    """Read on first use: states of pre-tokenised text (encode_ids) need no vocabulary."""
    if self._vocab is None:
      vocab = _vocabulary(self.config)
      if vocab.vocab_size > self._vocab_size_limit:
        raise ValueError(f"vocabulary of {vocab.vocab_size} ids does not fit the encoder's "
                         f"{self._vocab_size_limit} embeddings; wrong vocab for this checkpoint?")
      self._vocab = vocab
    return self._vocab

  def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ids [B, max_length] int32, mask [B, max_length] bool), in Python."""
    return vocab_lib.encode_batch(self.vocab, list(texts), self.max_length)

  def encode_ids(self, ids: Any, mask: Any) -> tuple[jax.Array, jax.Array]:
    """Frozen encoder states of pre-tokenised text (e.g. from a seqio pipeline), no projection.

    The encoder runs on the batch's tokens rounded up to a multiple of 8 (captions are mostly
    far shorter than max_length: a third of the cost at 9 of 32 tokens); the states come back
    zero-padded to the input's length, so callers see one shape.
    """
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
    length = ids.shape[1]
    used = int(mask.any(0).nonzero()[0].max()) + 1 if mask.any() else 1
    run = min(length, -(-used // _LENGTH_BUCKET) * _LENGTH_BUCKET)
    hidden, _ = _frozen_forward(self._graphdef, self._state, jnp.asarray(ids[:, :run]),
                                jnp.asarray(mask[:, :run]))
    if run < length:
      hidden = jnp.pad(hidden, ((0, 0), (0, length - run), (0, 0)))
    return hidden, jnp.asarray(mask)

  def encode(self, texts: Sequence[str]) -> tuple[jax.Array, jax.Array]:
    """Frozen encoder states [B, L, encoder_dim] of captions, no projection."""
    return self.encode_ids(*self.tokenize(texts))

  def __call__(self, texts: Sequence[str]) -> tuple[jax.Array, jax.Array]:
    hidden, mask = self.encode(texts)
    return (hidden if self.proj is None else _project(self.proj, hidden, mask)), mask

  def null(self, batch: int) -> tuple[jax.Array, jax.Array]:
    """The unconditional input for classifier-free guidance (train-time dropout and sampling).

    Zeros with an all-false mask rather than the encoding of '': cross-attention then sees no
    text at all, exactly what AudioCraft's nullified condition gives, with no encoder call.
    A consumer's cross-attention must keep a fully masked row finite (a large negative logit,
    not -inf), as `text.layers.attention` does.
    """
    return (jnp.zeros((batch, self.max_length, self.dim), jnp.float32),
            jnp.zeros((batch, self.max_length), bool))
