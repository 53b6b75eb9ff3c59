"""Train a SentencePiece model on the captions of a corpus (T5's id layout, for seqio).

  python launch/train_spm.py --task debian --vocab_size 2000 --out data/spm/debian
  python launch/train_spm.py --task synthetic --vocab_size 200 --out data/spm/synthetic
  python launch/train_spm.py --task manifest --manifest my.jsonl --vocab_size 4000 --out M

Writes MODEL_PREFIX.model and .vocab; read it with
`soundgen_jax.text.vocab.sentencepiece("MODEL_PREFIX.model")` (a seqio.SentencePieceVocabulary):
0 = pad, 1 = eos, 2 = unk, no bos. Captions come from the train split only; the synthetic corpus
contributes --max_captions of its captions.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundgen_jax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--task", default="synthetic", help="corpus: synthetic, debian, files, "
                 "manifest, codes, or a task name (default: %(default)s)")
  p.add_argument("--vocab_size", type=int, required=True)
  p.add_argument("--out", required=True, help="model prefix (writes PREFIX.model / .vocab)")
  p.add_argument("--model_type", default="unigram", choices=("unigram", "bpe", "word", "char"))
  p.add_argument("--max_captions", type=int, default=20000, help="at most this many captions")
  p.add_argument("--path", default="")
  p.add_argument("--glob", default="")
  p.add_argument("--manifest", default="")
  p.add_argument("--data_dir", default="data/debian")
  p.add_argument("--codes_dir", default="")
  return p.parse_args(argv)


def corpus_captions(config: dict, limit: int) -> list[str]:
  """Up to `limit` usable captions of the train split of the corpus `config` describes."""
  from soundgen_jax.data import sources  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data import tasks  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import manifest as mf  # pylint: disable=g-import-not-at-top
  from soundgen_jax.data.corpora import synthetic  # pylint: disable=g-import-not-at-top
  task = tasks.task_for(config)
  if tasks.view_of(task) == tasks.TEXT_CODES:
    ds = task.source.get_dataset("train", shuffle=False).take(limit)
    raw = [ex["caption"].decode("utf-8", "replace") for ex in ds.as_numpy_iterator()]
  else:
    clips = task.source.clips
    if isinstance(clips, sources.SyntheticSource):
      # Captions do not depend on rate or length: render small clips to read them.
      corpus = synthetic.SyntheticCorpus(8000, 1.0, seed=clips.corpus.seed)
      raw = [corpus.example("train", i)["caption"] for i in range(limit)]
    else:
      raw = [e.caption for e in clips.entries["train"][:limit]]
  return [c.strip() for c in raw if mf.check_caption(c) is None]


def main(argv=None):
  args = parse(argv)
  if args.vocab_size < 4:
    raise cli.UserError(f"--vocab_size {args.vocab_size}: use at least 4 (pad, eos, unk and "
                        "one piece)")
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  from soundgen_jax.text import vocab  # pylint: disable=g-import-not-at-top
  config = dict(task=args.task, path=args.path, glob=args.glob, manifest=args.manifest,
                data_dir=args.data_dir, codes_dir=args.codes_dir)
  try:
    captions = corpus_captions(config, args.max_captions)
  except ValueError as e:
    raise cli.UserError(str(e)) from None
  if not captions:
    raise cli.UserError(f"--task {args.task}: no usable captions in its train split")
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  try:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(captions), model_prefix=args.out, vocab_size=args.vocab_size,
        model_type=args.model_type, character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2,
        bos_id=-1, hard_vocab_limit=False, minloglevel=2)
  except RuntimeError as e:
    raise cli.UserError(f"sentencepiece: {str(e).strip().splitlines()[-1]}") from None
  model = vocab.sentencepiece(args.out + ".model")
  sample = captions[0]
  pieces = model.tokenizer.encode_as_pieces(sample)
  print(f"trained on {len(captions)} captions: {args.out}.model, {model.vocab_size} pieces "
        f"(asked {args.vocab_size})")
  print(f'example: "{sample}" -> {pieces}')
  return 0


if __name__ == "__main__":
  cli.run(main)
