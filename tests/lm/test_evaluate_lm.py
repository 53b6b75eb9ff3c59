"""scripts/evaluate_lm.py on the tiny random model: every row of the table, the JSON and the
spectrogram grid (the figures themselves are the evidence run's, not asserted here)."""
import json
import os

import pytest

import lm_helpers as h
from script_helpers import ROOT, run_in_process

SCRIPT = os.path.join(ROOT, "scripts", "evaluate_lm.py")
ROWS = ("real clips", "codec round trip", "generated, CFG 2", "generated, CFG 3",
        "generated, no CFG", "shuffled captions (chance)")


def test_writes_the_adherence_table(tmp_path_factory, tmp_path):
  model = h.shared_model_dir(tmp_path_factory)
  run = run_in_process(SCRIPT, "--model", model, "--examples", "3", "--batch-size", "3",
                       "--temperature", "0.3", "--cfg", "2,3", "--out", str(tmp_path))
  assert run.returncode == 0, run.stderr[-3000:]
  with open(tmp_path / "adherence.json") as f:
    result = json.load(f)
  assert tuple(result["table"]) == ROWS
  for row in result["table"].values():
    assert 0.0 <= row["adherence"] <= 1.0
  assert result["seconds"] == h.MAX_DURATION
  assert result["decoding"] == "top-k 250 sampling, temperature 0.3"
  assert result["chance_of"] == "generated, CFG 2"  # the first --cfg
  table = result["table"]
  for name in ("generated, CFG 2", "generated, CFG 3"):  # each paired with no CFG
    row = table[name]
    assert row["baseline"] == "generated, no CFG"
    for metric in ("adherence", "checks_passed"):
      gain = row[metric] - table["generated, no CFG"][metric]
      assert row[f"{metric}_over_baseline"] == pytest.approx(gain)
      assert len(row[f"{metric}_over_baseline_95"]) == 2
    assert f"{name} minus generated, no CFG, checks passed" in run.stdout
  for name in ("real clips", "codec round trip", "generated, no CFG",
               "shuffled captions (chance)"):
    assert "baseline" not in table[name], name
  assert (tmp_path / "spectrograms.png").stat().st_size > 1000
  assert all(name in run.stdout for name in ROWS)


def test_bad_input_is_one_line(tmp_path):
  for args in (["--model", str(tmp_path / "nowhere")], ["--model", ".", "--cfg", "2,x"],
               ["--model", ".", "--cfg", "1"], ["--model", ".", "--cfg", "2,2"],
               ["--model", ".", "--temperature", "0"]):
    run = run_in_process(SCRIPT, *args, "--out", str(tmp_path))
    assert run.returncode == 2, args
    assert run.stderr.count("error:") == 1 and "Traceback" not in run.stderr, run.stderr
