"""Text (and an optional audio prompt) -> audio files, with a model folder (lm/pretrained.py).

  python launch/generate.py --model DIR --text "a dog barks" --text "rain on a roof"
  python launch/generate.py --model DIR --text-file prompts.txt --duration 10 --out OUT
  python launch/generate.py --model DIR --text "more of this" --prompt-audio start.wav
  python launch/generate.py --model DIR --unconditional 4 --greedy

Writes one 32-bit float WAV per prompt (OUT/000_a_dog_barks.wav: index + a slug of the text),
with --save-codes the LM's codes next to it (.npz: `codes` int32 [codebooks, frames]), and
OUT/generation.json: the settings, the model folder, and per prompt its files, seconds,
tokens/s and real-time factor (RTF = wall seconds / audio seconds; < 1 is faster than real
time). --text-file holds one prompt per non-empty line. With --prompt-audio every prompt
continues that recording, which the output starts with (re-decoded from its codes).
A duration longer than the model's window (max_duration) is generated in sliding windows.
"""
import os
import sys

# This folder off sys.path (launch/tokenize.py would shadow the standard library's tokenize);
# the repo root on it, for `configs`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import json
import re
import time

import numpy as np

from soundgen_jax import audio as audio_io
from soundgen_jax import cli

CONFIG_FILE = "config.json"


def read_prompts(args) -> list[str | None]:
  """The texts to generate, in order: every --text, then the lines of --text-file; or
  --unconditional N null conditions."""
  texts = []
  for t in args.text or []:
    if not t.strip():
      raise cli.UserError("--text is empty; give a description, e.g. --text 'a dog barks'")
    texts.append(t.strip())
  if args.text_file:
    try:
      with open(args.text_file, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
      reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
      raise cli.UserError(f"--text-file {args.text_file}: cannot read it ({reason})") from None
    lines = [line for line in lines if line]
    if not lines:
      raise cli.UserError(f"--text-file {args.text_file}: no prompt in it (one per line)")
    texts += lines
  if args.unconditional is not None:
    if texts:
      raise cli.UserError("--unconditional generates without text; drop --text / --text-file")
    if args.unconditional < 1:
      raise cli.UserError(f"--unconditional N needs N >= 1, got {args.unconditional}")
    return [None] * args.unconditional
  if not texts:
    raise cli.UserError("no prompt: give --text 'a dog barks' (several allowed), --text-file "
                        "FILE (one per line) or --unconditional N")
  return texts


def slug(text: str | None, limit: int = 40) -> str:
  if text is None:
    return "unconditional"
  s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].rstrip("_")
  return s or "prompt"


def check_args(args) -> None:
  if not args.duration > 0:
    raise cli.UserError(f"--duration must be > 0 seconds, got {args.duration}")
  if args.batch_size < 1:
    raise cli.UserError(f"--batch-size must be >= 1, got {args.batch_size}")


def load_prompt_audio(path: str, duration: float) -> tuple[np.ndarray, int]:
  """Read before the model loads, so a bad file fails fast."""
  audio, rate = audio_io.load(path)  # AudioError: missing, unreadable, empty, NaN
  seconds = audio.shape[-1] / rate
  if seconds >= duration:
    raise cli.UserError(f"--prompt-audio {path} is {seconds:.2f} s long, not shorter than "
                        f"--duration {duration:g}; give a longer --duration or a shorter prompt")
  return audio, rate


def load_model(directory: str):
  from soundgen_jax.api import MusicGen  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(directory):
    raise cli.UserError(f"--model {directory}: no such model folder (convert weights with "
                        "launch/convert.py musicgen|audiocraft or pass a training "
                        "WORKDIR/export)")
  if not os.path.isfile(os.path.join(directory, CONFIG_FILE)):
    raise cli.UserError(f"--model {directory}: not a model folder (no {CONFIG_FILE})")
  try:
    return MusicGen.get_pretrained(directory)
  except cli.user_errors():
    raise
  except (ValueError, KeyError, TypeError, OSError) as e:  # a bad config.json or state
    raise cli.UserError(f"--model {directory}: not a usable model folder "
                        f"({type(e).__name__}: {e})") from None


def codes_to_audio(model, codes: np.ndarray) -> np.ndarray:
  """LM codes [B, K, frames] -> audio [B, C, samples]: the one place for a stage between the
  LM and the codec decoder."""
  # --soundstorm DIR (another issue) goes here: SoundStorm fills the RVQ levels the LM left
  # out (codes = soundstorm.complete(codes, ...)), then the codec decodes all of them.
  return model.generate_audio(codes)


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", required=True, help="model folder (config.json + state/)")
  parser.add_argument("--text", action="append", help="a description (repeat for several)")
  parser.add_argument("--text-file", default=None, help="one description per non-empty line")
  parser.add_argument("--unconditional", type=int, default=None, metavar="N",
                      help="N clips without text (the null condition)")
  parser.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
  parser.add_argument("--out", default="generated", help="output folder")
  parser.add_argument("--prompt-audio", default=None, help="audio every clip continues")
  parser.add_argument("--seed", type=int, default=0, help="same seed, same audio")
  parser.add_argument("--top-k", type=int, default=250, help="sample from the k most likely")
  parser.add_argument("--top-p", type=float, default=0.0, help="nucleus sampling (0: off)")
  parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature")
  parser.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance scale")
  parser.add_argument("--two-step-cfg", action="store_true",
                      help="guidance as two forwards instead of one doubled batch")
  parser.add_argument("--greedy", action="store_true", help="argmax decoding (no sampling)")
  parser.add_argument("--extend-stride", type=float, default=None,
                      help="long-form window stride in seconds (default: the model's)")
  parser.add_argument("--batch-size", type=int, default=8,
                      help="clips generated together (a short last batch is padded)")
  parser.add_argument("--save-codes", action="store_true", help="also write the codes (.npz)")
  # --soundstorm DIR: coming from the SoundStorm issue; it feeds codes_to_audio.
  args = parser.parse_args()

  check_args(args)
  texts = read_prompts(args)
  prompt = load_prompt_audio(args.prompt_audio, args.duration) if args.prompt_audio else None
  model = load_model(args.model)
  try:
    model.set_generation_params(
        use_sampling=not args.greedy, top_k=args.top_k, top_p=args.top_p,
        temperature=args.temperature, duration=args.duration, cfg_coef=args.cfg,
        two_step_cfg=args.two_step_cfg, extend_stride=args.extend_stride)
    model.set_seed(args.seed)
  except ValueError as e:  # --top-k / --top-p / --temperature / --extend-stride out of range
    raise cli.UserError(str(e)) from None
  prompt_codes = None
  if prompt is not None:
    try:
      prompt_codes = model.encode_prompt(*prompt)
    except ValueError as e:  # e.g. longer than the model's window
      raise cli.UserError(f"--prompt-audio {args.prompt_audio}: {e}") from None
  outputs, total = generate(model, texts, prompt_codes, args)
  write_summary(model, args, texts, prompt_codes, outputs, total)


