"""Caption adherence: recover stated attributes from a waveform and check them.

The estimators look only at the waveform, never at the attributes, so they can judge
generated audio, codec round trips or recordings against a caption's attributes. The
vocabulary is that of the `synthetic` corpus (`soundgen_jax.data.corpora.synthetic`):
notes, chords, drum beats, coloured noise, sirens, "X followed by Y" and "X over Y".
Tolerances are the module constants below. What is recovered, and when it matches:

  pitch      f0 by harmonic-sum salience on a 10-cent grid (C2..C7), mode over the voiced
             frames; within PITCH_TOLERANCE (half a semitone) of the stated note, so the
             neighbouring note and a wrong octave fail and a 30-cent detune passes.
  loudness   RMS dBFS of the loudest 50 ms: "loud" above LOUD_DBFS, else "soft".
  instrument decay rate, inharmonic share and upper-harmonic share of the note, in a small
             decision tree for the corpus's five timbres.
  chord      root pitch class and quality from a chromagram of spectral peaks, matched
             against harmonic triad templates (the octave is not checked).
  tempo      autocorrelation of a kick / snare onset envelope; the shortest strong period in
             TEMPO_RANGE; within TEMPO_TOLERANCE (4%).
  colour     slope of the noise floor (dB / octave, 100..1600 Hz), nearest of white 0,
             pink -3, brown -6.
  envelope   last quarter against first quarter: beyond +-ENVELOPE_DB is a fade in / out.
  direction  Theil-Sen slope of the voiced pitch track; a sweep of SWEEP_SEMITONES or more.
  kind       coarse class (tonal, siren, drums, noise) from tonality, hit rate and sweep;
             checked for single clips and for each side of a sequence ("order").
  sequence   "X followed by Y": split at the least-squares change point in the middle 40%,
             a MARGIN share of the clip left out on each side; each side must be of its
             part's class ("order") and match its part's attributes ("first.*", "second.*").
  mix        "X over Y": the foreground's pitch / chord / direction and the background's
             tempo / colour, on the whole clip (instrument and background presence are not
             checked: the other part masks them).

Every clip must also be "audible": at least MIN_SECONDS long, loudest 50 ms above
SILENCE_DBFS. The estimators need a few beats or pitch frames: use clips of 3 s or more.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import scipy.ndimage
import scipy.signal
import scipy.stats

from soundgen_jax.data.corpora import synthetic

PITCH_TOLERANCE = 0.5  # Semitones between recovered f0 and the stated note.
TEMPO_TOLERANCE = 0.04  # Relative tempo error.
LOUD_DBFS = -17.0  # Loudest-frame RMS above which a clip is "loud".
ENVELOPE_DB = 6.0  # Level change between first and last quarter that makes a fade.
SWEEP_SEMITONES = 2.0  # Pitch change that makes a siren rising / falling.
COLOUR_SLOPES = {"white": 0.0, "pink": -3.0, "brown": -6.0}  # dB / octave.
TEMPO_RANGE = (50.0, 220.0)  # BPM searched.
ATTACK_DB = 6.0  # Rise of the level above 1 kHz within 40 ms that counts as a hit.
HITS_PER_SECOND = 1.0  # Hit rate (and at least 2 hits) that makes a clip drums.
TONALITY = 0.4  # Peak power share above which a clip is tonal (else noise).
INHARMONIC = 0.1  # Share of partial power off the harmonic series that makes a bell.
SUSTAIN_DB_PER_S = 3.0  # Decay below which a note is sustained (organ, flute).
PLUCK_DB_PER_S = 22.0  # Decay above which a decaying harmonic note is a pluck, not a piano.
UPPER_HARMONICS = 0.25  # Share of harmonics 2+ above which a sustained note is an organ.
MARGIN = 0.06  # Share of the clip left out on each side of a sequence's split point.
SILENCE_DBFS = -60.0  # Loudest 50 ms RMS below which a clip counts as silent.
MIN_SECONDS = 0.5  # Shorter clips are not analysed (they fail "audible").
VOICED = 0.7  # Harmonicity above which a frame is voiced (noise < 0.6, tones > 0.85).
_MIDI_GRID = np.arange(36.0, 96.0 + 1e-6, 0.1)  # C2..C7 in 10-cent steps.
_HARMONICS = 8


def _mono(audio: np.ndarray) -> np.ndarray:
  audio = np.asarray(audio, dtype=np.float64)
  return audio.mean(axis=0) if audio.ndim == 2 else audio


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
  """[frames, size] views; the signal is zero-padded so every sample is in some frame."""
  pad = (-(len(x) - size) % hop) if len(x) > size else size - len(x)
  x = np.pad(x, (0, pad))
  return np.lib.stride_tricks.sliding_window_view(x, size)[::hop]


def _pow2(seconds: float, sr: int) -> int:
  return int(2 ** np.ceil(np.log2(seconds * sr)))


def _spectrogram(x: np.ndarray, sr: int, seconds: float, hop_seconds: float, oversample=1):
  """Magnitudes [frames, bins] of Hann-windowed frames, bin frequencies, frame hop (s)."""
  size = _pow2(seconds, sr)
  hop = max(1, int(hop_seconds * sr))
  frames = _frames(x, size, hop) * np.hanning(size)
  mag = np.abs(np.fft.rfft(frames, n=size * oversample, axis=-1))
  return mag, np.fft.rfftfreq(size * oversample, 1.0 / sr), hop / sr


def _db(power: np.ndarray) -> np.ndarray:
  return 10.0 * np.log10(np.maximum(power, 1e-12))


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray | float:
  return 69.0 + 12.0 * np.log2(np.maximum(hz, 1e-9) / 440.0)


# ---------------------------------------------------------------------------- pitch


def pitch_track(x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
  """Per-frame f0 (MIDI), harmonicity (0..1) and level (dB) from ~85 ms frames.

  Salience of a candidate f0 is the sum of compressed spectral magnitudes at its first
  harmonics with decaying weights, which prefers the true f0 over its sub-octave (missing
  odd harmonics) and its octave (missing the fundamental).
  """
  mag, freqs, hop_s = _spectrogram(x, sr, 0.08, 0.02, oversample=4)
  df = freqs[1]
  power = mag ** 2
  level = _db(power.sum(-1))
  comp = (mag / (mag.max(-1, keepdims=True) + 1e-12)) ** 0.75
  f_cand = synthetic.midi_to_hz(_MIDI_GRID)
  sal = np.zeros((len(mag), len(f_cand)))
  for h in range(1, _HARMONICS + 1):
    f = h * f_cand
    ok = f < 0.45 * sr
    idx = np.minimum(f / df, len(freqs) - 2)
    lo = np.floor(idx).astype(int)
    frac = idx - lo
    val = comp[:, lo] * (1 - frac) + comp[:, lo + 1] * frac
    sal += 0.8 ** (h - 1) * val * ok
  best = sal.argmax(-1)
  # Parabolic refinement on the 10-cent grid.
  i = np.clip(best, 1, len(f_cand) - 2)
  rows = np.arange(len(sal))
  a, b, c = sal[rows, i - 1], sal[rows, i], sal[rows, i + 1]
  shift = np.clip(0.5 * (a - c) / np.where(np.abs(a - 2 * b + c) > 1e-12, a - 2 * b + c, 1),
                  -0.5, 0.5)
  midi = _MIDI_GRID[i] + 0.1 * shift
  # Harmonicity: share of power (50 Hz .. top harmonic) within one window bin of a harmonic
  # of the chosen f0, beyond the share a smooth spectrum would put there (the power
  # averaged over 2 f0 around each bin), rescaled so a smooth spectrum scores 0, a pure
  # harmonic one 1.
  f0 = synthetic.midi_to_hz(midi)[:, None]
  power, freqs = power[:, ::2], freqs[::2]  # Half-bin steps are fine enough here.
  h_of = freqs[None, :] / f0
  # Within one window bin, or 3% (a gliding tone smears) but at most a quarter of f0.
  tolerance = np.minimum(np.maximum(4 * df, 0.03 * freqs[None, :]), 0.25 * f0)
  near = np.abs(freqs[None, :] - np.round(h_of) * f0) <= tolerance
  top = np.minimum((_HARMONICS + 0.5) * f0, 0.45 * sr)
  band = (freqs[None, :] >= 50.0) & (freqs[None, :] <= top)
  near &= band & (np.round(h_of) >= 1)
  width = np.round(f0 / (2 * df)).astype(int)  # Half the smoothing box, in half bins.
  csum = np.pad(np.cumsum(power, -1), ((0, 0), (1, 0)))
  cols = np.arange(len(freqs))[None, :]
  hi_idx = np.minimum(cols + width + 1, len(freqs))
  lo_idx = np.maximum(cols - width, 0)
  smooth = ((np.take_along_axis(csum, hi_idx, -1) - np.take_along_axis(csum, lo_idx, -1))
            / (hi_idx - lo_idx))
  total = np.maximum((power * band).sum(-1), 1e-20)
  share = (power * near).sum(-1) / total
  expected = (smooth * near).sum(-1) / np.maximum((smooth * band).sum(-1), 1e-20)
  harmonicity = np.clip((share - expected) / np.maximum(1 - expected, 1e-6), 0.0, 1.0)
  times = np.arange(len(mag)) * hop_s
  return {"times": times, "midi": midi, "harmonicity": harmonicity, "level": level}


def _voiced(track: dict[str, np.ndarray], floor_db: float = 20.0) -> np.ndarray:
  loud = track["level"] >= track["level"].max() - floor_db
  return loud & (track["harmonicity"] >= VOICED)


def estimate_pitch(x: np.ndarray, sr: int, track: dict | None = None) -> float | None:
  """The prevailing f0 of the clip in (fractional) MIDI, or None if nothing is voiced."""
  track = pitch_track(x, sr) if track is None else track
  voiced = _voiced(track)
  if voiced.sum() < 2:
    return None
  midi = track["midi"][voiced]
  weight = track["harmonicity"][voiced] * 10 ** (track["level"][voiced] / 20)
  notes = np.round(midi).astype(int)
  votes = np.bincount(notes - notes.min(), weights=weight)
  mode = notes.min() + int(votes.argmax())
  near = np.abs(midi - mode) <= 1.0
  return float(np.median(midi[near]))


def estimate_direction(x: np.ndarray, sr: int, track: dict | None = None
                       ) -> tuple[str, float]:
  """("rising" | "falling" | "steady", semitones swept) from the voiced pitch track."""
  track = pitch_track(x, sr) if track is None else track
  voiced = _voiced(track)
  if voiced.sum() < 4:
    return "steady", 0.0
  t, m = track["times"][voiced], track["midi"][voiced]
  slope = scipy.stats.theilslopes(m, t)[0]
  swept = float(slope * (t[-1] - t[0]))
  if swept >= SWEEP_SEMITONES:
    return "rising", swept
  if swept <= -SWEEP_SEMITONES:
    return "falling", swept
  return "steady", swept


# ---------------------------------------------------------------------------- chords


def _triad_templates() -> tuple[np.ndarray, list[tuple[int, str]]]:
  """Chroma of a triad's notes with harmonics 1..6 at amplitude 0.6^(h-1), all 24 triads."""
  templates, names = [], []
  for quality, third in (("major", 4), ("minor", 3)):
    for root in range(12):
      chroma = np.zeros(12)
      for note in (root, root + third, root + 7):
        for h in range(1, 7):
          chroma[int(round(note + 12 * np.log2(h))) % 12] += 0.6 ** (h - 1)
      templates.append(chroma)
      names.append((root, quality))
  return np.array(templates), names


