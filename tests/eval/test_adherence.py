"""Caption-adherence checker: recovers corpus attributes, rejects wrong ones, survives noise."""
import collections
import copy

import numpy as np
import pytest
import soxr

from soundgen_jax.data.corpora import synthetic
from soundgen_jax.eval import adherence as ad
from soundgen_jax.eval import adherence_table

SR = 24000


@pytest.fixture(scope="module")
def clean():
  """120 test-split clips: 12 of each 10-kind cycle (36 notes, 24 sequences, 12 of the rest)."""
  c = synthetic.SyntheticCorpus(sample_rate=SR, duration=4.0, seed=0)
  return [c.example("test", i) for i in range(120)]


def _accuracy(examples, transform=lambda x, i: x, label=""):
  """Per-kind and overall share of examples whose every check passes (printed for -s)."""
  per_kind, failed = collections.defaultdict(list), collections.Counter()
  for i, e in enumerate(examples):
    result = ad.score(transform(e["audio"][0].astype(np.float64), i), SR, e["attributes"])
    per_kind[e["attributes"]["kind"]].append(result["match"])
    failed.update(name for name, ok in result["checks"].items() if not ok)
  overall = float(np.mean([m for v in per_kind.values() for m in v]))
  kinds = ", ".join(f"{k} {np.mean(v):.3f} ({len(v)})" for k, v in sorted(per_kind.items()))
  print(f"\nadherence {label}: overall {overall:.3f} over {len(examples)}; {kinds}; "
        f"failed checks {dict(failed)}")
  return overall, {k: float(np.mean(v)) for k, v in per_kind.items()}


def _add_noise(x, i, snr_db=20.0):
  noise = np.random.default_rng(i).standard_normal(len(x))
  return x + noise * np.sqrt(np.mean(x ** 2) / 10 ** (snr_db / 10))


def test_recovers_clean_corpus(clean):
  overall, per_kind = _accuracy(clean, label="clean")
  assert overall >= 0.95
  assert min(per_kind.values()) >= 0.85, per_kind
  assert ad.adherence(clean[:10]) == pytest.approx(
      np.mean([ad.score(e["audio"], SR, e["attributes"])["match"] for e in clean[:10]]))


def test_robust_to_noise_at_20db(clean):
  overall, _ = _accuracy(clean[:60], _add_noise, label="white noise at 20 dB SNR")
  assert overall >= 0.9


def test_robust_to_detune_and_band_limit(clean):
  def degrade(x, i):
    if i % 2:  # 30 cents sharp (and 1.7% faster): a slightly detuned rendition.
      return soxr.resample(x, SR * 2 ** (0.3 / 12), SR)
    return soxr.resample(soxr.resample(x, SR, 12000), 12000, SR)  # A 6 kHz band limit.
  overall, _ = _accuracy(clean[60:100], degrade, label="detuned or band-limited")
  assert overall >= 0.9


def _perturb(a, rng, in_mix=False):
  """A copy of attributes `a` with one checked attribute made wrong (in a mix the
  foreground's instrument is not checked, so it is not changed there)."""
  a = copy.deepcopy(a)
  kind = a["kind"]
  if kind == "note":
    what = rng.choice(["pitch"] if in_mix else ["pitch", "instrument", "loudness"]
                      if "loudness" in a else ["pitch", "instrument"])
    if what == "pitch":
      a["midi"] += int(rng.choice([-12, -2, -1, 1, 2, 12]))
      a["pitch"] = synthetic.midi_to_note(a["midi"])
    elif what == "instrument":
      a["instrument"] = str(rng.choice([i for i in synthetic.INSTRUMENTS
                                        if i != a["instrument"]]))
    else:
      a["loudness"] = "soft" if a["loudness"] == "loud" else "loud"
  elif kind == "chord":
    if rng.random() < 0.5:
      a["quality"] = "minor" if a["quality"] == "major" else "major"
    else:
      a["root"] = synthetic.NOTE_NAMES[(synthetic.pitch_class(a["root"])
                                        + int(rng.integers(1, 12))) % 12]
  elif kind == "drums":
    a["tempo"] = int(round(a["tempo"] * rng.choice([0.5, 0.8, 0.9, 1.1, 1.25, 2.0])))
  elif kind == "noise":
    key, values = (("envelope", synthetic.ENVELOPES) if "envelope" in a and rng.random() < 0.5
                   else ("colour", synthetic.COLOURS))
    a[key] = str(rng.choice([v for v in values if v != a[key]]))
  elif kind == "siren":
    a["direction"] = "falling" if a["direction"] == "rising" else "rising"
  elif kind == "sequence" and rng.random() < 0.5:
    a["parts"] = a["parts"][::-1]  # The wrong order.
    a["order"] = a["order"][::-1]
  else:  # A composition with one part wrong.
    j = int(rng.integers(2))
    a["parts"][j] = _perturb(a["parts"][j], rng, in_mix=kind == "mix")
  return a


def test_rejects_wrong_attributes(clean):
  rng = np.random.default_rng(0)
  rejected = collections.defaultdict(list)
  for e in clean[:80]:
    wrong = _perturb(e["attributes"], rng)
    assert wrong != e["attributes"]
    rejected[e["attributes"]["kind"]].append(not ad.score(e["audio"], SR, wrong)["match"])
  overall = float(np.mean([r for v in rejected.values() for r in v]))
  print(f"\nrejection of one wrong attribute: overall {overall:.3f}; " + ", ".join(
      f"{k} {np.mean(v):.3f} ({len(v)})" for k, v in sorted(rejected.items())))
  assert overall >= 0.95