def generate(model, texts, prompt_codes, args):
  """Batches of --batch-size (the last padded, so one compiled program serves all); one
  progress bar over every frame. Returns the per-prompt records and the totals."""
  import tqdm  # pylint: disable=g-import-not-at-top
  batch = min(args.batch_size, len(texts))
  frames = round(model.duration * model.frame_rate)
  prompt_frames = 0 if prompt_codes is None else prompt_codes.shape[-1]
  batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
  bar = tqdm.tqdm(total=len(batches) * (frames - prompt_frames), unit="frame",
                  desc=f"{len(texts)} x {model.duration:g} s")
  os.makedirs(args.out, exist_ok=True)
  outputs, wall, tokens, made = [], 0.0, 0, 0.0
  for n, chunk in enumerate(batches):
    base = n * (frames - prompt_frames)
    model.set_custom_progress_callback(
        lambda done, _, base=base: bar.update(base + done - prompt_frames - bar.n))
    padded = chunk + [chunk[-1]] * (batch - len(chunk))
    start = time.perf_counter()
    prompt = None if prompt_codes is None else np.repeat(prompt_codes, batch, axis=0)
    descriptions = None if all(t is None for t in padded) else padded
    try:
      codes = model.generate_tokens(descriptions, num_samples=batch, prompt_tokens=prompt)
    except ValueError as e:  # e.g. a prompt longer than the model's window
      raise cli.UserError(str(e)) from None
    audio = codes_to_audio(model, codes)
    seconds = time.perf_counter() - start
    stats = model.last_stats
    wall += seconds
    tokens += len(chunk) * codes.shape[1] * stats.frames
    made += len(chunk) * audio.shape[-1] / model.sample_rate
    rtf = seconds / (batch * audio.shape[-1] / model.sample_rate)  # this batch's
    bar.set_postfix_str(f"{tokens / wall:.0f} tokens/s, RTF {wall / made:.3f}")  # so far
    for j, text in enumerate(chunk):
      index = len(outputs)
      stem = f"{index:03d}_{slug(text)}"
      audio_io.save(os.path.join(args.out, stem + ".wav"), audio[j], model.sample_rate)
      record = {"index": index, "text": text, "file": stem + ".wav",
                "seconds": audio.shape[-1] / model.sample_rate,
                "wall_seconds": seconds, "tokens_per_s": stats.tokens_per_s, "rtf": rtf}
      if args.save_codes:
        np.savez(os.path.join(args.out, stem + ".npz"), codes=codes[j],
                 sample_rate=model.sample_rate, frame_rate=model.frame_rate,
                 prompt_frames=prompt_frames, text="" if text is None else text)
        record["codes"] = stem + ".npz"
      outputs.append(record)
  model.set_custom_progress_callback(None)
  bar.close()
  audio_seconds = sum(o["seconds"] for o in outputs)
  return outputs, {"wall_seconds": wall, "tokens_per_s": tokens / max(wall, 1e-9),
                   "rtf": wall / audio_seconds, "audio_seconds": audio_seconds}


def write_summary(model, args, texts, prompt_codes, outputs, total):
  s = model.sampling
  settings = {"duration": model.duration, "seed": args.seed, "use_sampling": s.use_sampling,
              "top_k": s.top_k, "top_p": s.top_p, "temperature": s.temperature,
              "cfg_coef": s.cfg_coef, "two_step_cfg": s.two_step_cfg,
              "extend_stride": model.extend_stride, "max_duration": model.max_duration,
              "batch_size": min(args.batch_size, len(texts)),
              "prompt_audio": os.path.abspath(args.prompt_audio) if args.prompt_audio else None,
              "prompt_frames": 0 if prompt_codes is None else int(prompt_codes.shape[-1])}
  summary = {"model": os.path.abspath(args.model), "sample_rate": model.sample_rate,
             "channels": model.audio_channels, "frame_rate": model.frame_rate,
             "settings": settings, "outputs": outputs, "total": total}
  path = os.path.join(args.out, "generation.json")
  with open(path, "w") as f:
    json.dump(summary, f, indent=2)
  print(f"wrote {len(outputs)} x {outputs[0]['seconds']:.2f} s to {args.out} in "
        f"{total['wall_seconds']:.1f} s: {total['tokens_per_s']:.0f} tokens/s, "
        f"RTF {total['rtf']:.3f} ({path})")


if __name__ == "__main__":
  cli.run(main)
