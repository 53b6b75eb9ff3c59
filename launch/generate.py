"""Text (and an optional audio prompt) -> audio files, with an LM folder (lm/pretrained.py),
a SoundStorm folder (soundstorm/pretrained.py), or both.

  python launch/generate.py --model DIR --text "a dog barks" --text "rain on a roof"
  python launch/generate.py --soundstorm SS_DIR --text "a dog barks"          # SoundStorm alone
  python launch/generate.py --model DIR --soundstorm SS_DIR --text "a dog barks"  # LM + SoundStorm
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

With --soundstorm, SoundStorm decodes the levels the LM does not make (the LM keeps its first
--lm-levels codebooks); alone, it decodes every level from the text. --cfg, --temperature,
--greedy and --seed apply to it too; --steps and --choice-temperature are its own.
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


def load_soundstorm(directory: str):
  from soundgen_jax.api import SoundStorm  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(os.path.join(directory, CONFIG_FILE)):
    raise cli.UserError(f"--soundstorm {directory}: not a SoundStorm folder (no {CONFIG_FILE});"
                        " pass a SoundStorm training WORKDIR/export")
  try:
    return SoundStorm.get_pretrained(directory)
  except cli.user_errors():
    raise
  except (ValueError, KeyError, TypeError, OSError) as e:
    raise cli.UserError(f"--soundstorm {directory}: not a usable SoundStorm folder "
                        f"({type(e).__name__}: {e})") from None


def parse_steps(text: str | None) -> tuple[int, ...]:
  if not text:
    return ()
  try:
    steps = tuple(int(x) for x in text.split(","))
  except ValueError:
    raise cli.UserError(f"--steps {text!r}: give iterations per decoded level, e.g. "
                        "16,1,1") from None
  if min(steps) < 1:
    raise cli.UserError(f"--steps {text!r}: every level needs at least one iteration")
  return steps


def set_storm_params(storm, args, duration: float) -> None:
  d = storm.decoding
  try:
    storm.set_generation_params(
        duration=duration, steps=parse_steps(args.steps) or d.steps,
        temperature=0.0 if args.greedy else args.temperature, top_k=d.top_k,
        choice_temperature=d.choice_temperature if args.choice_temperature is None
        else args.choice_temperature, cfg_coef=args.cfg)
  except ValueError as e:
    raise cli.UserError(str(e)) from None


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model", default=None, help="LM folder (config.json + state/)")
  parser.add_argument("--soundstorm", default=None,
                      help="SoundStorm folder: alone, or behind --model for the finer levels")
  parser.add_argument("--lm-levels", type=int, default=None,
                      help="with both: the LM codebooks kept (default: all, < SoundStorm's)")
  parser.add_argument("--steps", default=None,
                      help="SoundStorm iterations per decoded level, e.g. 16,1,1 (default: "
                           "the folder's, else the paper's 16 then 1s)")
  parser.add_argument("--choice-temperature", type=float, default=None,
                      help="SoundStorm's confidence noise (default: the folder's)")
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
  args = parser.parse_args()

  check_args(args)
  texts = read_prompts(args)
  if args.model is None and args.soundstorm is None:
    raise cli.UserError("give --model LM_DIR, --soundstorm SS_DIR, or both")
  if args.model is None:
    if args.prompt_audio:
      raise cli.UserError("--prompt-audio continues with the LM: give --model too")
    storm = load_soundstorm(args.soundstorm)
    set_storm_params(storm, args, args.duration)
    outputs, total = generate_storm(storm, texts, args)
    write_storm_summary(storm, args, outputs, total)
    return
  prompt = load_prompt_audio(args.prompt_audio, args.duration) if args.prompt_audio else None
  model = load_model(args.model)
  if args.soundstorm:
    storm = load_soundstorm(args.soundstorm)
    try:
      model.set_soundstorm(storm, args.lm_levels)
    except ValueError as e:
      raise cli.UserError(f"--soundstorm {args.soundstorm}: {e}") from None
  elif args.lm_levels is not None:
    raise cli.UserError("--lm-levels needs --soundstorm")
  try:
    model.set_generation_params(
        use_sampling=not args.greedy, top_k=args.top_k, top_p=args.top_p,
        temperature=args.temperature, duration=args.duration, cfg_coef=args.cfg,
        two_step_cfg=args.two_step_cfg, extend_stride=args.extend_stride)
    model.set_seed(args.seed)
  except ValueError as e:  # --top-k / --top-p / --temperature / --extend-stride out of range
    raise cli.UserError(str(e)) from None
  if model.soundstorm is not None:
    set_storm_params(model.soundstorm, args, args.duration)
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
    audio, codes = model.tokens_to_audio(codes, descriptions)
    seconds = time.perf_counter() - start
    stats = model.last_stats
    storm = model.soundstorm.last_stats if model.soundstorm is not None else None
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
      if storm:
        record["soundstorm"] = {"passes": storm["passes"], "seconds": storm["seconds"],
                                "lm_levels": model.soundstorm_levels}
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
  if model.soundstorm is not None:
    settings["soundstorm"] = storm_settings(model.soundstorm, args, model.soundstorm_levels)
    settings["lm_levels"] = model.soundstorm_levels
  summary = {"model": os.path.abspath(args.model), "sample_rate": model.sample_rate,
             "channels": model.audio_channels, "frame_rate": model.frame_rate,
             "settings": settings, "outputs": outputs, "total": total}
  path = os.path.join(args.out, "generation.json")
  with open(path, "w") as f:
    json.dump(summary, f, indent=2)
  print(f"wrote {len(outputs)} x {outputs[0]['seconds']:.2f} s to {args.out} in "
        f"{total['wall_seconds']:.1f} s: {total['tokens_per_s']:.0f} tokens/s, "
        f"RTF {total['rtf']:.3f} ({path})")


def storm_settings(storm, args, first_level: int) -> dict:
  d = storm.decoding
  return {"folder": os.path.abspath(args.soundstorm),
          "steps": list(storm.steps_for(first_level)),
          "temperature": d.temperature, "top_k": d.top_k,
          "choice_temperature": d.choice_temperature, "cfg_coef": d.cfg_coef}


def generate_storm(storm, texts, args):
  """SoundStorm alone: every level from the text, --batch-size clips per decode."""
  import tqdm  # pylint: disable=g-import-not-at-top
  batch = min(args.batch_size, len(texts))
  batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
  os.makedirs(args.out, exist_ok=True)
  storm.set_seed(args.seed)
  outputs, wall, made = [], 0.0, 0.0
  for chunk in tqdm.tqdm(batches, unit="batch", desc=f"{len(texts)} x {storm.duration:g} s"):
    padded = chunk + [chunk[-1]] * (batch - len(chunk))
    start = time.perf_counter()
    try:
      audio, codes = storm.generate(padded, return_tokens=True)
    except ValueError as e:
      raise cli.UserError(str(e)) from None
    seconds = time.perf_counter() - start
    wall += seconds
    made += len(chunk) * audio.shape[-1] / storm.sample_rate
    for j, text in enumerate(chunk):
      index = len(outputs)
      stem = f"{index:03d}_{slug(text)}"
      audio_io.save(os.path.join(args.out, stem + ".wav"), audio[j], storm.sample_rate)
      record = {"index": index, "text": text, "file": stem + ".wav",
                "seconds": audio.shape[-1] / storm.sample_rate, "wall_seconds": seconds,
                "passes": storm.last_stats["passes"],
                "rtf": seconds / (batch * audio.shape[-1] / storm.sample_rate)}
      if args.save_codes:
        np.savez(os.path.join(args.out, stem + ".npz"), codes=codes[j],
                 sample_rate=storm.sample_rate, frame_rate=storm.frame_rate,
                 text="" if text is None else text)
        record["codes"] = stem + ".npz"
      outputs.append(record)
  audio_seconds = sum(o["seconds"] for o in outputs)
  return outputs, {"wall_seconds": wall, "rtf": wall / audio_seconds,
                   "audio_seconds": audio_seconds, "passes": outputs[0]["passes"]}


def write_storm_summary(storm, args, outputs, total):
  settings = {"duration": storm.duration, "seed": args.seed,
              "batch_size": min(args.batch_size, len(outputs)),
              "soundstorm": storm_settings(storm, args, 0)}
  summary = {"model": None, "soundstorm": os.path.abspath(args.soundstorm),
             "sample_rate": storm.sample_rate, "channels": 1, "frame_rate": storm.frame_rate,
             "settings": settings, "outputs": outputs, "total": total}
  path = os.path.join(args.out, "generation.json")
  with open(path, "w") as f:
    json.dump(summary, f, indent=2)
  print(f"wrote {len(outputs)} x {outputs[0]['seconds']:.2f} s to {args.out} in "
        f"{total['wall_seconds']:.1f} s: {total['passes']} passes per clip, "
        f"RTF {total['rtf']:.3f} ({path})")


if __name__ == "__main__":
  cli.run(main)
