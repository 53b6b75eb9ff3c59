"""audiocraft's generation API over a model folder, so an audiocraft user changes one import:

  from soundgen_jax.api import MusicGen      # was: from audiocraft.models import MusicGen
  model = MusicGen.get_pretrained("models/musicgen-small")  # a folder (lm/pretrained.py)
  model.set_generation_params(duration=8)
  wav = model.generate(["happy rock", "energetic EDM"])     # float32 [B, C, T] at sample_rate
  wav = model.generate_continuation(prompt, prompt_sample_rate=sr, descriptions=["jazz"])
  wav, codes = model.generate(["rain"], return_tokens=True)

Where it differs from audiocraft:
- outputs are NumPy arrays, not torch tensors (a CPU torch tensor is accepted as a prompt);
- randomness is a JAX key: `set_seed(seed)` (0 when loaded, so a fresh model repeats itself);
  every call advances it, so two calls give two different samples;
- `get_pretrained` takes a folder and downloads nothing (convert official weights first);
- `set_generation_params(extend_stride=None)` means the folder's own (or 18 s / 2 s);
- progress is reported per long-form window: one window is one compiled decode loop.
`AudioGen` is the same class with AudioGen's defaults.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from soundgen_jax import audio as audio_io
from soundgen_jax.codecs import inference
from soundgen_jax.lm import pretrained
from soundgen_jax.lm import sampling as sampling_lib


@dataclasses.dataclass(frozen=True)
class GenerationStats:
  """What the last LM run did; RTF = wall seconds / seconds of audio made (all items)."""
  batch: int
  frames: int                 # new frames per item (a prompt's excluded)
  seconds: float              # wall time of the LM (compilation included on a first call)
  tokens_per_s: float         # batch x codebooks x new frames / seconds
  rtf: float                  # < 1: faster than real time

  def line(self) -> str:
    return f"{self.tokens_per_s:.0f} tokens/s, RTF {self.rtf:.3f}"


class MusicGen:
  """Text (and audio prompt) to audio with a model folder; audiocraft's MusicGen interface."""

  DEFAULT_DURATION = 30.0       # set_generation_params' default (audiocraft's)
  INITIAL_DURATION = 15.0       # right after loading (audiocraft's)
  DEFAULT_EXTEND_STRIDE = 18.0  # when the folder does not say
  DEFAULT_MAX_DURATION = 30.0   # the training window, when the folder does not say

  def __init__(self, name: str, model: pretrained.Pretrained):
    """From a loaded folder (audiocraft's takes the codec and LM; here `model` holds both,
    with the text encoder and the pattern). ValueError when its parts do not fit."""
    self.name = name
    self.model = model
    self.lm = model.lm
    self.compression_model = model.codec  # audiocraft's name for the codec
    self.conditioner = model.conditioner
    self.pattern = model.pattern
    self.sample_rate = model.sample_rate
    self.frame_rate = model.frame_rate
    self.audio_channels = model.channels
    self.max_duration = float(model.meta.get("max_duration") or self.DEFAULT_MAX_DURATION)
    self._check_model()
    self._progress_callback: Callable[[int, int], None] | None = None
    self.last_stats: GenerationStats | None = None
    self.set_seed(0)
    self.set_generation_params(duration=self.INITIAL_DURATION)
    self.soundstorm: SoundStorm | None = None
    self.soundstorm_levels: int | None = None

  @classmethod
  def get_pretrained(cls, name_or_dir: str, device: Any = None,
                     soundstorm: str | None = None) -> "MusicGen":
    """A model folder (launch/convert.py musicgen|audiocraft, or a training export), with
    `soundstorm` (a SoundStorm folder) to decode the finer levels (`set_soundstorm`).
    `device` is accepted for audiocraft's signature and ignored: JAX picks the device."""
    del device
    if soundstorm is not None:
      model = cls.get_pretrained(name_or_dir)
      model.set_soundstorm(SoundStorm.get_pretrained(soundstorm))
      return model
    if not os.path.isdir(name_or_dir):
      raise ValueError(
          f"{name_or_dir!r} is not a model folder; soundgen_jax downloads nothing: convert the "
          "official weights once with launch/convert.py (`musicgen --from HF_DIR --to DIR` for "
          "a transformers save_pretrained folder, `audiocraft --from EXPORT --text-encoder "
          "T5_DIR --to DIR` for audiocraft's) and pass DIR")
    return cls(os.path.basename(os.path.abspath(name_or_dir)), pretrained.load(name_or_dir))

  # --- settings -------------------------------------------------------------------------------

  def set_generation_params(self, use_sampling: bool = True, top_k: int = 250,
                            top_p: float = 0.0, temperature: float = 1.0,
                            duration: float | None = None, cfg_coef: float = 3.0,
                            two_step_cfg: bool = False,
                            extend_stride: float | None = None) -> None:
    """audiocraft's settings; duration None = DEFAULT_DURATION, extend_stride None = the
    folder's (else DEFAULT_EXTEND_STRIDE). Longer than max_duration is generated in windows."""
    duration = self.DEFAULT_DURATION if duration is None else float(duration)
    if not duration > 0:
      raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if round(duration * self.frame_rate) < 1:
      raise ValueError(f"duration {duration} s is less than one frame at {self.frame_rate} Hz")
    if extend_stride is None:
      extend_stride = self.model.meta.get("extend_stride") or self.DEFAULT_EXTEND_STRIDE
      if extend_stride >= self.max_duration:
        extend_stride = self.max_duration / 2
    extend_stride = float(extend_stride)
    if not 0 < extend_stride < self.max_duration:
      raise ValueError(f"extend_stride must be in (0, max_duration={self.max_duration}) "
                       f"seconds, got {extend_stride}")
    self.sampling = sampling_lib.Sampling(
        use_sampling=bool(use_sampling), temperature=float(temperature), top_k=int(top_k),
        top_p=float(top_p), cfg_coef=float(cfg_coef), two_step_cfg=bool(two_step_cfg))
    self.duration = duration
    self.extend_stride = extend_stride
    self.generation_params = {"use_sampling": bool(use_sampling), "temp": float(temperature),
                              "top_k": int(top_k), "top_p": float(top_p),
                              "cfg_coef": float(cfg_coef), "two_step_cfg": bool(two_step_cfg)}

  def set_seed(self, seed: int = 0) -> None:
    """Restarts the random stream: the same seed and calls give the same audio."""
    self._key = jax.random.key(int(seed))
    if getattr(self, "soundstorm", None) is not None:
      self.soundstorm.set_seed(seed)

  def set_soundstorm(self, storm: "SoundStorm | None", levels: int | None = None) -> None:
    """Behind the LM: the LM generates its first `levels` codebooks (default: all of them, at
    most the SoundStorm's levels - 1), SoundStorm the finer levels, its codec decodes them.
    None: back to the LM alone."""
    if storm is None:
      self.soundstorm = self.soundstorm_levels = None
      return
    k, q = self.model.config.num_codebooks, storm.model.config.num_levels
    levels = min(k, q - 1) if levels is None else int(levels)
    if not 1 <= levels <= min(k, q - 1):
      raise ValueError(f"levels must be in [1, {min(k, q - 1)}] (the LM makes {k}, the "
                       f"SoundStorm models {q}), got {levels}")
    mine, theirs = self.compression_model.config, storm.compression_model.config
    if self._split_stereo or (mine.sample_rate, mine.hop_length, mine.codebook_size) != \
        (theirs.sample_rate, theirs.hop_length, theirs.codebook_size):
      raise ValueError(f"the SoundStorm's codec ({theirs.sample_rate} Hz, hop "
                       f"{theirs.hop_length}, {theirs.codebook_size} codes) does not match the "
                       f"LM's ({mine.sample_rate} Hz, hop {mine.hop_length}, "
                       f"{mine.codebook_size} codes{', stereo' if self._split_stereo else ''})")
    self.soundstorm, self.soundstorm_levels = storm, levels
    storm.set_generation_params(duration=self.duration, **storm.decoding_params)

  def set_custom_progress_callback(self, callback: Callable[[int, int], None] | None) -> None:
    """callback(frames_done, frames_total), after each long-form window and at the end."""
    self._progress_callback = callback

  # --- generation (audiocraft's methods) ------------------------------------------------------

  def generate(self, descriptions: Sequence[str | None] | None, progress: bool = False,
               return_tokens: bool = False):
    """One clip per description -> float32 [B, C, T] (and the codes [B, K, frames]).
    None (or None entries) = the null condition: generate(None) is one unconditional clip."""
    if descriptions is None:
      return self.generate_unconditional(1, progress, return_tokens)
    descriptions = _descriptions(descriptions)
    codes = self.generate_tokens(descriptions, progress=progress)
    return self._output(codes, return_tokens, descriptions)

  def generate_unconditional(self, num_samples: int, progress: bool = False,
                             return_tokens: bool = False):
    _check_count(num_samples)
    codes = self.generate_tokens(None, num_samples=int(num_samples), progress=progress)
    return self._output(codes, return_tokens)

  def generate_continuation(self, prompt: Any, prompt_sample_rate: int,
                            descriptions: Sequence[str | None] | None = None,
                            progress: bool = False, return_tokens: bool = False):
    """Continues prompt audio [B, C, T] or [C, T] (any rate / channel count) to `duration`;
    the output starts with the prompt, re-decoded from its codes as in audiocraft."""
    prompt_tokens = self.encode_prompt(prompt, prompt_sample_rate)
    if descriptions is not None:
      descriptions = _descriptions(descriptions)
      if len(descriptions) != len(prompt_tokens):
        raise ValueError(f"descriptions has {len(descriptions)} texts for a prompt batch of "
                         f"{len(prompt_tokens)}")
    codes = self.generate_tokens(descriptions, num_samples=len(prompt_tokens),
                                 prompt_tokens=prompt_tokens, progress=progress)
    return self._output(codes, return_tokens, descriptions)

  def generate_audio(self, codes: Any) -> np.ndarray:
    """Codes [B, K, frames] -> float32 audio [B, C, frames x hop] (audiocraft's name).
    Stereo over a mono codec (2x codebooks, left / right interleaved): each side alone."""
    codes = np.asarray(codes, np.int32)
    k = self.model.config.num_codebooks
    if codes.ndim != 3 or codes.shape[1] != k:
      raise ValueError(f"codes must be [batch, {k}, frames], got {codes.shape}")
    num_samples = codes.shape[-1] * self.compression_model.config.hop_length
    if self._split_stereo:
      sides = [inference.decode(self.compression_model, codes[:, c::2], num_samples=num_samples)
               for c in (0, 1)]
      return np.concatenate(sides, axis=1).astype(np.float32)
    return np.asarray(inference.decode(self.compression_model, codes, num_samples=num_samples),
                      np.float32)

  # --- the steps, for callers that put a stage between them (launch/generate.py) ------------

  def encode_prompt(self, prompt: Any, prompt_sample_rate: int) -> np.ndarray:
    """Prompt audio [B, C, T] or [C, T] -> its codes [B, K, frames] (resampled, channels
    converted); ValueError when it is not shorter than `duration`."""
    x = np.asarray(prompt, np.float32)
    if x.ndim == 2:
      x = x[None]
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[-1] < 1:
      raise ValueError(f"prompt must be audio [batch, channels, samples] or [channels, "
                       f"samples], got shape {x.shape}")
    if not np.isfinite(x).all():
      raise ValueError("prompt holds NaN or Inf samples")
    if int(prompt_sample_rate) != prompt_sample_rate or prompt_sample_rate < 1:
      raise ValueError(f"prompt_sample_rate must be a positive integer, got {prompt_sample_rate}")
    seconds = x.shape[-1] / prompt_sample_rate
    if seconds >= self.duration:
      raise ValueError(f"prompt is {seconds:.2f} s long, not shorter than the duration "
                       f"({self.duration:g} s) to generate; set a longer duration")
    if seconds >= self.max_duration:  # the first window holds the prompt and new frames
      raise ValueError(f"prompt is {seconds:.2f} s long, not shorter than max_duration "
                       f"({self.max_duration:g} s), the model's window")
    cfg = self.compression_model.config
    channels = 2 if self._split_stereo else cfg.channels
    x = np.stack([audio_io.resample(audio_io.convert_channels(a, channels),
                                    int(prompt_sample_rate), self.sample_rate) for a in x])
    if self._split_stereo:
      sides = [self._encode(x[:, c:c + 1]) for c in (0, 1)]
      codes = np.stack(sides, axis=2).reshape(x.shape[0], -1, sides[0].shape[-1])
    else:
      codes = self._encode(x)
    return codes

  def generate_tokens(self, descriptions: Sequence[str | None] | None = None,
                      num_samples: int | None = None, prompt_tokens: Any = None,
                      progress: bool = False) -> np.ndarray:
    """The LM part: codes [B, K, round(duration x frame_rate)], prompt codes first."""
    cfg = self.model.config
    if descriptions is not None:
      descriptions = _descriptions(descriptions)
    if prompt_tokens is not None:
      prompt_tokens = np.asarray(prompt_tokens, np.int32)
      if prompt_tokens.ndim != 3 or prompt_tokens.shape[1] != cfg.num_codebooks:
        raise ValueError(f"prompt_tokens must be [batch, {cfg.num_codebooks}, frames], got "
                         f"{prompt_tokens.shape}")
    sizes = {n for n in (None if descriptions is None else len(descriptions), num_samples,
                         None if prompt_tokens is None else len(prompt_tokens)) if n is not None}
    if len(sizes) > 1:
      raise ValueError(f"descriptions, num_samples and the prompt disagree on the batch size "
                       f"({sorted(sizes)})")
    batch = sizes.pop() if sizes else 1
    _check_count(batch)
    frames = round(self.duration * self.frame_rate)
    window = round(self.max_duration * self.frame_rate)
    stride = round(self.extend_stride * self.frame_rate)
    done = 0 if prompt_tokens is None or not prompt_tokens.shape[-1] else prompt_tokens.shape[-1]
    if done >= frames:
      raise ValueError(f"prompt is {done} frames long, not shorter than the {frames} frames of "
                       f"the duration ({self.duration:g} s)")
    if done >= min(frames, window):
      raise ValueError(f"prompt is {done / self.frame_rate:.2f} s long, not shorter than "
                       f"max_duration ({self.max_duration:g} s), the model's window")
    text, mask = self._condition(descriptions, batch)
    key = self._next_key()
    bar = tqdm.tqdm(total=frames, initial=done, unit="frame", disable=not progress,
                    desc=f"generating {batch} x {self.duration:g} s", leave=False)
    start = time.perf_counter()

    reported = [done]

    def report(frames_done: int, total: int) -> None:
      if frames_done <= reported[0]:  # the end, already reported by the last window
        return
      stats = self._stats(batch, frames_done - done, time.perf_counter() - start)
      bar.update(frames_done - reported[0])
      reported[0] = frames_done
      bar.set_postfix_str(stats.line(), refresh=True)
      if self._progress_callback is not None:
        self._progress_callback(frames_done, total)

    codes = sampling_lib.generate_long(
        self.lm, self.pattern, num_frames=frames, window=window, stride=stride,
        sampling=self.sampling, key=key, text=text, text_mask=mask,
        prompt=None if not done else jnp.asarray(prompt_tokens), batch=batch,
        on_window=report)
    codes = np.asarray(codes, np.int32)  # waits for the device
    report(frames, frames)
    bar.close()
    self.last_stats = self._stats(batch, frames - done, time.perf_counter() - start)
    if progress:
      print(f"generated {batch} x {(frames - done) / self.frame_rate:.2f} s in "
            f"{self.last_stats.seconds:.2f} s: {self.last_stats.line()}", file=sys.stderr)
    return codes

  # --- internals ------------------------------------------------------------------------------

  def _check_model(self) -> None:
    cfg, codec = self.model.config, self.compression_model.config
    k = cfg.num_codebooks
    self._split_stereo = self.audio_channels == 2 and codec.channels == 1
    if self._split_stereo and k % 2:
      raise ValueError(f"a stereo folder over a mono codec needs an even number of codebooks "
                       f"(left / right interleaved), got {k}")
    self._codebooks = k // 2 if self._split_stereo else k  # per codec pass
    if codec.codebook_size != cfg.codebook_size:
      raise ValueError(f"the LM has codebooks of {cfg.codebook_size} codes, the codec of "
                       f"{codec.codebook_size}")
    fits = [b for b in sorted(codec.bandwidths) if codec.num_quantizers_for(b) >= self._codebooks]
    if not fits:
      raise ValueError(f"the codec serves at most {codec.num_quantizers_for(None)} codebooks, "
                       f"the LM wants {self._codebooks}")
    self._bandwidth = fits[0]  # the fewest levels that cover the LM's
    if cfg.text_dim:
      if self.conditioner is None:
        raise ValueError("the LM is text-conditioned but the folder names no text encoder")
      if self.conditioner.encoder_dim != cfg.text_dim:
        raise ValueError(f"the LM takes {cfg.text_dim}-wide text states, the "
                         f"{self.conditioner.config.encoder} encoder gives "
                         f"{self.conditioner.encoder_dim}")

  def _next_key(self) -> jax.Array:
    self._key, key = jax.random.split(self._key)
    return key

  def _stats(self, batch: int, frames: int, seconds: float) -> GenerationStats:
    seconds = max(seconds, 1e-9)
    audio = batch * frames / self.frame_rate
    return GenerationStats(batch=batch, frames=frames, seconds=seconds,
                           tokens_per_s=batch * self.model.config.num_codebooks * frames / seconds,
                           rtf=seconds / audio if audio else 0.0)

  def _encode(self, x: np.ndarray) -> np.ndarray:
    enc = inference.encode(self.compression_model, x, self._bandwidth)
    return np.asarray(enc.codes[:, :self._codebooks], np.int32)  # RVQ: leading levels

  def _condition(self, descriptions: list[str | None] | None, batch: int):
    return encode_descriptions(self.conditioner, self.model.config.text_dim, descriptions, batch)

  def tokens_to_audio(self, codes: np.ndarray, descriptions=None) -> tuple[np.ndarray, Any]:
    """The LM's codes -> (audio, the codes decoded): through SoundStorm when one is set (it
    decodes the finer levels for the same descriptions, its codec all of them)."""
    if self.soundstorm is not None:
      codes = self.soundstorm.complete(codes, descriptions, self.soundstorm_levels)
      return self.soundstorm.generate_audio(codes), codes
    return self.generate_audio(codes), codes

  def _output(self, codes: np.ndarray, return_tokens: bool, descriptions=None):
    audio, codes = self.tokens_to_audio(codes, descriptions)
    return (audio, codes) if return_tokens else audio


