"""scripts/evaluate_codec.py: per-clip scores of a saved codec on whole files."""
import json
import os
import runpy

import jax.numpy as jnp
import numpy as np
import pytest
import soundfile

from soundgen_jax.eval import codec_metrics
from script_helpers import ROOT, run_in_process, save_random_codec

SCRIPT = os.path.join(ROOT, "scripts", "evaluate_codec.py")


def _run(*args):
  return run_in_process(SCRIPT, *args)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("codec"))
  return directory, save_random_codec(directory)


def test_scores_every_clip_at_every_bandwidth(tmp_path, codec):
  directory, model = codec
  rng = np.random.default_rng(0)
  folder = tmp_path / "clips"
  folder.mkdir()
  for name, seconds, rate in (("a.wav", 0.7, 16000), ("b.flac", 1.3, 22050)):
    soundfile.write(folder / name, 0.3 * rng.standard_normal(int(seconds * rate)), rate)
  out = tmp_path / "scores.json"
  result = _run("--checkpoint", directory, "--files", str(folder), "--json", str(out))
  assert result.returncode == 0, result.stderr
  assert "mean over 2 clips" in result.stdout
  scores = json.loads(out.read_text())
  assert len(scores["clips"]) == 2
  labels = [f"{bw} kbps" for bw in model.config.bandwidths] + ["no quantizer"]
  for clip in scores["clips"]:
    assert list(clip["scores"]) == labels
    assert all(np.isfinite(v).all() for v in clip["scores"].values())
  assert scores["clips"][0]["seconds"] == pytest.approx(0.7)


def test_padding_to_whole_seconds_leaves_a_causal_codecs_scores_alone(codec):
  """The script pads clips to whole seconds; on a causal codec the scored samples are the
  same as from the codec run on the clip padded only to whole frames."""
  evaluate = runpy.run_path(SCRIPT)
  _, model = codec
  cfg = model.config
  assert cfg.causal
  x = np.random.default_rng(1).standard_normal((1, 7 * cfg.hop_length + 13)).astype(np.float32)
  scores = evaluate["clip_scores"](model, x)
  n = x.shape[-1]
  frames = np.pad(x, ((0, 0), (0, -n % cfg.hop_length)))[None]
  n_q = cfg.num_quantizers_for(cfg.bandwidths[-1])
  y = model(jnp.asarray(frames), jnp.array([n_q]), train=False).audio[..., :n]
  expected = float(codec_metrics.si_snr(jnp.asarray(x[None]), y)[0])
  assert scores[f"{cfg.bandwidths[-1]} kbps"][0] == pytest.approx(expected, abs=1e-3)


def test_missing_files_are_a_one_line_error(tmp_path, codec):
  result = _run("--checkpoint", codec[0], "--files", str(tmp_path / "nothing"))
  assert result.returncode == 2
  assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