_TEMPLATES, _TEMPLATE_NAMES = _triad_templates()


def chromagram(x: np.ndarray, sr: int) -> np.ndarray:
  """12 pitch-class magnitudes of the clip (55 Hz .. 5 kHz, loud frames only)."""
  mag, freqs, _ = _spectrogram(x, sr, 0.18, 0.05)
  level = _db((mag ** 2).sum(-1))
  spectrum = mag[level >= level.max() - 20].mean(0)
  band = (freqs >= 55.0) & (freqs <= min(5000.0, 0.45 * sr))
  # Keep spectral peaks above the broadband floor, so noise adds little.
  floor = np.median(spectrum[band])
  peaks = scipy.signal.find_peaks(spectrum * band, height=4 * floor)[0]
  classes = np.round(hz_to_midi(freqs[peaks])).astype(int) % 12
  return np.bincount(classes, weights=spectrum[peaks], minlength=12)


def estimate_chord(x: np.ndarray, sr: int) -> tuple[int, str] | None:
  """(root pitch class 0..11, "major" | "minor") of the best triad template, or None."""
  chroma = chromagram(x, sr)
  if not chroma.any():
    return None
  c = chroma - chroma.mean()
  t = _TEMPLATES - _TEMPLATES.mean(-1, keepdims=True)
  similarity = t @ c / (np.linalg.norm(t, axis=-1) * np.linalg.norm(c) + 1e-12)
  return _TEMPLATE_NAMES[int(similarity.argmax())]


