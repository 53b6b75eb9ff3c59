"""launch/generate.py as a user runs it (in-process), on a tiny random model folder.

Two prompts and 1 s everywhere, so the runs share the API tests' compiled programs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from soundgen_jax import audio as audio_io
from soundgen_jax.codecs import inference
from soundgen_jax.convert import encodec
from script_helpers import ROOT, assert_one_line_error, run_in_process
import lm_helpers as h

SCRIPT = os.path.join(ROOT, "launch", "generate.py")
TEXTS = ("--text", "a dog barks", "--text", "Rain on a roof!")
NAMES = ("000_a_dog_barks", "001_rain_on_a_roof")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  return h.shared_model_dir(tmp_path_factory)


def _run(*args):
  return run_in_process(SCRIPT, *args)


def _generate(model_dir, out, *args):
  r = _run("--model", model_dir, *TEXTS, "--duration", "1", "--out", str(out), *args)
  assert r.returncode == 0, r.stderr
  return r


def _wavs(out):
  return [soundfile.read(os.path.join(out, n + ".wav"), dtype="float32")[0] for n in NAMES]


def test_writes_wavs_codes_and_summary_and_seeds_repeat(tmp_path, model_dir):
  out = tmp_path / "a"
  r = _generate(model_dir, out, "--save-codes")
  for name in NAMES:
    info = soundfile.info(str(out / (name + ".wav")))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == \
        (16000, 1, 16000, "FLOAT")
    data = np.load(out / (name + ".npz"))
    assert data["codes"].shape == (2, 50) and data["codes"].dtype == np.int32
  summary = json.loads((out / "generation.json").read_text())
  assert summary["model"] == os.path.abspath(model_dir)
  assert summary["sample_rate"] == 16000 and summary["channels"] == 1
  s = summary["settings"]
  assert (s["duration"], s["seed"], s["top_k"], s["cfg_coef"], s["use_sampling"]) == \
      (1.0, 0, 250, 3.0, True)
  assert [o["file"] for o in summary["outputs"]] == [n + ".wav" for n in NAMES]
  assert [o["text"] for o in summary["outputs"]] == ["a dog barks", "Rain on a roof!"]
  for o in summary["outputs"]:
    assert o["seconds"] == 1.0 and o["tokens_per_s"] > 0 and o["rtf"] > 0
  last = r.stdout.strip().splitlines()[-1]
  assert "tokens/s" in last and "RTF" in last, r.stdout
  first = _wavs(out)
  assert not np.array_equal(first[0], first[1])
  _generate(model_dir, tmp_path / "b", "--seed", "0")
  for x, y in zip(first, _wavs(tmp_path / "b")):
    np.testing.assert_array_equal(x, y)
  _generate(model_dir, tmp_path / "c", "--seed", "1")
  assert not np.array_equal(first[0], _wavs(tmp_path / "c")[0])


def test_greedy_is_deterministic(tmp_path, model_dir):
  _generate(model_dir, tmp_path / "a", "--greedy", "--seed", "0")
  _generate(model_dir, tmp_path / "b", "--greedy", "--seed", "5")
  for x, y in zip(_wavs(tmp_path / "a"), _wavs(tmp_path / "b")):
    np.testing.assert_array_equal(x, y)


def test_prompt_audio_continuation_keeps_its_codes(tmp_path, model_dir):
  prompt = str(tmp_path / "prompt.flac")
  t = np.arange(int(22050 * 0.5)) / 22050  # stereo 22.05 kHz: downmixed, resampled to 16 kHz
  soundfile.write(prompt, np.stack([0.5 * np.sin(2 * np.pi * 330 * t), 0.2 * t], 1), 22050)
  out = tmp_path / "out"
  _generate(model_dir, out, "--prompt-audio", prompt, "--save-codes")
  x, _ = audio_io.load(prompt, sample_rate=16000, channels=1)
  codec = encodec.load(os.path.join(model_dir, "codec"))
  want = inference.encode(codec, x[None], 0.4).codes[0]
  assert want.shape == (2, 25)
  for name in NAMES:
    codes = np.load(out / (name + ".npz"))["codes"]
    assert codes.shape == (2, 50)
    np.testing.assert_array_equal(codes[:, :25], want)
    assert soundfile.info(str(out / (name + ".wav"))).frames == 16000
  assert json.loads((out / "generation.json").read_text())["settings"]["prompt_frames"] == 25


def test_bad_inputs_give_one_line_errors(tmp_path, model_dir):
  def run(*args, model=model_dir, texts=TEXTS):
    return _run("--model", model, *texts, "--duration", "1", "--out", str(tmp_path / "o"),
                *args)

  assert_one_line_error(run(texts=()), "no prompt")
  assert_one_line_error(run(texts=("--text", "  ")), "--text is empty")
  assert_one_line_error(run(texts=("--text-file", str(tmp_path / "none.txt"))),
                         "--text-file", "none.txt")
  binary = tmp_path / "binary.txt"
  binary.write_bytes(b"\xff\xfe\x00\x80")
  assert_one_line_error(run(texts=("--text-file", str(binary))), "--text-file", "binary.txt")
  for bad in ("0", "-1"):
    assert_one_line_error(run("--duration", bad), "--duration")
  long = str(tmp_path / "long.wav")
  soundfile.write(long, np.zeros(int(16000 * 1.5)), 16000)
  assert_one_line_error(run("--prompt-audio", long), "--prompt-audio", "long.wav")
  junk = tmp_path / "junk.wav"
  junk.write_text("not audio")
  assert_one_line_error(run("--prompt-audio", str(junk)), "junk.wav", "cannot read audio")
  assert_one_line_error(run("--prompt-audio", str(tmp_path / "gone.wav")), "no such file")
  assert_one_line_error(run(model=str(tmp_path / "nowhere")), "no such model folder")
  empty = tmp_path / "empty"
  empty.mkdir()
  assert_one_line_error(run(model=str(empty)), "config.json")
  codec = tmp_path / "codec_folder"
  codec.mkdir()
  (codec / "config.json").write_text(json.dumps({"family": "codec", "model": {}}))
  assert_one_line_error(run(model=str(codec)), "not an audio LM folder")
  broken = tmp_path / "broken"
  broken.mkdir()
  (broken / "config.json").write_text("{not json")
  assert_one_line_error(run(model=str(broken)), "not a usable model folder")


def test_as_a_separate_process(tmp_path, model_dir):
  """The real command line: sys.path set up by the script, exit status 2 and one line."""
  r = subprocess.run([sys.executable, SCRIPT, "--model", model_dir, "--duration", "0",
                      *TEXTS], capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert_one_line_error(r, "--duration")
