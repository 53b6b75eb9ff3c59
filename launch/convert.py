"""Official checkpoints -> soundgen_jax orbax checkpoints.

  python launch/convert.py encodec --from HF_DIR --to OUT
  python launch/convert.py t5 --from HF_DIR --to OUT

HF_DIR is a Hugging Face `save_pretrained` folder (config.json + model.safetensors or
pytorch_model.bin). OUT gets config.json and an orbax checkpoint, loadable with `--checkpoint`.
"""
import argparse
import importlib

from soundgen_jax import cli

# name -> module with `convert(src_dir, out_dir)`.
CONVERTERS = {
    "encodec": "soundgen_jax.convert.encodec",
    "t5": "soundgen_jax.convert.t5",
    "bert": "soundgen_jax.convert.bert",
}


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("kind", choices=sorted(CONVERTERS), help="what the checkpoint holds")
  parser.add_argument("--from", dest="src", required=True, help="Hugging Face folder")
  parser.add_argument("--to", dest="out", required=True, help="output folder")
  args = parser.parse_args()
  module = importlib.import_module(CONVERTERS[args.kind])
  module.convert(args.src, args.out)
  print(f"wrote {args.kind} checkpoint to {args.out}")


if __name__ == "__main__":
  cli.run(main)
