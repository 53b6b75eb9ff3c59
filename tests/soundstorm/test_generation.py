"""SoundStorm generation end to end: passes counted, given levels and a prompt kept, seeded,
guidance's combination; its folder; the API alone and behind the LM; launch/generate.py
--soundstorm alone and with --model.

One random 2-level SoundStorm over the LM tests' tiny codec (50 frames/s, 2 x 16), 1 s clips."""
import dataclasses
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile
from flax import nnx

from soundgen_jax import api
from soundgen_jax.soundstorm import generation, pretrained
from soundgen_jax.soundstorm.model import SoundStorm, SoundStormConfig
from model_helpers import SAMPLE_RATE, random_weights, tiny_codec
from script_helpers import ROOT, assert_one_line_error, run_in_process

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lm"))
import lm_helpers  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

CFG = SoundStormConfig(num_levels=2, codebook_size=16, dim=32, num_heads=2, num_layers=1,
                       ffn_dim=64, cond_vocab=0, text_dim=384)
FRAMES = 50
SCRIPT = os.path.join(ROOT, "launch", "generate.py")
GREEDY = generation.Decoding(steps=(3, 1), temperature=0.0, choice_temperature=0.0)


@pytest.fixture(scope="module")
def storm_dir(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("soundstorm"))
  model = random_weights(lambda: SoundStorm(CFG, rngs=nnx.Rngs(0)))
  pretrained.save(directory, model, text={"encoder": "minilm", "max_length": 16},
                  codec=tiny_codec(), max_duration=1.0, first_level=0,
                  decoding={"steps": [], "cfg_coef": 3.0})
  return directory


@pytest.fixture(scope="module")
def storm(storm_dir):
  return api.SoundStorm.get_pretrained(storm_dir)


@pytest.fixture(scope="module")
def text(storm):
  states, mask = api.encode_descriptions(storm.conditioner, CFG.text_dim,
                                         ["a dog barks", "rain"], 2)
  return jnp.asarray(states), jnp.asarray(mask)


def _codes(seed=0):
  return np.random.default_rng(seed).integers(0, 16, (2, 2, FRAMES)).astype(np.int32)


def test_given_levels_and_prompt_kept_passes_counted_seeded(storm, text):
  truth = _codes()
  known = np.zeros(truth.shape, bool)
  known[:, :, :10] = True  # an acoustic prompt: the first 10 frames at every level
  decoding = generation.Decoding(steps=(4,))
  run = lambda seed: generation.generate(  # noqa: E731
      storm.model.model, key=jax.random.key(seed), decoding=decoding, codes=truth,
      known=known, first_level=1, text=text[0], text_mask=text[1])
  (a, passes), (b, _), (c, _) = run(0), run(0), run(1)
  a, b, c = np.asarray(a), np.asarray(b), np.asarray(c)
  assert passes == 4 == generation.passes(decoding, 2, 1)
  np.testing.assert_array_equal(a[:, 0], truth[:, 0])            # the LM's level
  np.testing.assert_array_equal(a[:, 1, :10], truth[:, 1, :10])  # the prompt
  assert ((a >= 0) & (a < 16)).all()
  np.testing.assert_array_equal(a, b)
  assert (a != c).any()
  assert generation.passes(generation.Decoding(), 12, 0) == 27  # the paper's (16, 1, ..., 1)


def test_guidance_combines_cond_and_null(storm, text):
  gen = lambda d, t: np.asarray(generation.generate(  # noqa: E731
      storm.model.model, key=jax.random.key(0), decoding=d, num_frames=FRAMES, batch=2,
      text=t[0] if t else None, text_mask=t[1] if t else None)[0])
  null = gen(GREEDY, None)
  zero = gen(dataclasses.replace(GREEDY, cfg_coef=0.0), text)   # uncond + 0 x (cond - uncond)
  guided = gen(dataclasses.replace(GREEDY, cfg_coef=3.0), text)
  np.testing.assert_array_equal(zero, null)
  assert (guided != null).any()


def test_api_alone_and_behind_the_lm(storm, tmp_path_factory):
  wav, codes = storm.generate(["a dog barks"], return_tokens=True)
  assert wav.shape == (1, 1, SAMPLE_RATE) and codes.shape == (1, 2, FRAMES)
  assert storm.last_stats["passes"] == 17 and np.isfinite(wav).all()
  lm = api.AudioGen.get_pretrained(lm_helpers.shared_model_dir(tmp_path_factory))
  lm.set_generation_params(duration=1.0)
  alone = lm.generate_tokens(["a dog barks"])
  lm.set_seed(0)
  lm.set_soundstorm(storm)
  assert lm.soundstorm_levels == 1
  wav, both = lm.generate(["a dog barks"], return_tokens=True)
  assert wav.shape == (1, 1, SAMPLE_RATE) and both.shape == (1, 2, FRAMES)
  np.testing.assert_array_equal(both[:, 0], alone[:, 0])  # the LM's own level, as alone
  assert storm.last_stats["passes"] == 16
  with pytest.raises(ValueError, match="levels must be in"):
    lm.set_soundstorm(storm, levels=2)


