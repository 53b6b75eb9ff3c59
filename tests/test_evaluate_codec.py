"""scripts/evaluate_codec.py: per-clip scores of a saved codec on whole files."""
import contextlib
import io
import json
import os
import runpy
import sys
from unittest import mock

import jax.numpy as jnp
import numpy as np
import pytest
import soundfile
from flax import nnx

from configs import encodec as encodec_configs
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.eval import codec_metrics
from soundgen_jax.parallel.sharding import sharded_init
from soundgen_jax.training import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "evaluate_codec.py")


def _run(*args):
  stdout, stderr = io.StringIO(), io.StringIO()
  code = 0
  with mock.patch.object(sys, "argv", ["evaluate_codec.py", *args]), \
      contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
      runpy.run_path(SCRIPT, run_name="__main__")
    except SystemExit as e:
      code = e.code or 0
  return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  directory = str(tmp_path_factory.mktemp("codec"))
  model = sharded_init(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
  checkpoints.save_model(directory, model, {"family": "codec", "model": cfg.to_dict()})
  return directory, model


def test_scores_every_clip_at_every_bandwidth(tmp_path, codec):
  directory, model = codec
  rng = np.random.default_rng(0)
  folder = tmp_path / "clips"
  folder.mkdir()
  for name, seconds, rate in (("a.wav", 0.7, 16000), ("b.flac", 1.3, 22050)):
    soundfile.write(folder / name, 0.3 * rng.standard_normal(int(seconds * rate)), rate)
  out = tmp_path / "scores.json"
  code, stdout, stderr = _run("--checkpoint", directory, "--files", str(folder),
                              "--json", str(out))
  assert code == 0, stderr
  assert "mean over 2 clips" in stdout
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
  code, _, stderr = _run("--checkpoint", codec[0], "--files", str(tmp_path / "nothing"))
  assert code == 2
  assert stderr.startswith("error: ") and stderr.count("\n") == 1
