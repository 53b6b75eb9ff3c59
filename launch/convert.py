"""Official checkpoints -> soundgen_jax orbax checkpoints.

  python launch/convert.py encodec --from HF_DIR --to OUT
  python launch/convert.py t5 --from HF_DIR --to OUT
  python launch/convert.py musicgen --from HF_DIR --to OUT
  python launch/convert.py audiocraft --from DIR --text-encoder T5_DIR --to OUT

HF_DIR is a Hugging Face `save_pretrained` folder (config.json + model.safetensors or
pytorch_model.bin). OUT gets config.json and an orbax checkpoint, loadable with `--checkpoint`
(musicgen / audiocraft: a model folder for generation). audiocraft's DIR holds its export,
state_dict.bin + compression_state_dict.bin (e.g. AudioGen-medium); it has no text encoder, so
T5_DIR is the Hugging Face T5 folder it was trained with (t5-base MusicGen, t5-large AudioGen).
"""
import argparse
import importlib

from soundgen_jax import cli

# name -> module with `convert(src_dir, out_dir)`.
CONVERTERS = {
    "encodec": "soundgen_jax.convert.encodec",
    "t5": "soundgen_jax.convert.t5",
    "bert": "soundgen_jax.convert.bert",
    "musicgen": "soundgen_jax.convert.musicgen",
    "audiocraft": "soundgen_jax.convert.audiocraft",  # convert(src, out, text_encoder_dir)
}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("kind", choices=sorted(CONVERTERS), help="what the checkpoint holds")
  parser.add_argument("--from", dest="src", required=True,
                      help="checkpoint folder (Hugging Face, or audiocraft's export)")
  parser.add_argument("--to", dest="out", required=True, help="output folder")
  parser.add_argument("--text-encoder", dest="text_encoder",
                      help="audiocraft only: the Hugging Face T5 folder (ignored otherwise)")
  args = parser.parse_args()
  module = importlib.import_module(CONVERTERS[args.kind])
  if args.kind == "audiocraft":
    module.convert(args.src, args.out, args.text_encoder)
  else:
    module.convert(args.src, args.out)
  print(f"wrote {args.kind} checkpoint to {args.out}")


if __name__ == "__main__":
  cli.run(main)
