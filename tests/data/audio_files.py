"""Small real audio folders and manifests for the data tests, including malformed files.

A helper module (not a conftest), imported by the tests/data/test_*.py files that need it.
"""
import json
import os

import numpy as np
import soundfile

RATE = 8000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, channels: int = 1,
         amp: float = 0.5) -> np.ndarray:
  t = np.arange(int(seconds * rate)) / rate
  x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
  return np.stack([x] * channels, axis=1)


def write_good(folder: str, n: int, seconds: float = 0.4) -> list[str]:
  """n good clips of different pitches, rates and channel counts."""
  paths = []
  for i in range(n):
    rate = (RATE, 16000)[i % 2]
    path = os.path.join(folder, f"clip_{i:02d}.{('wav', 'flac')[i % 2]}")
    soundfile.write(path, tone(seconds, 200 + 50 * i, rate, channels=1 + i % 2), rate)
    paths.append(path)
  return paths


def write_bad(folder: str) -> dict[str, str]:
  """One malformed file per reason, named by the reason the manifest module gives it."""
  good = os.path.join(folder, "_good_source.wav")
  soundfile.write(good, tone(0.5), RATE, subtype="PCM_16")
  data = open(good, "rb").read()
  os.remove(good)
  files = {}

  def put(reason, name, payload):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
      f.write(payload)
    files[reason] = path

  put("empty", "empty.wav", b"")
  put("truncated", "truncated.wav", data[:len(data) // 2])
  put("wrong_format", "notes.wav", b"this is a text file, not audio\n" * 4)
  # A RIFF/WAVE header whose fmt chunk is garbage.
  put("corrupt", "corrupt.wav", data[:12] + b"fmt " + (16).to_bytes(4, "little")
      + bytes(range(200, 216)) + data[36:])
  silent = os.path.join(folder, "silent.wav")
  soundfile.write(silent, np.zeros((RATE // 2, 1), np.float32), RATE)
  files["silent"] = silent
  nan = tone(0.5)
  nan[::50] = np.nan  # throughout, so that every crop holds some
  nan_path = os.path.join(folder, "nan.wav")
  soundfile.write(nan_path, nan, RATE, subtype="FLOAT")
  files["nan"] = nan_path
  short = os.path.join(folder, "short.wav")
  soundfile.write(short, tone(0.005), RATE)  # shorter than min_seconds (and a codec frame)
  files["too_short"] = short
  return files


def make_audio_folder(tmp_path):
  """A folder of 6 good clips."""
  folder = tmp_path / "audio"
  folder.mkdir()
  write_good(str(folder), 6)
  return str(folder)


def make_bad_manifest(tmp_path):
  """A text-audio manifest (all train) with 4 good clips and one entry per bad reason."""
  folder = tmp_path / "corpus"
  folder.mkdir()
  good = write_good(str(folder), 4)
  bad = write_bad(str(folder))
  lines = [json.dumps({"path": os.path.basename(p), "caption": f"tone {i}", "split": "train"})
           for i, p in enumerate(good)]
  lines += [json.dumps({"path": os.path.basename(p), "caption": reason, "split": "train"})
            for reason, p in bad.items()]
  lines.append(json.dumps({"path": "not_there.wav", "caption": "missing", "split": "train"}))
  lines.append(json.dumps({"path": os.path.basename(good[0]), "caption": "  ",
                           "split": "train"}))
  lines.append("this line is not json")
  path = folder / "manifest.jsonl"
  raw = "\n".join(lines).encode() + b"\n"
  # A caption that is not valid UTF-8.
  raw += b'{"path": "' + os.path.basename(good[1]).encode() + \
      b'", "caption": "caf\xe9 noise", "split": "train"}\n'
  path.write_bytes(raw)
  return str(path), len(good), sorted(bad) + ["missing"]
