"""Every seqio task of the project (all `TaskRegistry.add` calls live here).

Three views of each corpus:

  <corpus>_audio        {"audio": float32 [C, T]}                     codec training
  <corpus>_text_audio   {"audio", "caption"}                          raw text-audio (LM input
                                                                      before tokenising, evals)
  <corpus>_text_codes   {"codes": int32 [Q, frames], "caption"}       cached codec tokens
                                                                      (launch/tokenize.py)

Corpora: `synthetic` (built in, nothing to download), `debian` (scripts/fetch_corpus.py), and
`user` (a folder, glob or JSONL manifest given in the data config). Every element also carries
`skip` (why it is unusable, empty if fine), `id`, and its record (`split`, `index`, `epoch`,
`seed`); see preprocessors.py.

Tasks are registered with default options at import. `task_for(data_config)` registers (once)
and returns the variant that matches a data config's options, named `<base>#<digest>`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any, Mapping

import seqio

from soundgen_jax.data import preprocessors as prep
from soundgen_jax.data import sources
from soundgen_jax.data.corpora import manifest as mf

AUDIO, TEXT_AUDIO, TEXT_CODES = "audio", "text_audio", "text_codes"
VIEWS = (AUDIO, TEXT_AUDIO, TEXT_CODES)
CORPORA = ("synthetic", "debian", "user")
CODES_INFO = "info.json"  # written by launch/tokenize.py next to the TFRecord shards

# Options of every task, with their defaults (a data config overrides any of them).
DEFAULTS: dict[str, Any] = dict(
    sample_rate=24000,           # Hz of the output audio
    channels=1,                  # output channels
    crop_seconds=1.0,            # output clip length (audio views); codes: seconds of tokens
    min_seconds=0.05,            # shorter clips are skipped
    silence_peak=1e-3,           # crops with a lower peak are skipped as silent
    normalize_db=None,           # RMS loudness target in dBFS (None: levels left as they are)
    mix_probability=0.0,         # text-audio, train split: AudioGen mixing probability
    mix_snr_db=(-5.0, 5.0),      # SNR range of the mixed-in clip
    tag_shuffle_probability=0.0,  # text-audio, train split: caption tag shuffling probability
    tag_drop_probability=0.0,    # text-audio, train split: per-tag drop probability
    corpus_seed=0,               # synthetic: the corpus seed (which clips exist)
    eval_examples=64,            # synthetic: size of the valid and test splits
    data_dir="data/debian",      # debian: the folder scripts/fetch_corpus.py built
    path="",                     # user: a folder of audio files or one file
    glob="",                     # user: a glob pattern of audio files
    manifest="",                 # user: a JSONL manifest ({"path": ..., "caption": ...})
    eval_fraction=0.05,          # user: share held out as `valid` for entries without a split
    codes_dir="",                # text-codes: the folder launch/tokenize.py wrote
    max_frames=0,                # text-codes: frames per example (0: crop_seconds * frame rate)
)
# Which options make a difference for each corpus and view.
_AUDIO_KEYS = ("sample_rate", "channels", "crop_seconds", "min_seconds", "silence_peak",
               "normalize_db")
_TEXT_KEYS = ("mix_probability", "mix_snr_db", "tag_shuffle_probability",
              "tag_drop_probability")
_CORPUS_KEYS = {"synthetic": ("corpus_seed", "eval_examples"), "debian": ("data_dir",),
                "user": ("path", "glob", "manifest", "eval_fraction")}
_CODES_KEYS = ("codes_dir", "crop_seconds", "max_frames")
DEFAULT_CODES_DIR = {"synthetic": "data/codes/synthetic", "debian": "data/codes/debian",
                     "user": "data/codes/user"}
# Shorthands accepted as `task` in a data config.
SHORTHANDS = {"synthetic": "synthetic_audio", "debian": "debian_audio", "files": "user_audio",
              "folder": "user_audio", "glob": "user_audio", "manifest": "user_audio",
              "user": "user_audio", "codes": "user_text_codes"}

_OPTIONS: dict[str, dict[str, Any]] = {}  # task name -> the options it was built with
# Every base task: name -> (corpus, view). The user corpus's audio views are registered only
# when a data config names its files.
BASES = {f"{c}_{v}": (c, v) for c in CORPORA for v in VIEWS}


def relevant_keys(corpus: str, view: str) -> tuple[str, ...]:
  if view == TEXT_CODES:
    return _CODES_KEYS
  keys = _AUDIO_KEYS + _CORPUS_KEYS[corpus]
  return keys + _TEXT_KEYS if view == TEXT_AUDIO else keys


def _audio_options(o: Mapping[str, Any]) -> sources.AudioOptions:
  return sources.AudioOptions(sample_rate=int(o["sample_rate"]), channels=int(o["channels"]),
                              crop_seconds=float(o["crop_seconds"]),
                              min_seconds=float(o["min_seconds"]),
                              silence_peak=float(o["silence_peak"]))


def _clip_source(corpus: str, text: bool, o: Mapping[str, Any]) -> sources.ClipSource:
  """Builds the ClipSource of a corpus (reads its manifest / lists its files)."""
  audio = _audio_options(o)
  if corpus == "synthetic":
    return sources.SyntheticSource(audio, corpus_seed=int(o["corpus_seed"]),
                                   eval_examples=int(o["eval_examples"]), text=text)
  if corpus == "debian":
    from soundgen_jax.data.corpora import debian  # pylint: disable=g-import-not-at-top
    data_dir = o["data_dir"]
    hint = f"{debian.FETCH_HINT} --out {data_dir}"
    if not os.path.isdir(data_dir):
      raise mf.DataNotFoundError(f"{data_dir}: no debian corpus folder; {hint}")
    entries, bad = {}, {}
    for split in sources.SPLITS:
      counter = mf.SkipCounter()
      entries[split] = debian.load_split(split, data_dir, counter=counter)
      for k, v in counter.counts.items():
        bad[k] = bad.get(k, 0) + v
    return sources.EntrySource(entries, audio, name="debian", text=text, listing_skips=bad)
  if o["manifest"]:
    entries, bad = sources.manifest_entries(
        o["manifest"], float(o["eval_fraction"]),
        hint="write one JSON object per line with a 'path' (and 'caption')")
    return sources.EntrySource(entries, audio, name=o["manifest"], text=text,
                               listing_skips=bad)
  pattern = o["glob"] or o["path"]
  if not pattern:
    raise ValueError("the user corpus needs data.path (a folder or file), data.glob or "
                     "data.manifest")
  if pattern.endswith(".jsonl") and os.path.isfile(pattern):
    entries, bad = sources.manifest_entries(pattern, float(o["eval_fraction"]))
    return sources.EntrySource(entries, audio, name=pattern, text=text, listing_skips=bad)
  return sources.EntrySource(sources.file_entries(pattern, float(o["eval_fraction"])), audio,
                             name=pattern, text=text)


def _add_audio_task(name: str, corpus: str, view: str, o: Mapping[str, Any]) -> seqio.Task:
  text = view == TEXT_AUDIO
  source = sources.IndexDataSource(functools.partial(_clip_source, corpus, text, dict(o)),
                                   description=f"{corpus}, {_describe(o, corpus, view)}")
  steps = [functools.partial(_decode, source=source)]
  if o["normalize_db"] is not None:
    steps.append(functools.partial(prep.normalize_loudness, target_db=float(o["normalize_db"])))
  features = {"audio": seqio.ContinuousFeature(dtype=_tf().float32, rank=2)}
  if text:
    if o["mix_probability"] > 0:
      steps.append(functools.partial(_mix, source=source, probability=float(o["mix_probability"]),
                                     snr_db=tuple(o["mix_snr_db"])))
    if o["tag_shuffle_probability"] > 0 or o["tag_drop_probability"] > 0:
      steps.append(functools.partial(
          prep.augment_caption, shuffle_probability=float(o["tag_shuffle_probability"]),
          drop_probability=float(o["tag_drop_probability"]), train_only=True))
    features["caption"] = seqio.ContinuousFeature(dtype=_tf().string, rank=0)
  return seqio.TaskRegistry.add(name, source=source, output_features=features,
                                preprocessors=steps, shuffle_buffer_size=None)


# seqio binds preprocessors by keyword; the source is resolved lazily inside.
def _decode(dataset, source: sources.IndexDataSource):
  return prep.decode_clips(dataset, source.clips)


def _mix(dataset, source: sources.IndexDataSource, probability: float, snr_db):
  return prep.mix(dataset, source.clips, probability, snr_db, train_only=True)


def _add_codes_task(name: str, o: Mapping[str, Any]) -> seqio.Task:
  codes_dir = o["codes_dir"]
  source = seqio.TFExampleDataSource(
      {s: os.path.join(codes_dir, f"{s}-*.tfrecord") for s in sources.SPLITS},
      prep.CODES_FEATURES)
  steps = [prep.parse_codes,
           functools.partial(prep.crop_codes, max_frames=int(o["max_frames"]) or None,
                             seconds=float(o["crop_seconds"]), codes_dir=codes_dir)]
  tf = _tf()
  features = {"codes": seqio.ContinuousFeature(dtype=tf.int32, rank=2),
              "caption": seqio.ContinuousFeature(dtype=tf.string, rank=0)}
  return seqio.TaskRegistry.add(name, source=source, output_features=features,
                                preprocessors=steps, shuffle_buffer_size=1000)


def _tf():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def _describe(o: Mapping[str, Any], corpus: str, view: str) -> str:
  keys = relevant_keys(corpus, view)
  return ", ".join(f"{k}={o[k]!r}" for k in keys if o[k] not in ("", None))


def _register(name: str, corpus: str, view: str, options: Mapping[str, Any]) -> seqio.Task:
  o = dict(DEFAULTS)
  o.update(options)
  if view == TEXT_CODES:
    o["codes_dir"] = o["codes_dir"] or DEFAULT_CODES_DIR[corpus]
    task = _add_codes_task(name, o)
  else:
    task = _add_audio_task(name, corpus, view, o)
  _OPTIONS[name] = {k: o[k] for k in relevant_keys(corpus, view)}
  _OPTIONS[name].update(corpus=corpus, view=view)
  return task


def options(name: str) -> dict[str, Any]:
  """The options a task of this module was built with (plus `corpus` and `view`)."""
  return dict(_OPTIONS[name])


def names() -> list[str]:
  """The tasks of this module (defaults and registered variants), sorted."""
  return sorted(_OPTIONS)


# --- the default tasks ----------------------------------------------------------------------

for _corpus in CORPORA:
  for _view in VIEWS:
    if _corpus == "user" and _view != TEXT_CODES:
      continue  # needs a path; registered on demand by task_for
    _register(f"{_corpus}_{_view}", _corpus, _view, {})


# --- from a data config ---------------------------------------------------------------------

def _config_get(config: Any, key: str, default: Any = None) -> Any:
  if config is None:
    return default
  if isinstance(config, Mapping):
    return config.get(key, default)
  return config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)


def base_name(config: Any) -> str:
  """The base task a data config asks for: its `task` (or a shorthand), else user data when a
  path / glob / manifest is given, else the synthetic audio corpus."""
  task = _config_get(config, "task", "") or ""
  if task:
    return SHORTHANDS.get(task, task)
  if any(_config_get(config, k) for k in ("path", "glob", "manifest")):
    return "user_audio"
  if _config_get(config, "codes_dir"):
    return "user_text_codes"
  return "synthetic_audio"


def task_for(config: Any) -> seqio.Task:
  """The task a data config describes, registered (once) with the config's options.

  `config` is a ConfigDict / mapping with `task` plus any of DEFAULTS' keys; keys that do not
  matter for the task are ignored. A task registered elsewhere is returned as it is.
  """
  base = base_name(config)
  if base not in BASES:
    if base in seqio.TaskRegistry.names():
      return seqio.TaskRegistry.get(base)
    raise ValueError(f"unknown data task {base!r}; choose one of {', '.join(sorted(BASES))}, "
                     f"or a shorthand ({', '.join(sorted(SHORTHANDS))})")
  corpus, view = BASES[base]
  registered = _OPTIONS.get(base, {})
  wanted = {}
  for k in relevant_keys(corpus, view):
    v = _config_get(config, k, None)
    if v is not None:
      wanted[k] = tuple(v) if isinstance(v, list) else v
  o = dict(DEFAULTS)
  o.update(registered)
  o.update(wanted)
  if corpus == "user" and view != TEXT_CODES and not (o["path"] or o["glob"] or o["manifest"]):
    raise ValueError("the user corpus needs data.path (a folder or file), data.glob or "
                     "data.manifest")
  key = {k: o[k] for k in relevant_keys(corpus, view)}
  if registered and key == {k: v for k, v in registered.items() if k in key}:
    return seqio.TaskRegistry.get(base)
  digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
  name = f"{base}#{digest}"
  if name not in _OPTIONS:
    _register(name, corpus, view, key)
  return seqio.TaskRegistry.get(name)


def view_of(task: seqio.Task) -> str:
  """AUDIO, TEXT_AUDIO or TEXT_CODES, from the task's output features."""
  if "codes" in task.output_features:
    return TEXT_CODES
  return TEXT_AUDIO if "caption" in task.output_features else AUDIO