# ---------------------------------------------------------------------------- rhythm


def onset_envelope(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
  """Positive log-spectral flux in 30..200 Hz and 200..2000 Hz, 5 ms hop.

  Each band's flux is scaled to unit peak before summing, so kick (low band) and snare (mid
  band) weigh alike; hi-hats (above 2 kHz) are left out, so the envelope pulses on beats.
  """
  mag, freqs, hop_s = _spectrogram(x, sr, 0.025, 0.005)
  logmag = np.log1p(1000.0 * mag / (mag.max() + 1e-12))
  flux = np.maximum(np.diff(logmag, axis=0), 0.0)
  env = np.zeros(len(flux))
  for lo, hi in ((30.0, 200.0), (200.0, 2000.0)):
    band = flux[:, (freqs >= lo) & (freqs < hi)].sum(-1)
    env += band / (band.max() + 1e-12)
  return env, hop_s


def estimate_tempo(x: np.ndarray, sr: int) -> tuple[float | None, float]:
  """(BPM or None, periodicity 0..1) from the onset envelope's autocorrelation.

  Takes the shortest lag whose peak is at least 0.6 of the strongest peak in TEMPO_RANGE
  (so a kick-to-kick period does not beat the kick-to-snare beat), then refines the period
  with the peaks at its multiples.
  """
  env, hop_s = onset_envelope(x, sr)
  env = env - env.mean()
  if len(env) < 8 or not np.any(env):
    return None, 0.0
  ac = np.correlate(env, env, "full")[len(env) - 1:]
  ac = ac / (ac[0] + 1e-12) / (1 - np.arange(len(ac)) / len(ac))  # Unbiased.
  lo, hi = int(60 / TEMPO_RANGE[1] / hop_s), int(60 / TEMPO_RANGE[0] / hop_s)
  hi = min(hi, len(ac) * 2 // 3)
  if hi <= lo + 2:
    return None, 0.0
  peaks = scipy.signal.find_peaks(ac[: hi + 1])[0]
  peaks = peaks[peaks >= lo]
  if not len(peaks):
    return None, 0.0
  strongest = ac[peaks].max()
  if strongest <= 0:
    return None, 0.0
  lag = int(peaks[ac[peaks] >= 0.6 * strongest][0])
  periods = []
  for k in range(1, 9):
    guess = k * lag
    if guess + 2 >= len(ac) * 2 // 3:
      break
    j = guess - 2 + int(np.argmax(ac[guess - 2: guess + 3]))
    if 0 < j < len(ac) - 1:
      a, b, c = ac[j - 1], ac[j], ac[j + 1]
      den = a - 2 * b + c
      j = j + (0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0)
    periods.append(j / k)
  if not periods:
    return None, 0.0
  return float(60.0 / (np.median(periods) * hop_s)), float(strongest)


# ---------------------------------------------------------------------------- noise


def spectral_slope(x: np.ndarray, sr: int) -> float:
  """Power slope in dB / octave of the noise floor in the octave bands 100..1600 Hz.

  Long Blackman-Harris frames keep tonal partials narrow; a band's floor is the 20th
  percentile of its bins (partials of a tone or chord in the band are passed over), taken
  per loud frame, then the median over frames (so are drum hits).
  """
  size = _pow2(0.5, sr)
  frames = _frames(x, size, size // 4) * scipy.signal.get_window("blackmanharris", size)
  power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
  freqs = np.fft.rfftfreq(size, 1.0 / sr)
  level = _db(power.sum(-1))
  power = power[level >= level.max() - 10]
  edges = [100.0 * 2 ** k for k in range(5) if 100.0 * 2 ** k <= 0.45 * sr]
  bands = np.stack([_db(np.percentile(power[:, (freqs >= a) & (freqs < b)], 20, axis=-1))
                    for a, b in zip(edges[:-1], edges[1:])], -1)
  bands = np.median(bands - bands.mean(-1, keepdims=True), axis=0)
  return float(np.polyfit(np.arange(len(bands)), bands, 1)[0])


def estimate_colour(x: np.ndarray, sr: int) -> tuple[str, float]:
  slope = spectral_slope(x, sr)
  colour = min(COLOUR_SLOPES, key=lambda c: abs(COLOUR_SLOPES[c] - slope))
  return colour, slope


def _frame_levels(x: np.ndarray, sr: int, seconds: float, hop_seconds: float) -> np.ndarray:
  frames = _frames(x, max(1, int(seconds * sr)), max(1, int(hop_seconds * sr)))
  return _db(np.mean(frames ** 2, axis=-1))


def estimate_envelope(x: np.ndarray, sr: int) -> tuple[str, float]:
  """("steady" | "fade_in" | "fade_out", dB of the last quarter over the first)."""
  n = len(x)
  first, last = x[n // 20: n // 4], x[3 * n // 4: n - n // 20]
  change = float(_db(np.mean(last ** 2)) - _db(np.mean(first ** 2)))
  if change >= ENVELOPE_DB:
    return "fade_in", change
  if change <= -ENVELOPE_DB:
    return "fade_out", change
  return "steady", change


def estimate_loudness(x: np.ndarray, sr: int) -> tuple[str, float]:
  """("soft" | "loud", RMS dBFS of the loudest 50 ms frame)."""
  level = float(_frame_levels(x, sr, 0.05, 0.01).max())
  return ("loud" if level > LOUD_DBFS else "soft"), level


# ---------------------------------------------------------------------------- timbre


def estimate_instrument(x: np.ndarray, sr: int, midi: float) -> str:
  """One of the corpus instruments, from timbre_features (thresholds in the constants)."""
  f = timbre_features(x, sr, midi)
  if f["inharmonic"] >= INHARMONIC:
    return "bell"
  if f["decay"] < SUSTAIN_DB_PER_S:
    return "organ" if f["upper"] >= UPPER_HARMONICS else "flute"
  return "pluck" if f["decay"] >= PLUCK_DB_PER_S else "piano"


def timbre_features(x: np.ndarray, sr: int, midi: float) -> dict[str, float]:
  """Decay (dB / s), inharmonic share and upper-harmonic share of a note at f0 `midi`."""
  level = _frame_levels(x, sr, 0.03, 0.01)
  level = np.convolve(level, np.ones(5) / 5, mode="same")
  end = max(1, int(0.9 * len(level)))  # Leave out the release at the end of the clip.
  peak = int(np.argmax(level[:end]))
  below = np.nonzero(level[peak:end] < level[peak] - 20.0)[0]
  stop = peak + (below[0] if len(below) else end - peak)
  t = np.arange(peak, stop) * 0.01
  decay = -np.polyfit(t, level[peak:stop], 1)[0] if stop - peak >= 3 else 0.0
  # Partials of the first 0.3 s after the peak, against the harmonics of f0.
  start = int(peak * 0.01 * sr)
  seg = x[start: start + int(0.3 * sr)]
  size = _pow2(0.3, sr)
  spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=size * 2)) ** 2
  freqs = np.fft.rfftfreq(size * 2, 1.0 / sr)
  f0 = synthetic.midi_to_hz(midi)
  band = (freqs >= 0.75 * f0) & (freqs <= min(12 * f0, 0.45 * sr))
  floor = np.median(spectrum[band])
  peaks = scipy.signal.find_peaks(spectrum * band, height=max(100 * floor,
                                                            1e-4 * spectrum[band].max()))[0]
  ratio = freqs[peaks] / f0
  harmonic = np.abs(ratio - np.round(ratio)) <= 0.03 * np.maximum(np.round(ratio), 1)
  power = spectrum[peaks]
  total = power.sum() + 1e-20
  upper = power[harmonic & (np.round(ratio) >= 2)].sum() / total
  return {"decay": float(decay), "inharmonic": float(power[~harmonic].sum() / total),
          "upper": float(upper)}


# ---------------------------------------------------------------------------- kind


def kind_features(x: np.ndarray, sr: int, track: dict | None = None) -> dict[str, float]:
  """Features that tell tonal sounds, sirens, drum beats and noise apart.

  tonality: power share of sharp spectral peaks (30x above the local 20th percentile) in
    the loud frames; hits: sharp rises (ATTACK_DB within 40 ms) of the level above 1 kHz
    per second (hi-hat and snare hits; tones and noise have none but their onset); swept,
    rho: the pitch track's Theil-Sen sweep in semitones and its rank correlation with time.
  """
  mag, freqs, _ = _spectrogram(x, sr, 0.16, 0.04)
  power = mag ** 2
  level = _db(power.sum(-1))
  band = (freqs >= 50.0) & (freqs <= 0.45 * sr)
  p = power[level >= level.max() - 20.0][:, band]
  # Noise floor: 20th percentile of each block of 32 bins (~190 Hz at 24 kHz).
  blocks = p[:, : p.shape[1] // 32 * 32].reshape(len(p), -1, 32)
  floor = np.repeat(np.percentile(blocks, 20, axis=-1), 32, axis=-1)
  p = p[:, : floor.shape[1]]
  tonality = float((p * (p > 30 * floor)).sum() / (p.sum() + 1e-20))
  mag, freqs, _ = _spectrogram(x, sr, 0.02, 0.01)
  power = mag ** 2
  high = _db(power[:, freqs >= 1000.0].sum(-1))
  high = np.maximum(high, _db(power.sum(-1)).max() - 50.0)  # Ignore a negligible band.
  # Hits: the level rises by ATTACK_DB within 40 ms, even over a noise floor; a note's
  # single onset is one hit, a beat gives several per second (hits >= 100 ms apart).
  rise = high[4:] - np.minimum.reduce([high[i: len(high) - 4 + i] for i in range(4)])
  hits = len(scipy.signal.find_peaks(rise, height=ATTACK_DB, distance=10)[0]) if len(rise) else 0
  track = pitch_track(x, sr) if track is None else track
  voiced = _voiced(track)
  swept, rho = 0.0, 0.0
  if voiced.sum() >= 4:
    t, m = track["times"][voiced], track["midi"][voiced]
    swept = float(scipy.stats.theilslopes(m, t)[0] * (t[-1] - t[0]))
    rho = float(scipy.stats.spearmanr(t, m)[0]) if np.ptp(m) > 0 else 0.0
  return {"tonality": tonality, "hits": hits / (len(x) / sr), "hits_count": hits,
          "swept": swept, "rho": rho}


def classify(x: np.ndarray, sr: int, track: dict | None = None) -> str:
  """Coarse kind of a clip: "drums", "tonal" (note or chord), "siren" or "noise"."""
  f = kind_features(x, sr, track)
  if f["hits_count"] >= 2 and f["hits"] >= HITS_PER_SECOND:
    return "drums"
  if f["tonality"] < TONALITY:
    return "noise"
  if abs(f["swept"]) >= SWEEP_SEMITONES and abs(f["rho"]) >= 0.7:
    return "siren"
  return "tonal"


def split_point(x: np.ndarray, sr: int, track: dict | None = None) -> int:
  """Sample where one sound gives way to another, searched in the middle 40% of the clip.

  A least-squares change point: the split that best explains per-frame features (20 ms
  hop) as two segments with constant means. Features: 12 log band energies (50 Hz ..
  0.45 sr, each scaled to unit spread) and the local pitch speed (semitones / s over
  0.2 s, voiced frames), which sets a siren apart from a steady tone in the same register.
  """
  mag, freqs, hop_s = _spectrogram(x, sr, 0.05, 0.02)
  edges = np.geomspace(50.0, 0.45 * sr, 13)
  bands = np.stack([_db((mag[:, (freqs >= a) & (freqs < b)] ** 2).sum(-1))
                    for a, b in zip(edges[:-1], edges[1:])], -1)
  bands = np.maximum(bands, bands.max() - 60.0)
  bands = bands / (bands.std(0) + 1e-6)
  track = pitch_track(x, sr) if track is None else track  # Same 20 ms hop.
  midi = track["midi"]
  speed = np.zeros(len(midi))
  speed[5:-5] = np.abs(midi[10:] - midi[:-10]) / (10 * hop_s)
  speed = np.where(_voiced(track), np.minimum(speed, 10.0), 0.0)
  speed = scipy.ndimage.median_filter(speed, 9, mode="nearest")
  n = min(len(bands), len(speed))
  feats = np.concatenate([bands[:n], 0.4 * speed[:n, None]], -1)
  k = np.arange(max(1, int(0.3 * n)), max(2, int(0.7 * n)))
  total = np.cumsum(feats, 0)
  squares = np.cumsum((feats ** 2).sum(-1))
  left = squares[k - 1] - (total[k - 1] ** 2).sum(-1) / k
  right = squares[-1] - squares[k - 1] - ((total[-1] - total[k - 1]) ** 2).sum(-1) / (n - k)
  return int(round(k[int(np.argmin(left + right))] * hop_s * sr))


# ---------------------------------------------------------------------------- scoring


def _check(x: np.ndarray, sr: int, a: dict[str, Any], prefix: str, checks: dict,
           estimates: dict, with_kind: bool = True, timbre: bool = True) -> None:
  """Adds `prefix + name` entries for every attribute of `a` that can be checked."""
  kind = a["kind"]
  track = pitch_track(x, sr)  # Shared by the estimators below.
  if with_kind:
    estimates[prefix + "kind"] = classify(x, sr, track)
    checks[prefix + "kind"] = estimates[prefix + "kind"] == synthetic.coarse_kind(kind)
  if kind == "note":
    target = a["midi"] if "midi" in a else synthetic.note_to_midi(a["pitch"])
    midi = estimate_pitch(x, sr, track)
    estimates[prefix + "pitch"] = None if midi is None else synthetic.midi_to_note(midi)
    estimates[prefix + "midi"] = midi
    checks[prefix + "pitch"] = midi is not None and abs(midi - target) <= PITCH_TOLERANCE
    if "loudness" in a:
      estimates[prefix + "loudness"], _ = estimate_loudness(x, sr)
      checks[prefix + "loudness"] = estimates[prefix + "loudness"] == a["loudness"]
    if timbre and "instrument" in a:
      instrument = None if midi is None else estimate_instrument(x, sr, midi)
      estimates[prefix + "instrument"] = instrument
      checks[prefix + "instrument"] = instrument == a["instrument"]
  elif kind == "chord":
    chord = estimate_chord(x, sr)
    estimates[prefix + "chord"] = chord and f"{synthetic.NOTE_NAMES[chord[0]]} {chord[1]}"
    checks[prefix + "chord"] = chord == (synthetic.pitch_class(a["root"]), a["quality"])
  elif kind == "drums":
    bpm, _ = estimate_tempo(x, sr)
    estimates[prefix + "tempo"] = bpm and round(bpm, 2)
    checks[prefix + "tempo"] = bpm is not None and abs(bpm / a["tempo"] - 1) <= TEMPO_TOLERANCE
  elif kind == "noise":
    estimates[prefix + "colour"], estimates[prefix + "slope"] = estimate_colour(x, sr)
    checks[prefix + "colour"] = estimates[prefix + "colour"] == a["colour"]
    if "envelope" in a:
      estimates[prefix + "envelope"], _ = estimate_envelope(x, sr)
      checks[prefix + "envelope"] = estimates[prefix + "envelope"] == a["envelope"]
  elif kind == "siren":
    direction, estimates[prefix + "swept"] = estimate_direction(x, sr, track)
    estimates[prefix + "direction"] = direction
    checks[prefix + "direction"] = estimates[prefix + "direction"] == a["direction"]
  else:
    raise ValueError(f"cannot check a part of kind {kind!r}")


def score(audio: np.ndarray, sample_rate: int, attributes: dict[str, Any]) -> dict[str, Any]:
  """Checks a waveform ([channels, samples] or [samples]) against caption attributes.

  Returns {"match": all checks passed, "checks": {name: bool}, "estimates": {name: value}}.
  Check names are "audible", the attribute names ("pitch", "tempo", ...), "kind" for the
  coarse class, and for compositions "order" plus names prefixed "first." / "second." or
  "foreground." / "background.". A silent or too short clip fails "audible" and is not
  analysed further.
  """
  x, sr = _mono(audio), int(sample_rate)
  level = float(_frame_levels(x, sr, 0.05, 0.01).max()) if len(x) else -120.0
  audible = level > SILENCE_DBFS and len(x) >= MIN_SECONDS * sr
  checks, estimates = {"audible": audible}, {"level_dbfs": level, "seconds": len(x) / sr}
  if not checks["audible"]:
    return {"match": False, "checks": checks, "estimates": estimates}
  kind = attributes["kind"]
  if kind == "sequence":
    split = split_point(x, sr)
    margin = int(MARGIN * len(x))
    estimates["split_seconds"] = split / sr
    sides = x[:split - margin], x[split + margin:]
    if min(len(side) for side in sides) < MIN_SECONDS * sr / 2:
      checks["order"] = False
      return {"match": False, "checks": checks, "estimates": estimates}
    for name, side, part in zip(("first.", "second."), sides, attributes["parts"]):
      _check(side, sr, part, name, checks, estimates)
    checks["order"] = checks.pop("first.kind") and checks.pop("second.kind")
  elif kind == "mix":
    for name, part in zip(("foreground.", "background."), attributes["parts"]):
      _check(x, sr, part, name, checks, estimates, with_kind=False, timbre=False)
  else:
    _check(x, sr, attributes, "", checks, estimates)
  return {"match": bool(all(checks.values())), "checks": checks, "estimates": estimates}


def adherence(examples: Iterable[dict[str, Any]]) -> float:
  """Share of examples ({"audio", "sample_rate", "attributes"}) whose every check passes."""
  results = [score(e["audio"], e["sample_rate"], e["attributes"])["match"] for e in examples]
  if not results:
    raise ValueError("adherence needs at least one example")
  return float(np.mean(results))


def adherence_by_kind(examples: Iterable[dict[str, Any]]) -> dict[str, float]:
  """adherence() per attributes["kind"]."""
  groups: dict[str, list[bool]] = {}
  for e in examples:
    match = score(e["audio"], e["sample_rate"], e["attributes"])["match"]
    groups.setdefault(e["attributes"]["kind"], []).append(match)
  return {kind: float(np.mean(v)) for kind, v in sorted(groups.items())}
