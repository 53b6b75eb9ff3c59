"""launch/codec.py and launch/convert.py as a user runs them."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from soundgen_jax.codecs import inference
from soundgen_jax.convert import encodec
from script_helpers import ROOT, run_in_process, save_random_codec


def _run(*args, script="codec.py"):
  return run_in_process(os.path.join(ROOT, "launch", script), *args)


def _run_process(*args, script="codec.py"):
  return subprocess.run([sys.executable, os.path.join(ROOT, "launch", script), *args],
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("ckpt"))
  save_random_codec(directory)
  return directory


def _tone(path, rate, channels, seconds=1.3, **kw):
  t = np.arange(int(rate * seconds)) / rate
  x = 0.5 * np.sin(2 * np.pi * 330 * t)
  soundfile.write(path, np.stack([x * (c + 1) / channels for c in range(channels)], 1), rate, **kw)


@pytest.mark.parametrize("ext,rate,channels", [("wav", 16000, 1), ("flac", 44100, 2),
                                               ("ogg", 22050, 1)])
def test_encode_decode_round_trip(tmp_path, checkpoint, ext, rate, channels):
  src = str(tmp_path / f"in.{ext}")
  _tone(src, rate, channels)
  npz, wav = str(tmp_path / "codes.npz"), str(tmp_path / "out.wav")
  r = _run("encode", src, npz, "--checkpoint", checkpoint, "--bandwidth", "1.6")
  assert r.returncode == 0, r.stderr
  data = np.load(npz)
  assert data["codes"].ndim == 2 and data["codes"].shape[0] == 2  # 1.6 kbps = 2 codebooks
  assert data["codes"].dtype == np.int32
  assert int(data["sample_rate"]) == 16000 and int(data["source_sample_rate"]) == rate
  r = _run("decode", npz, wav, "--checkpoint", checkpoint)
  assert r.returncode == 0, r.stderr
  info = soundfile.info(wav)
  assert info.subtype == "FLOAT" and info.samplerate == 16000 and info.channels == 1
  assert abs(info.duration - 1.3) < 1e-3
  # The CLI gives what the library gives on the same resampled, downmixed input.
  from soundgen_jax import audio
  x, _ = audio.load(src, sample_rate=16000, channels=1)
  model = encodec.load(checkpoint)
  np.testing.assert_array_equal(data["codes"], inference.encode(model, x[None], 1.6).codes[0])


def test_decode_subtype_and_rate(tmp_path, checkpoint):
  src, npz = str(tmp_path / "in.wav"), str(tmp_path / "c.npz")
  _tone(src, 16000, 1)
  assert _run("encode", src, npz, "--checkpoint", checkpoint).returncode == 0
  out = str(tmp_path / "out.flac")
  r = _run("decode", npz, out, "--checkpoint", checkpoint, "--subtype", "PCM_16",
           "--sample-rate", "8000")
  assert r.returncode == 0, r.stderr
  info = soundfile.info(out)
  assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 8000)


def _assert_one_line_error(result, *words):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error:")]
  assert len(lines) == 1, result.stderr
  for w in words:
    assert w in lines[0], lines[0]


def test_bad_inputs_give_one_line_errors(tmp_path, checkpoint):
  missing = str(tmp_path / "missing.wav")
  _assert_one_line_error(_run("encode", missing, "x.npz", "--checkpoint", checkpoint),
                         "missing.wav", "no such file")
  empty = tmp_path / "empty.wav"
  soundfile.write(str(empty), np.zeros((0, 1)), 16000)
  _assert_one_line_error(_run("encode", str(empty), "x.npz", "--checkpoint", checkpoint),
                         "empty.wav", "no samples")
  text = tmp_path / "text.wav"
  text.write_text("not audio at all")
  _assert_one_line_error(_run("encode", str(text), "x.npz", "--checkpoint", checkpoint),
                         "text.wav", "cannot read audio")
  good = str(tmp_path / "good.wav")
  _tone(good, 16000, 1)
  _assert_one_line_error(_run("encode", good, "x.npz", "--checkpoint", str(tmp_path / "none")),
                         "checkpoint")
  _assert_one_line_error(_run("encode", good, "x.npz", "--checkpoint", checkpoint,
                              "--bandwidth", "5"), "bandwidth")
  _assert_one_line_error(_run("decode", good, "x.wav", "--checkpoint", checkpoint),
                         "good.wav")


def test_as_separate_processes(tmp_path, checkpoint):
  """The real command lines: exit codes and stderr of a fresh interpreter."""
  src, npz = str(tmp_path / "in.wav"), str(tmp_path / "c.npz")
  _tone(src, 16000, 1)
  r = _run_process("encode", src, npz, "--checkpoint", checkpoint)
  assert r.returncode == 0, r.stderr
  _assert_one_line_error(_run_process("encode", str(tmp_path / "nope.wav"), npz,
                                      "--checkpoint", checkpoint), "nope.wav")
  r = _run_process("encodec", "--from", str(tmp_path), "--to", str(tmp_path / "out"),
                   script="convert.py")
  _assert_one_line_error(r, "config.json")
