"""The built-in `synthetic` corpus: captioned clips synthesised on the fly in NumPy.

Nothing is downloaded. Example `index` of split `split` is a pure function of
(seed, split, index), so the corpus is reproducible and effectively unbounded. Kinds:

  note      a named instrument (additive / FM synthesis) at a named pitch and loudness:
            "a soft flute playing A4"
  chord     a major / minor triad on a root: "a C major chord on the organ"
  drums     kick / snare / hi-hat beat at a tempo: "a drum beat at 120 BPM"
  noise     white / pink / brown noise, steady or fading: "pink noise fading out"
  siren     an exponential pitch sweep: "a siren rising"
  sequence  two parts one after the other: "a bell playing C5 followed by brown noise"
  mix       a tonal part over a background: "a flute playing A4 over a drum beat at 90 BPM"

Every example is a dict {"audio": float32 [1, samples], "caption", "attributes",
"sample_rate", "id"}. `attributes` holds exactly what the caption states (plus exact values
such as "midi"), so `soundgen_jax.eval.adherence.score` can check a waveform against it.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Fb": "E", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B"}

INSTRUMENTS = ("piano", "organ", "flute", "bell", "pluck")
INSTRUMENT_WORDS = {"piano": "piano", "organ": "organ", "flute": "flute", "bell": "bell",
                    "pluck": "plucked string"}
CHORD_INSTRUMENTS = ("piano", "organ")
LOUDNESS = ("soft", "loud")
QUALITIES = ("major", "minor")
COLOURS = ("white", "pink", "brown")
ENVELOPES = ("steady", "fade_in", "fade_out")
DIRECTIONS = ("rising", "falling")
KINDS = ("note", "chord", "drums", "noise", "siren", "sequence", "mix")
SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"valid": "validation", "val": "validation", "eval": "validation",
                  "dev": "validation"}

NOTE_RANGE = (48, 84)  # C3..C6 inclusive, MIDI numbers.
CHORD_ROOT_RANGE = (48, 71)  # C3..B4.
TEMPO_RANGE = (80, 160)  # BPM inclusive; one octave, so the checker's tempo is unambiguous.
SIREN_LOW_HZ = (300.0, 600.0)  # Start (rising) or end (falling) of the sweep.
SIREN_RATIO = (2.0, 3.0)  # High / low frequency of the sweep.
PEAK = {"soft": (0.06, 0.1), "loud": (0.7, 0.9)}  # Peak amplitude ranges per loudness word.

# Kinds come in a fixed cycle, so any run of consecutive indices is balanced across kinds.
_CYCLE = ("note", "drums", "sequence", "noise", "note", "chord", "siren", "mix", "note",
          "sequence")
_COARSE = {"note": "tonal", "chord": "tonal", "drums": "drums", "noise": "noise",
           "siren": "siren"}


def midi_to_hz(midi: float) -> float:
  return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def midi_to_note(midi: int) -> str:
  """69 -> "A4" (scientific pitch notation, sharps)."""
  midi = int(round(midi))
  return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def note_to_midi(name: str) -> int:
  """"A4" -> 69, "C#3" / "Db3" -> 49."""
  name = name.strip()
  i = 2 if len(name) > 1 and name[1] in "#b" else 1
  pitch = _FLATS.get(name[:i], name[:i].upper())
  if pitch not in NOTE_NAMES or not name[i:].lstrip("-").isdigit():
    raise ValueError(f"not a note name: {name!r} (use e.g. 'A4' or 'C#3')")
  return NOTE_NAMES.index(pitch) + 12 * (int(name[i:]) + 1)


def pitch_class(name: str) -> int:
  """"C#" / "Db" / "C#4" -> 1."""
  pitch = name.strip().rstrip("-0123456789")
  pitch = _FLATS.get(pitch, pitch[:1].upper() + pitch[1:])
  if pitch not in NOTE_NAMES:
    raise ValueError(f"not a pitch class: {name!r} (use e.g. 'C' or 'F#')")
  return NOTE_NAMES.index(pitch)


def coarse_kind(kind: str) -> str:
  """The class an order check can tell apart: tonal (note, chord), drums, noise, siren."""
  return _COARSE[kind]


def caption(attributes: dict[str, Any]) -> str:
  """The English caption for an attribute dict (keys absent from it are not mentioned)."""
  a, kind = attributes, attributes["kind"]
  if kind == "note":
    words = " ".join(w for w in (a.get("loudness"), INSTRUMENT_WORDS[a["instrument"]]) if w)
    return f"{_article(words)} {words} playing {a['pitch']}"
  if kind == "chord":
    words = f"{a['root']} {a['quality']} chord"
    return f"{_article(words)} {words} on the {INSTRUMENT_WORDS[a['instrument']]}"
  if kind == "drums":
    return f"a drum beat at {a['tempo']} BPM"
  if kind == "noise":
    envelope = {"steady": "steady {} noise", "fade_in": "{} noise fading in",
                "fade_out": "{} noise fading out", None: "{} noise"}[a.get("envelope")]
    return envelope.format(a["colour"])
  if kind == "siren":
    return f"a siren {a['direction']}"
  first, second = a["parts"]
  joiner = "followed by" if kind == "sequence" else "over"
  return f"{caption(first)} {joiner} {caption(second)}"


def _article(words: str) -> str:
  # Note letters A, E and F are read with a leading vowel sound ("an F# minor chord").
  return "an" if words[0] in "aeiouAEF" else "a"


class SyntheticCorpus:
  """Seeded, on-the-fly captioned clips; see the module docstring.

  Args:
    sample_rate: output rate in Hz.
    duration: clip length in seconds.
    seed: corpus seed; each split derives its own stream from it.
    kinds: the kinds to draw (default all); index i has the i-th kind of a fixed cycle, so
      any run of consecutive indices is balanced across kinds.
  """

  def __init__(self, sample_rate: int = 24000, duration: float = 4.0, seed: int = 0,
               kinds: Sequence[str] | None = None):
    if sample_rate < 8000:
      raise ValueError(f"sample_rate={sample_rate} is too low; use 8000 Hz or more")
    if duration < 1.0:
      raise ValueError(f"duration={duration} s is too short; use 1 s or more")
    if seed < 0:
      raise ValueError(f"seed={seed} is negative; use a seed >= 0")
    kinds = tuple(kinds or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
      raise ValueError(f"unknown kinds {unknown}; choose from {list(KINDS)}")
    self.sample_rate = int(sample_rate)
    self.duration = float(duration)
    self.seed = int(seed)
    self.kinds = kinds
    self._cycle = tuple(k for k in _CYCLE if k in kinds)
    self.num_samples = int(round(self.duration * self.sample_rate))

  def example(self, split: str, index: int) -> dict[str, Any]:
    """Example `index` of `split`; always the same for the same corpus arguments."""
    split = _SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
      raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)} (or 'valid')")
    index = int(index)
    if index < 0:
      raise ValueError(f"index must be >= 0, got {index}")
    rng = np.random.default_rng([self.seed, SPLITS.index(split), index])
    kind = self._cycle[index % len(self._cycle)]
    attributes = _sample_attributes(rng, kind)
    audio = _render(rng, attributes, self.num_samples, self.sample_rate)
    return {"audio": audio.astype(np.float32)[None], "caption": caption(attributes),
            "attributes": attributes, "sample_rate": self.sample_rate,
            "id": f"synthetic-{split}-{index:08d}"}

  def examples(self, split: str, start: int = 0) -> Iterator[dict[str, Any]]:
    """Examples start, start + 1, ... of `split`, without end."""
    index = start
    while True:
      yield self.example(split, index)
      index += 1


# ---------------------------------------------------------------------------- attributes


def _sample_attributes(rng: np.random.Generator, kind: str, part: bool = False) -> dict:
  """Attributes of one clip. `part`: inside a composition, where loudness and noise
  envelope are left unsaid (the parts are levelled against each other)."""
  if kind == "note":
    midi = int(rng.integers(NOTE_RANGE[0], NOTE_RANGE[1] + 1))
    a = {"kind": "note", "instrument": str(rng.choice(INSTRUMENTS)),
         "pitch": midi_to_note(midi), "midi": midi}
    if not part:
      a["loudness"] = str(rng.choice(LOUDNESS))
    return a
  if kind == "chord":
    root = int(rng.integers(CHORD_ROOT_RANGE[0], CHORD_ROOT_RANGE[1] + 1))
    return {"kind": "chord", "instrument": str(rng.choice(CHORD_INSTRUMENTS)),
            "root": NOTE_NAMES[root % 12], "quality": str(rng.choice(QUALITIES)),
            "root_midi": root}
  if kind == "drums":
    return {"kind": "drums", "tempo": int(rng.integers(TEMPO_RANGE[0], TEMPO_RANGE[1] + 1))}
  if kind == "noise":
    a = {"kind": "noise", "colour": str(rng.choice(COLOURS))}
    if not part:
      a["envelope"] = str(rng.choice(ENVELOPES))
    return a
  if kind == "siren":
    return {"kind": "siren", "direction": str(rng.choice(DIRECTIONS))}
  if kind == "sequence":
    # Parts of different coarse kinds, so the order is audible (and checkable).
    first, second = rng.choice(["tonal", "drums", "noise", "siren"], size=2, replace=False)
    parts = [_sample_attributes(rng, _tonal(rng) if c == "tonal" else str(c), part=True)
             for c in (first, second)]
    return {"kind": "sequence", "parts": parts, "order": [p["kind"] for p in parts]}
  if kind == "mix":
    fg = str(rng.choice(["tonal", "tonal", "siren"]))
    fg = _sample_attributes(rng, _tonal(rng) if fg == "tonal" else fg, part=True)
    bg = _sample_attributes(rng, str(rng.choice(["drums", "noise"])), part=True)
    return {"kind": "mix", "parts": [fg, bg]}
  raise ValueError(f"unknown kind {kind!r}")


def _tonal(rng: np.random.Generator) -> str:
  return "chord" if rng.random() < 0.3 else "note"


# ---------------------------------------------------------------------------- rendering


def _render(rng: np.random.Generator, a: dict, n: int, sr: int) -> np.ndarray:
  """Float64 mono waveform of n samples for attributes `a`, peak below 1."""
  kind = a["kind"]
  if kind == "sequence":
    n1 = n // 2
    halves = [_render(rng, p, m, sr) for p, m in zip(a["parts"], (n1, n - n1))]
    return np.concatenate([_normalize(h, rng.uniform(0.5, 0.8)) for h in halves])
  if kind == "mix":
    fg, bg = (_render(rng, p, n, sr) for p in a["parts"])
    # The background sits 8..14 dB below the foreground (RMS over the clip).
    gain = _rms(fg) / max(_rms(bg), 1e-9) * 10 ** (-rng.uniform(8, 14) / 20)
    return _normalize(fg + gain * bg, rng.uniform(0.6, 0.85))
  if kind == "note":
    x = _note(rng, a["instrument"], a["midi"], n, sr)
    return _normalize(x, rng.uniform(*PEAK[a.get("loudness", "loud")]))
  if kind == "chord":
    third = 4 if a["quality"] == "major" else 3
    x = sum(_note(rng, a["instrument"], a["root_midi"] + k, n, sr) * rng.uniform(0.8, 1.0)
            for k in (0, third, 7))
    return _normalize(x, rng.uniform(0.6, 0.85))
  if kind == "drums":
    return _normalize(_drums(rng, a["tempo"], n, sr), rng.uniform(0.6, 0.85))
  if kind == "noise":
    return _normalize(_noise(rng, a["colour"], a.get("envelope", "steady"), n, sr),
                      rng.uniform(0.5, 0.8))
  if kind == "siren":
    return _normalize(_siren(rng, a["direction"], n, sr), rng.uniform(0.5, 0.8))
  raise ValueError(f"unknown kind {kind!r}")


def _normalize(x: np.ndarray, peak: float) -> np.ndarray:
  return x * (peak / max(np.max(np.abs(x)), 1e-9))


def _rms(x: np.ndarray) -> float:
  return float(np.sqrt(np.mean(x ** 2)))


def _ramp(n: int, sr: int, attack: float, release: float) -> np.ndarray:
  """Linear attack from 0 and release to 0; avoids clicks at the clip edges."""
  env = np.ones(n)
  a, r = max(1, int(attack * sr)), max(1, int(release * sr))
  env[:a] *= np.linspace(0.0, 1.0, a, endpoint=False)[:n]
  env[n - r:] *= np.linspace(1.0, 0.0, r)[-n:]
  return env


def _partials(t: np.ndarray, sr: int, freqs, amps, taus, rng) -> np.ndarray:
  """Sum of exponentially decaying sinusoids (tau=inf: sustained), random phases."""
  x = np.zeros_like(t)
  for f, amp, tau in zip(freqs, amps, taus):
    if f < 0.45 * sr:  # No partial near or above Nyquist (aliasing).
      x += amp * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
  return x


def _note(rng: np.random.Generator, instrument: str, midi: int, n: int, sr: int
          ) -> np.ndarray:
  """One note; each instrument has its own spectrum and envelope shape."""
  t = np.arange(n) / sr
  f0 = midi_to_hz(midi)
  jitter = lambda size: rng.uniform(0.85, 1.15, size)  # noqa: E731
  if instrument == "piano":
    # Harmonic with slight string inharmonicity; upper partials die faster.
    h = np.arange(1, 13)
    tau = 1.0 * (262.0 / f0) ** 0.3 * rng.uniform(0.85, 1.15)
    x = _partials(t, sr, h * f0 * np.sqrt(1 + 1e-4 * h ** 2), h ** -1.3 * jitter(12),
                  tau / (1 + 0.25 * (h - 1)), rng)
    return x * _ramp(n, sr, 0.004, 0.03)
  if instrument == "organ":
    # Drawbar-like harmonic set, sustained at constant level.
    h = np.array([1, 2, 3, 4, 6, 8])
    amps = np.array([1.0, 0.7, 0.5, 0.35, 0.25, 0.2]) * jitter(6)
    return _partials(t, sr, h * f0, amps, np.full(6, np.inf), rng) * _ramp(n, sr, 0.015, 0.04)
  if instrument == "flute":
    # Nearly sinusoidal, slow attack, delayed 5 Hz vibrato and a little breath noise.
    depth = rng.uniform(10, 20) / 1200 * np.clip((t - 0.3) / 0.5, 0, 1)
    freq = f0 * 2 ** (depth * np.sin(2 * np.pi * rng.uniform(4.5, 5.5) * t))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    x = sum(amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
            for h, amp in zip((1, 2, 3, 4), np.array([1.0, 0.25, 0.1, 0.03]) * jitter(4))
            if h * f0 < 0.45 * sr)
    breath = _shaped_noise(rng, n, sr, lambda f: np.exp(-((f - 2.5 * f0) / f0) ** 2))
    x = x + 0.03 * breath / max(_rms(breath), 1e-9)
    return x * _ramp(n, sr, 0.12, 0.08)
  if instrument == "bell":
    # FM with an inharmonic carrier:modulator ratio and a decaying index (Chowning style);
    # all sidebands lie above the carrier, which is heard as the pitch.
    index = rng.uniform(0.8, 1.3) * np.exp(-t / 0.6)
    x = np.sin(2 * np.pi * f0 * t + index * np.sin(2 * np.pi * 2.76 * f0 * t))
    tau = 1.8 * rng.uniform(0.85, 1.15)
    return x * np.exp(-t / tau) * _ramp(n, sr, 0.002, 0.03)
  if instrument == "pluck":
    # Plucked string: harmonic amplitudes set by the pluck position, fast decay.
    h = np.arange(1, 16)
    position = rng.uniform(0.1, 0.3)
    amps = np.abs(np.sin(np.pi * h * position)) / h ** 1.2 * jitter(15)
    tau = 0.3 * rng.uniform(0.85, 1.15)
    return _partials(t, sr, h * f0, amps, tau / (1 + 0.6 * (h - 1)), rng) * _ramp(
        n, sr, 0.002, 0.03)
  raise ValueError(f"unknown instrument {instrument!r}")


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, gain) -> np.ndarray:
  """White noise filtered in the frequency domain by an amplitude response gain(f)."""
  spectrum = np.fft.rfft(rng.standard_normal(n))
  return np.fft.irfft(spectrum * gain(np.fft.rfftfreq(n, 1.0 / sr)), n)


def _noise(rng: np.random.Generator, colour: str, envelope: str, n: int, sr: int
           ) -> np.ndarray:
  # Power slope 0, -3, -6 dB / octave; flat below 20 Hz so the level stays bounded.
  exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
  x = _shaped_noise(rng, n, sr, lambda f: np.maximum(f, 20.0) ** -exponent)
  x = x - x.mean()
  u = np.arange(n) / n
  if envelope == "fade_in":
    x *= 10 ** (-36 * (1 - u) / 20)  # A linear-in-dB fade over the whole clip.
  elif envelope == "fade_out":
    x *= 10 ** (-36 * u / 20)
  return x * _ramp(n, sr, 0.02, 0.02)


def _drums(rng: np.random.Generator, tempo: int, n: int, sr: int) -> np.ndarray:
  """Kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on every eighth note."""
  t = np.arange(int(0.5 * sr)) / sr
  sweep = 48 + rng.uniform(-5, 8) + 100 * np.exp(-t / 0.03)
  kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / 0.12)
  body = rng.uniform(170, 230)
  snare = (0.6 * np.sin(2 * np.pi * body * t) * np.exp(-t / 0.04)
           + _shaped_noise(rng, len(t), sr, lambda f: (f > 300).astype(float)) * 0.35
           * np.exp(-t / 0.07))
  cut = min(7000.0, 0.35 * sr)
  hat = _shaped_noise(rng, len(t), sr, lambda f: (f > cut).astype(float)) * np.exp(-t / 0.02)
  hat *= 0.3 / max(_rms(hat[: int(0.02 * sr)]), 1e-9) * _rms(snare[: int(0.02 * sr)])
  x = np.zeros(n + len(t))
  period = 60.0 / tempo
  start = rng.uniform(0.0, 0.05)
  for eighth in range(int((n / sr - start) / period * 2) + 1):
    at = int(round((start + eighth * period / 2) * sr))
    if eighth % 2 == 0:
      hit = kick if eighth % 4 == 0 else snare
      x[at:at + len(t)] += hit * rng.uniform(0.85, 1.0)
    x[at:at + len(t)] += hat * rng.uniform(0.6, 1.0)
  return x[:n]


def _siren(rng: np.random.Generator, direction: str, n: int, sr: int) -> np.ndarray:
  """An exponential sweep over the whole clip with a bright harmonic timbre."""
  low = rng.uniform(*SIREN_LOW_HZ)
  high = low * rng.uniform(*SIREN_RATIO)
  u = np.arange(n) / n
  freq = low * (high / low) ** (u if direction == "rising" else 1 - u)
  phase = 2 * np.pi * np.cumsum(freq) / sr
  x = sum(np.sin(h * phase) / h ** 1.5 * (h * high < 0.45 * sr) for h in range(1, 7))
  return x * _ramp(n, sr, 0.05, 0.05)