class SoundStorm:
  """SoundStorm's parallel decoding with a folder (soundstorm/pretrained.py): from text alone
  (every level), or the finer levels under coarse codes (an LM's: `complete`, or through
  `MusicGen.set_soundstorm`).

    storm = SoundStorm.get_pretrained("runs/soundstorm_tiny/export")
    storm.set_generation_params(duration=2, steps=(16, 1, 1, 1))
    wav = storm.generate(["a dog barks"])
  """

  def __init__(self, name: str, model: Any):
    from soundgen_jax.soundstorm import generation  # pylint: disable=g-import-not-at-top
    self._generation = generation
    self.name = name
    self.model = model
    self.compression_model = model.codec
    self.conditioner = model.conditioner
    self.sample_rate = model.sample_rate
    self.frame_rate = model.frame_rate
    self.max_duration = float(model.meta.get("max_duration") or 10.0)
    cfg = model.config
    if model.codec.config.codebook_size != cfg.codebook_size:
      raise ValueError(f"the SoundStorm has levels of {cfg.codebook_size} codes, its codec "
                       f"{model.codec.config.codebook_size}")
    fits = [b for b in sorted(model.codec.config.bandwidths)
            if model.codec.config.num_quantizers_for(b) >= cfg.num_levels]
    self._bandwidth = fits[0] if fits else None
    self.last_stats: dict[str, float] | None = None
    self.set_seed(0)
    defaults = dict(model.meta.get("decoding", {}))
    defaults["steps"] = tuple(defaults.get("steps") or ())
    self.set_generation_params(duration=self.max_duration, **defaults)

  @classmethod
  def get_pretrained(cls, directory: str) -> "SoundStorm":
    from soundgen_jax.soundstorm import pretrained as storm_folder  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(directory):
      raise ValueError(f"{directory!r} is not a SoundStorm folder; train one with "
                       "`python launch/train.py --config=configs/soundstorm.py:tiny` and pass "
                       "WORKDIR/export")
    return cls(os.path.basename(os.path.abspath(directory)), storm_folder.load(directory))

  def set_generation_params(self, duration: float | None = None, steps: Sequence[int] = (),
                            temperature: float = 1.0, top_k: int = 0,
                            choice_temperature: float = 4.5, cfg_coef: float = 3.0) -> None:
    """duration (None: the training window); steps per decoded level (): the paper's
    (16, 1, ..., 1); the rest as soundstorm.generation.Decoding."""
    duration = self.max_duration if duration is None else float(duration)
    if round(duration * self.frame_rate) < 1:
      raise ValueError(f"duration must be at least one frame ({1 / self.frame_rate:g} s), "
                       f"got {duration}")
    self.decoding = self._generation.Decoding(
        steps=tuple(int(x) for x in steps), temperature=float(temperature), top_k=int(top_k),
        choice_temperature=float(choice_temperature), cfg_coef=float(cfg_coef))
    self.duration = duration

  def set_seed(self, seed: int = 0) -> None:
    self._key = jax.random.key(int(seed))

  @property
  def decoding_params(self) -> dict[str, Any]:
    """The current settings as set_generation_params' keyword arguments (duration aside)."""
    d = self.decoding
    return dict(steps=d.steps, temperature=d.temperature, top_k=d.top_k,
                choice_temperature=d.choice_temperature, cfg_coef=d.cfg_coef)

  def steps_for(self, first_level: int = 0) -> tuple[int, ...]:
    """The iterations of each decoded level from `first_level` on."""
    return self.decoding.steps_for(self.model.config.num_levels, first_level)

  def generate(self, descriptions: Sequence[str | None] | None, return_tokens: bool = False):
    """Text alone -> float32 audio [B, 1, T] (and the codes [B, Q, frames])."""
    descriptions = [None] if descriptions is None else _descriptions(descriptions)
    frames = round(self.duration * self.frame_rate)
    codes = self._decode(np.zeros((len(descriptions), self.model.config.num_levels, frames),
                                  np.int32), 0, descriptions)
    audio = self.generate_audio(codes)
    return (audio, codes) if return_tokens else audio

  def complete(self, codes: Any, descriptions: Sequence[str | None] | None = None,
               levels: int | None = None) -> np.ndarray:
    """Coarse codes [B, k, frames] (an LM's) -> all levels [B, Q, frames]: the first `levels`
    (default all k, fewer than Q) kept, the finer ones decoded."""
    codes = np.asarray(codes, np.int32)
    q = self.model.config.num_levels
    levels = codes.shape[1] if levels is None else int(levels)
    if codes.ndim != 3 or not 1 <= levels <= codes.shape[1]:
      raise ValueError(f"codes must be [batch, >= {levels}, frames] with levels >= 1, got "
                       f"{codes.shape} and levels={levels}")
    if levels >= q:
      raise ValueError(f"the SoundStorm models {q} levels and {levels} are given: nothing is "
                       f"left to decode; keep fewer of the LM's levels (at most {q - 1})")
    full = np.zeros((codes.shape[0], q, codes.shape[2]), np.int32)
    full[:, :levels] = codes[:, :levels]
    if descriptions is not None:
      descriptions = _descriptions(descriptions)
    return self._decode(full, levels, descriptions)

  def generate_audio(self, codes: Any) -> np.ndarray:
    codes = np.asarray(codes, np.int32)
    num_samples = codes.shape[-1] * self.compression_model.config.hop_length
    return np.asarray(inference.decode(self.compression_model, codes, num_samples=num_samples),
                      np.float32)

  def encode(self, audio: np.ndarray) -> np.ndarray:
    """Audio [B, C, T] at sample_rate -> codes [B, Q, frames] (e.g. the truth to complete)."""
    enc = inference.encode(self.compression_model, np.asarray(audio, np.float32),
                           self._bandwidth)
    return np.asarray(enc.codes[:, :self.model.config.num_levels], np.int32)

  def _decode(self, codes: np.ndarray, first_level: int,
              descriptions: list[str | None] | None) -> np.ndarray:
    text, mask = encode_descriptions(self.conditioner, self.model.config.text_dim, descriptions,
                                     codes.shape[0])
    self._key, key = jax.random.split(self._key)
    start = time.perf_counter()
    out, passes = self._generation.generate(
        self.model.model, key=key, decoding=self.decoding, codes=jnp.asarray(codes),
        first_level=first_level, text=text, text_mask=mask)
    out = np.asarray(out, np.int32)
    seconds = time.perf_counter() - start
    audio_seconds = codes.shape[0] * codes.shape[-1] / self.frame_rate
    self.last_stats = {"passes": passes, "seconds": seconds, "rtf": seconds / audio_seconds,
                       "frames": int(codes.shape[-1]), "batch": int(codes.shape[0])}
    return out


