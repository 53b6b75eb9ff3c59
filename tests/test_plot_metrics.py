"""scripts/plot_metrics.py: the README's training curves from a run's metrics.jsonl."""
import json
import os
import runpy

from script_helpers import ROOT, run_in_process
from soundgen_jax.training import metrics

SCRIPT = os.path.join(ROOT, "scripts", "plot_metrics.py")


def test_plots_losses_and_the_highest_bitrates_eval(tmp_path):
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)
  records = [{"step": s, "loss": 5.0 / s, "l_t": 0.1, "l_sisnr": 2.0 - s} for s in (1, 2, 3)]
  records += [{"step": 2, "loss": 9.0}]  # a resumed run logs step 2 again
  records += [{"step": 3, **{f"eval/{bw}kbps/{m}": 0.5 for bw in (1.5, 3.0)
                             for m in ("si_snr", "mel_distance")}}]
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in records))

  script = runpy.run_path(SCRIPT)
  read = metrics.read_metrics(workdir)
  assert script["series"](read, "loss") == ([1, 2, 3], [5.0, 9.0, 5.0 / 3])
  assert script["default_eval_keys"](read) == ["3.0kbps/si_snr", "3.0kbps/mel_distance"]
  out = str(tmp_path / "docs" / "curve.png")
  result = run_in_process(SCRIPT, workdir, "--out", out)  # l_sisnr goes below 0: symlog axis
  assert result.returncode == 0, result.stderr
  with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_missing_run_is_one_clear_error(tmp_path):
  result = run_in_process(SCRIPT, str(tmp_path / "nowhere"))
  assert result.returncode == 2
  assert "metrics.jsonl: no such file" in result.stderr