def test_named_mismatches():
  note = synthetic.SyntheticCorpus(SR, 4.0, seed=1, kinds=["note"])
  ex = next(e for e in note.examples("train") if e["attributes"]["instrument"] == "flute")
  a = dict(ex["attributes"], pitch="A4", midi=69)
  assert ad.score(ex["audio"], SR, ex["attributes"])["match"]
  c5 = ad.score(ex["audio"], SR, dict(a, pitch="C5", midi=72))
  assert not c5["match"] and not c5["checks"]["pitch"]
  noise = synthetic.SyntheticCorpus(SR, 4.0, seed=1, kinds=["noise"])
  pink = next(e for e in noise.examples("train") if e["attributes"]["colour"] == "pink")
  assert ad.score(pink["audio"], SR, pink["attributes"])["match"]
  white = ad.score(pink["audio"], SR, dict(pink["attributes"], colour="white"))
  assert not white["match"] and not white["checks"]["colour"]
  # The right attributes on the wrong kind of sound.
  assert not ad.score(pink["audio"], SR, ex["attributes"])["match"]
  assert not ad.score(ex["audio"], SR, pink["attributes"])["match"]


def test_estimators_on_plain_signals():
  """The estimators read waveforms that the corpus did not make."""
  rng = np.random.default_rng(0)
  t = np.arange(3 * SR) / SR
  # A sawtooth-like tone at 220 Hz (A3) and a pure sine at 440 Hz (A4), slightly sharp.
  saw = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 10))
  assert abs(ad.estimate_pitch(saw, SR) - 57) < 0.1
  assert abs(ad.estimate_pitch(np.sin(2 * np.pi * 446 * t), SR) - 69.24) < 0.1
  assert ad.estimate_pitch(rng.standard_normal(len(t)), SR) is None
  # Decaying noise bursts at 100 BPM.
  beat = np.zeros(len(t))
  burst = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
  for start in np.arange(0.05, 2.9, 0.6):
    beat[int(start * SR): int(start * SR) + 2000] += burst
  assert abs(ad.estimate_tempo(beat, SR)[0] - 100) < 2
  # Integrated white noise is brown (-6 dB / octave); white is flat.
  white = rng.standard_normal(len(t))
  brown = np.cumsum(white)
  brown -= np.convolve(brown, np.ones(2001) / 2001, mode="same")  # Remove the drift.
  assert ad.estimate_colour(white, SR)[0] == "white"
  assert ad.estimate_colour(brown, SR)[0] == "brown"
  assert ad.estimate_envelope(white * np.linspace(0, 1, len(t)), SR)[0] == "fade_in"
  # A linear chirp 500 -> 900 Hz rises, its reverse falls.
  chirp = np.sin(2 * np.pi * (500 * t + 400 / 6 * t ** 2))
  assert ad.estimate_direction(chirp, SR)[0] == "rising"
  assert ad.estimate_direction(chirp[::-1], SR)[0] == "falling"
  # A C major triad of sines.
  triad = sum(np.sin(2 * np.pi * synthetic.midi_to_hz(m) * t) for m in (60, 64, 67))
  assert ad.estimate_chord(triad, SR) == (0, "major")
  assert ad.classify(triad, SR) == "tonal" and ad.classify(white, SR) == "noise"
  assert ad.classify(beat, SR) == "drums" and ad.classify(chirp, SR) == "siren"


def test_silent_short_and_stereo_input(clean):
  a = clean[0]["attributes"]
  for audio in (np.zeros((1, 4 * SR)), np.zeros(0), clean[0]["audio"][:, :100]):
    result = ad.score(audio, SR, a)
    assert not result["match"] and not result["checks"]["audible"]
  stereo = np.concatenate([clean[0]["audio"]] * 2)
  assert ad.score(stereo, SR, a)["match"]
  by_kind = ad.adherence_by_kind(clean[:10])
  assert set(by_kind) == set(synthetic.KINDS)
  with pytest.raises(ValueError, match="at least one"):
    ad.adherence([])


def test_chance_to_ceiling_interval_holds_the_estimate_and_narrows_with_clips():
  rng = np.random.default_rng(0)

  def draw(n):  # per-clip shares of checks passed: chance 0.4, generated 0.55, ceiling 0.7
    return [np.clip(rng.normal(m, 0.3, n), 0, 1) for m in (0.55, 0.4, 0.7)]

  spans = []
  for n in (256, 4096):
    row, chance, ceiling = draw(n)
    point = (np.mean(row) - np.mean(chance)) / (np.mean(ceiling) - np.mean(chance))
    lo, hi = adherence_table.interval(row, chance, ceiling)
    assert lo < point < hi
    spans.append(hi - lo)
  assert spans[1] < 0.5 * spans[0]
  assert adherence_table.interval([1.0, 1.0], [0.5, 0.5], [0.5, 0.5]) is None  # no headroom


def test_paired_difference_sees_a_gain_the_row_intervals_do_not():
  rng = np.random.default_rng(0)
  base = rng.uniform(0.2, 0.8, 512)  # per-clip shares of the same captions' checks
  better = base + rng.normal(0.01, 0.02, 512)
  gain, (lo, hi) = adherence_table.difference(better, base)
  assert lo < gain < hi and lo > 0  # paired: the 1-point gain is clear
  assert hi - lo < 0.01  # unpaired resampling would span ~0.04 (the clips' own spread)
  ceiling, chance = np.full(512, 0.9), np.full(512, 0.1)
  b_lo, b_hi = adherence_table.interval(base, chance, ceiling)
  g_lo, g_hi = adherence_table.interval(better, chance, ceiling)
  assert g_lo < b_hi  # unpaired, the two rows' intervals overlap
  assert adherence_table.difference(base, base) == (0.0, [0.0, 0.0])
