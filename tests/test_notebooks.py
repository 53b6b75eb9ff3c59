"""colab/ notebooks run top to bottom on tiny settings (parameters through environment
variables), and each .ipynb is the pair jupytext makes of its reviewable .py source."""
import json
import os
import sys
import time

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from soundgen_jax import startup
from script_helpers import ROOT

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lm"))
import lm_helpers  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

COLAB = os.path.join(ROOT, "colab")
NOTEBOOKS = ("01_codec", "02_text_to_audio", "03_train_tiny")


def _execute(name, tmp_path, monkeypatch, **params):
  """Runs colab/NAME.py as a notebook in a fresh kernel; returns the executed notebook."""
  # The kernel inherits this environment: one CPU device (the suite's 8 would only slow the
  # tiny runs down), the suite's compilation cache, the parameters.
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  monkeypatch.setenv("SOUNDGEN_ACCELERATOR", "cpu")
  monkeypatch.setenv("SOUNDGEN_WORKDIR", str(tmp_path / "work"))
  for key, value in params.items():
    monkeypatch.setenv(f"SOUNDGEN_{key}", str(value))
  nb = jupytext.read(os.path.join(COLAB, f"{name}.py"))
  start = time.time()
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": COLAB}}).execute()
  print(f"{name}: {time.time() - start:.1f} s")
  stderr = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
  assert not [line for text in stderr for line in text.splitlines() if startup.is_noise(line)]
  return nb


def _outputs(nb):
  text = []
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      text.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
  return "\n".join(text)


def _count(nb, mime):
  return sum(mime in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_ipynb_is_the_pair_of_the_py_source(name):
  source = jupytext.read(os.path.join(COLAB, f"{name}.py"))
  paired = nbformat.read(os.path.join(COLAB, f"{name}.ipynb"), as_version=4)
  assert [(c.cell_type, c.source) for c in paired.cells] == \
      [(c.cell_type, c.source) for c in source.cells], \
      f"colab/{name}.ipynb is stale: jupytext --sync colab/{name}.py"
  assert not any(c.get("outputs") for c in paired.cells), "commit the pair without outputs"


@pytest.fixture(scope="module")
def encodec_stand_in(tmp_path_factory):
  """An official-format EnCodec folder (transformers' save_pretrained) with random weights,
  small: 16 kHz, 100 frames/s, 4 codebooks of 64 (0.6 / 1.2 / 2.4 kbps)."""
  import transformers  # pylint: disable=g-import-not-at-top
  config = transformers.EncodecConfig(
      sampling_rate=16000, num_filters=4, hidden_size=16, codebook_dim=16, codebook_size=64,
      upsampling_ratios=[8, 5, 4], target_bandwidths=[0.6, 1.2, 2.4], num_lstm_layers=1)
  directory = tmp_path_factory.mktemp("encodec_stand_in")
  transformers.EncodecModel(config).save_pretrained(str(directory))
  return str(directory)


def test_01_codec(encodec_stand_in, tmp_path, monkeypatch):
  nb = _execute("01_codec", tmp_path, monkeypatch, ENCODEC_DIR=encodec_stand_in, SECONDS=1)
  out = _outputs(nb)
  assert "converted" in out and "4 codebooks of 64" in out
  assert _count(nb, "text/html") >= 4 and _count(nb, "image/png") == 1  # players, the plot
  for kbps in ("0.6", "1.2", "2.4"):
    assert os.path.isfile(tmp_path / "work" / f"decoded_{kbps}kbps.wav")


def test_02_text_to_audio(tmp_path_factory, tmp_path, monkeypatch):
  model_dir = lm_helpers.shared_model_dir(tmp_path_factory)  # random, 1 s windows
  nb = _execute("02_text_to_audio", tmp_path, monkeypatch, MODEL_DIR=model_dir, DURATION=1)
  out = _outputs(nb)
  assert "window (max_duration) 1 s" in out and "2.00 s in windows of 1 s, stride 0.5 s" in out
  assert _count(nb, "text/html") == 10 and _count(nb, "image/png") == 4
  assert sorted(os.listdir(tmp_path / "work")) == ["caption_0.wav", "caption_1.wav"]


# configs/audiogen.py:tiny shrunk to a 1-layer width-32 LM on 0.5 s windows, 4 steps.
TINY_TRAINING = {"model.dim": 32, "model.num_heads": 2, "model.num_layers": 1,
                 "model.ffn_dim": 64, "data.crop_seconds": 0.5, "text.max_length": 16,
                 "batch_size": 4, "eval.batch_size": 4, "eval.num_batches": 1,
                 "eval.at_start": False, "log_every_steps": 1, "eval_every_steps": 4,
                 "checkpoint_every_steps": 4}


def test_03_train_tiny(tmp_path, monkeypatch):
  nb = _execute("03_train_tiny", tmp_path, monkeypatch, STEPS=4,
                OVERRIDES=json.dumps(TINY_TRAINING))
  work = tmp_path / "work"
  steps = [json.loads(line)["step"] for line in open(work / "metrics.jsonl")]
  assert steps[-1] == 4 and os.path.isfile(work / "export" / "config.json")
  assert "1 layers x 32" in _outputs(nb)
  assert _count(nb, "image/png") == 1 and _count(nb, "text/html") == 2
