"""bench/codec_layers.py: the per-layer comparison the README's speed analysis cites."""
import os
import re

from script_helpers import ROOT, run_in_process

SCRIPT = os.path.join(ROOT, "bench", "codec_layers.py")


def test_times_every_layer_of_both_sides_and_checks_they_agree():
  result = run_in_process(SCRIPT, "--seconds", "0.5", "--repeats", "1")
  assert result.returncode == 0, result.stderr
  rows = [line.split() for line in result.stdout.splitlines()
          if re.match(r"(encoder|decoder)\.\d+ ", line)]
  assert len(rows) == 32  # 16 SEANet layers each side of the 24 kHz model
  assert all(float(row[-1]) > 0 for row in rows)  # ref/ours ratio of two measured times
  lstm = [row for row in rows if row[1] == "LSTMBlock"]
  assert len(lstm) == 2 and all(float(row[-6]) > 0 for row in lstm)  # XLA counted its FLOPs
  err = float(re.search(r"agree to (\S+) of peak", result.stdout).group(1))
  assert err < 1e-4