def test_cli_soundstorm_alone_and_with_the_lm(storm_dir, tmp_path, tmp_path_factory):
  common = ("--text", "a dog barks", "--text", "rain", "--duration", "1", "--cfg", "3")
  r = run_in_process(SCRIPT, "--soundstorm", storm_dir, *common, "--out", str(tmp_path / "a"))
  assert r.returncode == 0, r.stderr
  summary = json.loads((tmp_path / "a" / "generation.json").read_text())
  assert summary["settings"]["soundstorm"]["steps"] == [16, 1]
  assert [o["passes"] for o in summary["outputs"]] == [17, 17]
  for o in summary["outputs"]:
    data, rate = soundfile.read(tmp_path / "a" / o["file"], dtype="float32")
    assert rate == SAMPLE_RATE and data.shape == (SAMPLE_RATE,)
  lm_dir = lm_helpers.shared_model_dir(tmp_path_factory)
  r = run_in_process(SCRIPT, "--model", lm_dir, "--soundstorm", storm_dir, *common,
                     "--steps", "5", "--out", str(tmp_path / "b"))
  assert r.returncode == 0, r.stderr
  summary = json.loads((tmp_path / "b" / "generation.json").read_text())
  assert summary["settings"]["lm_levels"] == 1
  assert summary["settings"]["soundstorm"]["steps"] == [5]
  assert [o["soundstorm"]["passes"] for o in summary["outputs"]] == [5, 5]
  assert os.path.isfile(tmp_path / "b" / "000_a_dog_barks.wav")
  assert_one_line_error(run_in_process(SCRIPT, "--soundstorm", storm_dir, *common, "--steps", "x"),
                  "--steps")
  assert_one_line_error(run_in_process(SCRIPT, "--soundstorm", lm_dir, *common),
                  "not a SoundStorm folder")
  assert_one_line_error(run_in_process(SCRIPT, "--model", lm_dir, "--soundstorm", storm_dir, *common,
                                 "--lm-levels", "2"), "levels must be in")


def test_evaluate_soundstorm_script(storm_dir, tmp_path):
  out = tmp_path / "eval"
  r = run_in_process(os.path.join(ROOT, "scripts", "evaluate_soundstorm.py"), "--soundstorm",
                     storm_dir, "--examples", "2", "--batch-size", "2", "--out", str(out))
  assert r.returncode == 0, r.stderr
  result = json.loads((out / "evaluation.json").read_text())
  row = result["accuracy"]["level 1"]
  decodings = ("default decoding", "greedy", "greedy, no CFG", "argmax, one pass, no CFG")
  assert set(row) == {"most frequent code", "previous frame"} | {f"SoundStorm, {n}"
                                                                 for n in decodings}
  assert all(0.0 <= v <= 1.0 for v in row.values())
  assert result["passes"] == {"default decoding": 16, "greedy": 16, "greedy, no CFG": 16,
                              "argmax, one pass, no CFG": 1}
  assert set(result["quality"]) == {"codec round trip (all levels)", "first level only"} | {
      f"SoundStorm, {n}" for n in decodings}
  assert set(result["above_baselines_by_decoding"]) == set(decodings)
  assert result["quality"]["codec round trip (all levels)"]["mel_vs_round_trip"] == 1.0
  assert "shuffled captions (chance)" in result["adherence"]
  assert set(result["targets"]) == {"every finer level above both baselines",
                                    "mel distance at most 1.5x the round trip's"}
  assert (out / "spectrograms.png").stat().st_size > 0
  assert "| level 1 |" in r.stdout and "targets (default decoding):" in r.stdout


def test_demo_report(storm_dir, tmp_path, tmp_path_factory):
  """scripts/demo.py's report: every audio file it references exists and decodes, every image
  exists, and the timing table's numbers are the run's (report.json)."""
  import re  # pylint: disable=g-import-not-at-top
  out = tmp_path / "demo"
  lm_dir = lm_helpers.shared_model_dir(tmp_path_factory)
  # Training curves, as a training export carries them (its run's metrics.jsonl).
  for folder, rows in ((os.path.join(lm_dir, "codec"), [{"step": 0, "eval/3.2kbps/si_snr": -9.0},
                                                         {"step": 5, "eval/3.2kbps/si_snr": 1.0}]),
                       (lm_dir, [{"step": 1, "loss": 5.0}, {"step": 2, "eval/loss": 4.0}]),
                       (storm_dir, [{"step": 1, "loss": 5.0}, {"step": 2, "eval/loss": 4.0}])):
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
  r = run_in_process(os.path.join(ROOT, "scripts", "demo.py"), "--lm", lm_dir,
                     "--soundstorm", storm_dir, "--examples", "2", "--out", str(out))
  assert r.returncode == 0, r.stderr
  assert r.stdout.strip().endswith("report.html")
  page = (out / "report.html").read_text()
  report = json.loads((out / "report.json").read_text())
  audio = re.findall(r"<audio controls src='([^']+)'", page)
  images = re.findall(r"<img src='([^']+)'", page)
  # Real clip + three modes per caption, then the codec's, the LM's and SoundStorm's curves.
  assert len(audio) == 2 * 4 and len(images) == 2 * 4 + 3
  assert list(report["curves"]) == ["codec", "LM", "SoundStorm"]
  assert images[-3:] == list(report["curves"].values())
  for src in audio:
    data, rate = soundfile.read(out / src, dtype="float32")
    assert rate == SAMPLE_RATE and data.shape == (SAMPLE_RATE,) and np.isfinite(data).all()
  for src in images:
    assert (out / src).read_bytes()[:4] == b"\x89PNG"
  assert [t["mode"] for t in report["timings"]] == ["LM alone", "LM + SoundStorm",
                                                    "SoundStorm alone"]
  for t in report["timings"]:
    assert t["seconds"] > 0
    assert f"<td>{t['mode']}</td><td>{t['seconds']:.2f}</td><td>{t['rtf']:.3f}</td>" in page
  assert report["timings"][1]["passes"] == 16 and report["timings"][2]["passes"] == 17
  assert "&#10003;" in page or "&#10007;" in page  # per-attribute verdicts