class AudioGen(MusicGen):
  """audiocraft's AudioGen: the same generation, with its defaults (10 s windows, 2 s
  extend stride, 5 s after loading)."""

  DEFAULT_DURATION = 10.0
  INITIAL_DURATION = 5.0
  DEFAULT_EXTEND_STRIDE = 2.0
  DEFAULT_MAX_DURATION = 10.0


def _descriptions(descriptions: Any) -> list[str | None]:
  if isinstance(descriptions, (str, bytes)):
    raise ValueError("descriptions must be a list of strings, got one string; pass [text]")
  try:
    descriptions = list(descriptions)
  except TypeError:
    raise ValueError(f"descriptions must be a list of strings, got "
                     f"{type(descriptions).__name__}") from None
  if not descriptions:
    raise ValueError("descriptions is empty: give at least one text (or use "
                     "generate_unconditional)")
  for i, d in enumerate(descriptions):
    if d is not None and not isinstance(d, str):
      raise ValueError(f"descriptions[{i}] is a {type(d).__name__}, not a string")
  return descriptions


def _check_count(num_samples: Any) -> None:
  if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
      or num_samples < 1:
    raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")


def _tokenize(cond, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
  """The encoder's ids; a text longer than max_length tokens is cut, with a warning."""
  ids, mask = cond.tokenize(texts)
  specials = int(cond.tokenize([""])[1].sum())  # [CLS] / [SEP] / EOS around the text
  for i, text in enumerate(texts):
    needed = len(list(cond.vocab.encode(text))) + specials
    if needed > cond.max_length:
      warnings.warn(f"description {i} ({text[:40]!r}...) is {needed} tokens long, more than "
                    f"the text encoder's max_length of {cond.max_length}: it is cut to "
                    f"{cond.max_length} tokens", stacklevel=5)
  return ids, mask


def encode_descriptions(cond, text_dim: int, descriptions: list[str | None] | None, batch: int):
  """(states [B, L, text_dim], mask [B, L]); None rows get the null condition (zero states,
  empty mask), what classifier-free guidance uses as the unconditional branch. (None, None)
  for an unconditional model."""
  if not text_dim:
    if descriptions is not None and any(d is not None for d in descriptions):
      raise ValueError("descriptions: this model is unconditional (it has no text encoder); "
                       "use generate_unconditional")
    return None, None
  if descriptions is None or all(d is None for d in descriptions):
    return cond.null(batch)  # encoder width: no projection in the conditioner
  ids, mask = _tokenize(cond, ["" if d is None else d for d in descriptions])
  states, mask = cond.encode_ids(ids, mask)
  keep = jnp.asarray([d is not None for d in descriptions])
  return (jnp.asarray(states, jnp.float32) * keep[:, None, None],
          jnp.asarray(mask, bool) & keep[:, None])
