"""audiocraft's own export (MusicGen / AudioGen) -> a model folder (lm/pretrained.py).

  python launch/convert.py audiocraft --from DIR --text-encoder T5_DIR --to OUT

  DIR/state_dict.bin              {"best_state": the LM's state dict, "xp.cfg": its config}
  DIR/compression_state_dict.bin  {"best_state": EnCodec's state dict, "xp.cfg": its config}
  T5_DIR                          a `transformers` T5 folder (audiocraft's files hold no text
                                  encoder: t5-base for MusicGen, t5-large for AudioGen)

This is the only published format of AudioGen-medium. Both files are read with
`torch.load(weights_only=True)`, so nothing in them runs; `xp.cfg` must be a YAML string (what
audiocraft's export writes) or a plain dict. The LM's names are read as `transformers`' MusicGen
names (their converter came from these modules) by musicgen.lm_params; the codec's are renamed
to `transformers`' EncodecModel names for encodec.state_from_hf. Sizes that the tensor shapes
hold come from the shapes (a cfg that disagrees is an error); the rest from xp.cfg, with
audiocraft's config defaults. Every tensor is used, or named in an error.
"""
from __future__ import annotations

import math
import os
import pickle
import re
import shutil
from typing import Any

import numpy as np

from soundgen_jax.convert import common, musicgen, t5 as t5_convert
from soundgen_jax.lm import pretrained
from soundgen_jax.lm.model import LMConfig

LM_FILE, CODEC_FILE = "state_dict.bin", "compression_state_dict.bin"
TEXT_PROJ = "condition_provider.conditioners.description.output_proj"
# audiocraft's generation defaults (MusicGen / AudioGen __init__): (max_duration, extend_stride).
DURATIONS = {"musicgen": (30.0, 18.0), "audiogen": (10.0, 2.0)}
_MISSING = object()


# --- reading --------------------------------------------------------------------------------

def load_package(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """(best_state as numpy, xp.cfg as a plain dict) of one audiocraft export file."""
  if not os.path.isfile(path):
    raise common.ConversionError(f"{path}: no such file; --from must be a folder holding "
                                 f"audiocraft's {LM_FILE} and {CODEC_FILE}")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise common.ConversionError(f"{path}: reading audiocraft's files needs torch "
                                 "(pip install torch)") from e
  try:
    pkg = torch.load(path, map_location="cpu", weights_only=True)
  except pickle.UnpicklingError:
    raise common.ConversionError(
        f"{path}: holds objects other than tensors, strings and plain containers (e.g. an "
        "omegaconf config); refused because loading it would run code from the file. Re-save "
        "it with xp.cfg as a plain dict or YAML string (OmegaConf.to_yaml)") from None
  except (RuntimeError, EOFError, OSError) as e:
    raise common.ConversionError(f"{path}: not a readable torch file ({e})") from None
  if isinstance(pkg, dict) and "pretrained" in pkg and "best_state" not in pkg:
    raise common.ConversionError(f"{path}: holds no weights, only the name of a pretrained "
                                 f"model ({pkg['pretrained']!r}); not convertible here")
  if not isinstance(pkg, dict) or not isinstance(pkg.get("best_state"), dict):
    raise common.ConversionError(f"{path}: no 'best_state' dict: not an audiocraft export")
  state = pkg["best_state"]
  if set(state) == {"model"} and isinstance(state["model"], dict):
    state = state["model"]  # a training checkpoint rather than an export
  tensors = {}
  for name, v in state.items():
    if not isinstance(v, torch.Tensor):
      raise common.ConversionError(f"{path}: best_state entry {name} is a "
                                   f"{type(v).__name__}, not a tensor")
    tensors[name] = v.float().numpy() if v.is_floating_point() else v.numpy()
  return tensors, parse_cfg(pkg.get("xp.cfg"), path)


def parse_cfg(raw: Any, path: str) -> dict[str, Any]:
  """xp.cfg (YAML text or a dict) as a dict, its `${a.b}` references resolved."""
  if raw is None:
    return {}
  if isinstance(raw, str):
    import yaml  # pylint: disable=g-import-not-at-top
    try:
      raw = yaml.safe_load(raw)
    except yaml.YAMLError as e:
      raise common.ConversionError(f"{path}: xp.cfg is not valid YAML ({e})") from None
  if not isinstance(raw, dict):
    raise common.ConversionError(f"{path}: xp.cfg is a {type(raw).__name__}, not a mapping")
  return _resolve(raw, raw, 0)


_REF = re.compile(r"^\$\{([\w.]+)\}$")


def _resolve(node, root, depth):
  # OmegaConf.to_yaml keeps interpolations (encodec.sample_rate: ${sample_rate}).
  if isinstance(node, dict):
    return {k: _resolve(v, root, depth) for k, v in node.items()}
  if isinstance(node, list):
    return [_resolve(v, root, depth) for v in node]
  if isinstance(node, str) and depth < 16 and (m := _REF.match(node)):
    target = get(root, m[1])
    return node if target is _MISSING else _resolve(target, root, depth + 1)
  return node


def get(cfg: dict[str, Any], field: str, default: Any = _MISSING) -> Any:
  """cfg's dotted `field`; `default` when it is absent or null."""
  node: Any = cfg
  for part in field.split("."):
    if not isinstance(node, dict) or node.get(part) is None:
      return default
    node = node[part]
  return node


def _check(path: str, cfg: dict[str, Any], field: str, allowed, what: str) -> None:
  """A cfg value our model cannot represent is an error naming it."""
  value = get(cfg, field, None)
  if value is not None and value not in allowed:
    raise common.ConversionError(f"{path}: xp.cfg {field}={value!r} is not supported ({what})")


def _agree(path: str, cfg: dict[str, Any], field: str, got) -> None:
  """A cfg size must match what the tensors hold."""
  value = get(cfg, field)
  if value is not _MISSING and value != got:
    raise common.ConversionError(f"{path}: xp.cfg {field}={value!r}, but the tensors hold "
                                 f"{got!r}")


# --- the LM ---------------------------------------------------------------------------------

_ATTN = re.compile(r"^(self_attn|encoder_attn)\.(q|k|v|out)_proj\.weight$")
_PARTS = {"self_attn_layer_norm": "norm1", "encoder_attn_layer_norm": "norm_cross",
          "final_layer_norm": "norm2", "fc1": "linear1", "fc2": "linear2"}


def audiocraft_name(name: str) -> tuple[str, int | None]:
  """`transformers`' MusicGen decoder name (no prefix) -> (audiocraft's name, the q / k / v row
  block of a fused in_proj_weight, or None)."""
  if m := re.match(r"^embed_tokens\.(\d+)\.weight$", name):
    return f"emb.{m[1]}.weight", None
  if m := re.match(r"^lm_heads\.(\d+)\.weight$", name):
    return f"linears.{m[1]}.weight", None
  if name.startswith("layer_norm."):
    return "out_norm." + name[len("layer_norm."):], None
  if name.startswith("enc_to_dec_proj."):
    return TEXT_PROJ + name[len("enc_to_dec_proj"):], None
  m = re.match(r"^layers\.(\d+)\.(.+)$", name)
  if not m:
    raise KeyError(name)
  layer, rest = f"transformer.layers.{m[1]}.", m[2]
  if a := _ATTN.match(rest):
    module = "self_attn" if a[1] == "self_attn" else "cross_attention"
    if a[2] == "out":
      return f"{layer}{module}.out_proj.weight", None
    return f"{layer}{module}.in_proj_weight", "qkv".index(a[2])
  part, _, leaf = rest.partition(".")
  return f"{layer}{_PARTS[part]}.{leaf}", None


class AudiocraftLM(common.TensorMap):
  """audiocraft's LM tensors served under `transformers`' MusicGen names, the names
  musicgen.lm_params asks for; use and errors are recorded on `parent`, by audiocraft's names."""

  def __init__(self, parent: common.TensorMap):
    super().__init__({}, parent.source)
    self.parent = parent

  def _source(self, name: str) -> tuple[str, int | None]:
    src, block = audiocraft_name(name)
    if src not in self.parent:  # nn.MultiheadAttention's layout (custom=False) nests `mha.`
      alt = re.sub(r"\.(self_attn|cross_attention)\.", r".\1.mha.", src)
      src = alt if alt in self.parent else src
    return src, block

  def __contains__(self, name: str) -> bool:
    return self._source(name)[0] in self.parent

  def take(self, name: str) -> np.ndarray:
    src, block = self._source(name)
    t = self.parent.take(src)
    if block is None:
      return t
    if t.shape[0] % 3 or t.shape[0] // 3 != t.shape[1]:
      raise common.ConversionError(f"{self.source}: {src} has shape {t.shape}, not [3 x width, "
                                   "width] (q, k, v fused; kv_repeat is not supported)")
    return np.split(t, 3)[block]

  def ignore(self, name: str) -> None:
    self.parent.ignore(self._source(name)[0])


def _indices(t: common.TensorMap, pattern: str) -> list[int]:
  return sorted({int(m[1]) for n in t if (m := re.match(pattern, n))})


def lm_config(t: common.TensorMap, xp: dict[str, Any]) -> LMConfig:
  """The LMConfig of an audiocraft LM: sizes from the shapes (checked against
  xp.cfg transformer_lm.*), heads from xp.cfg; what our LM cannot run is an error."""
  path = t.source
  emb = _indices(t, r"^emb\.(\d+)\.weight$")
  if not emb:
    raise common.ConversionError(f"{path}: missing tensor emb.0.weight (not an audiocraft LM)")
  rows, dim = t.tensors["emb.0.weight"].shape
  layers = _indices(t, r"^transformer\.layers\.(\d+)\.")
  first = "transformer.layers.0.linear1.weight"
  if not layers or first not in t:
    raise common.ConversionError(f"{path}: missing tensor {first}")
  ffn = int(t.tensors[first].shape[0])
  proj = TEXT_PROJ + ".weight"
  text_dim = int(t.tensors[proj].shape[1]) if proj in t else 0
  heads = get(xp, "transformer_lm.num_heads")
  if heads is _MISSING:
    raise common.ConversionError(f"{path}: xp.cfg has no transformer_lm.num_heads (the tensor "
                                 "shapes do not hold it); add it to xp.cfg")
  for field, got in (("n_q", len(emb)), ("card", int(rows) - 1), ("dim", int(dim)),
                     ("num_layers", len(layers))):
    _agree(path, xp, "transformer_lm." + field, got)
  scale = get(xp, "transformer_lm.hidden_scale")
  if scale is not _MISSING and int(scale * dim) != ffn:
    raise common.ConversionError(f"{path}: xp.cfg transformer_lm.hidden_scale={scale} gives "
                                 f"{int(scale * dim)}, but linear1 has {ffn} rows")
  for field, allowed, what in (
      ("transformer_lm.activation", ("gelu",), "MusicGen's gelu only"),
      ("transformer_lm.norm_first", (True,), "pre-norm only: post-norm has no out_norm"),
      ("transformer_lm.norm", ("layer_norm",), "layer_norm only"),
      ("transformer_lm.positional_embedding", ("sin",), "sinusoidal positions only"),
      ("transformer_lm.max_period", (10000, 10000.0), "sinusoid period 10000 only"),
      ("transformer_lm.positional_scale", (1, 1.0), "unscaled positions only"),
      ("transformer_lm.qk_layer_norm", (False,), "no q / k norms"),
      ("transformer_lm.qk_layer_norm_cross", (False,), "no q / k norms"),
      ("transformer_lm.kv_repeat", (1,), "one k / v per head"),
      ("fuser.cross_attention_pos_emb", (False,), "no positions on the text states")):
    _check(path, xp, field, allowed, what)
  for cond, c in (get(xp, "conditioners", {}) or {}).items():
    if cond != "args" and (cond != "description" or (c or {}).get("model") != "t5"):
      raise common.ConversionError(f"{path}: xp.cfg conditioners.{cond} is not supported (only "
                                   "a T5 text description)")
  for method in ("sum", "prepend", "input_interpolate"):
    if get(xp, f"fuser.{method}", []):
      raise common.ConversionError(f"{path}: xp.cfg fuser.{method} is not supported (text "
                                   "enters by cross-attention only)")
  return LMConfig(num_codebooks=len(emb), codebook_size=int(rows) - 1, dim=int(dim),
                  num_heads=int(heads), num_layers=len(layers), ffn_dim=ffn, text_dim=text_dim)


def lm_params(t: common.TensorMap, cfg: LMConfig) -> dict[tuple, np.ndarray]:
  """Our LM's flat parameters from audiocraft's names; the text projection included."""
  view = AudiocraftLM(t)
  params = musicgen.lm_params(view, cfg, prefix="", heads="lm_heads.")
  if cfg.text_dim and cfg.text_dim == cfg.dim:
    # Our LM projects only between different widths; audiocraft always has output_proj.
    w, b = view.take("enc_to_dec_proj.weight"), view.take("enc_to_dec_proj.bias")
    if not (np.allclose(w, np.eye(cfg.dim)) and not np.any(b)):
      raise common.ConversionError(f"{t.source}: {TEXT_PROJ} maps text of the LM's own width "
                                   f"({cfg.dim}) and is not the identity; not supported")
  else:
    musicgen.add_text_projection(params, view, cfg, "enc_to_dec_proj")
  return params


def pattern_config(xp: dict[str, Any], num_codebooks: int, channels: int,
                   path: str) -> dict[str, Any]:
  """Our pattern entry from codebooks_pattern.* (audiocraft's builders.py reads the same)."""
  name = get(xp, "codebooks_pattern.modeling", None) or get(xp, "transformer_lm.q_modeling", None)
  if name is None:
    return musicgen.delay_pattern(num_codebooks, channels)
  options = get(xp, f"codebooks_pattern.{name}", {}) or {}
  if name == "parallel":
    return {"name": "parallel"}
  if name != "delay":
    raise common.ConversionError(f"{path}: xp.cfg codebooks_pattern.modeling={name!r} is not "
                                 "supported (delay or parallel)")
  for field in ("flatten_first", "empty_initial"):
    if options.get(field):
      raise common.ConversionError(f"{path}: xp.cfg codebooks_pattern.delay.{field}="
                                   f"{options[field]} is not supported (0 only)")
  delays = [int(d) for d in options.get("delays") or range(num_codebooks)]
  if len(delays) != num_codebooks:
    raise common.ConversionError(f"{path}: xp.cfg codebooks_pattern.delay.delays={delays} has "
                                 f"{len(delays)} entries for {num_codebooks} codebooks")
  return {"name": "delay", "delays": delays}


def durations(xp: dict[str, Any]) -> tuple[float, float]:
  """(max_duration, extend_stride): the training window (dataset.segment_duration) and
  audiocraft's stride for the family (AudioGen: solver audiogen, or 16 kHz without a solver)."""
  solver = str(get(xp, "solver", ""))
  audiogen = solver.startswith("audiogen") or (not solver and get(xp, "sample_rate") == 16000)
  max_duration, stride = DURATIONS["audiogen" if audiogen else "musicgen"]
  max_duration = float(get(xp, "dataset.segment_duration", max_duration))
  return max_duration, stride if stride < max_duration else max_duration / 2


# --- the codec ------------------------------------------------------------------------------

_CODEC_NAME = re.compile(r"^(?P<side>encoder|decoder)\.model\.(?P<i>\d+)\."
                         r"(?P<sub>(?:block\.\d+|shortcut)\.)?"
                         r"(?P<mod>conv\.conv|convtr\.convtr|conv\.norm|convtr\.norm|lstm)\."
                         r"(?P<leaf>.+)$")
_CODEBOOK = re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."
                       r"(embed|embed_avg|cluster_size|inited)$")
_HF_MODULE = {"conv.conv": "conv", "convtr.convtr": "conv", "conv.norm": "norm",
              "convtr.norm": "norm", "lstm": "lstm"}


def hf_codec_name(name: str) -> str | None:
  """audiocraft's EnCodec name -> `transformers`' EncodecModel name (None: not an EnCodec
  tensor); the inverse of transformers' EnCodec conversion table."""
  if m := _CODEC_NAME.match(name):
    return (f"{m['side']}.layers.{m['i']}.{m['sub'] or ''}{_HF_MODULE[m['mod']]}."
            f"{m['leaf']}")
  if m := _CODEBOOK.match(name):
    return f"quantizer.layers.{m[1]}.codebook.{m[2]}"
  return None


def _kernel_shape(tensors: dict[str, np.ndarray], module: str, path: str) -> tuple[int, ...]:
  for leaf in ("weight_v", "parametrizations.weight.original1", "weight"):
    if f"{module}.{leaf}" in tensors:
      return tuple(tensors[f"{module}.{leaf}"].shape)
  raise common.ConversionError(f"{path}: missing tensor {module}.weight_v (or .weight)")


def codec_hf_config(tensors: dict[str, np.ndarray], xp: dict[str, Any], path: str,
                    lm_xp: dict[str, Any]) -> dict[str, Any]:
  """A `transformers` EncodecConfig dict for encodec.config_from_hf: sizes from the shapes
  (checked against seanet.* / rvq.*), the rest from xp.cfg (audiocraft's defaults)."""
  names = list(tensors)
  seanet = get(xp, "seanet", {}) or {}

  def indices(pattern):
    return sorted({int(m[1]) for n in names if (m := re.match(pattern, n))})

  convs = indices(r"^encoder\.model\.(\d+)\.conv\.conv\.")
  resblocks = indices(r"^encoder\.model\.(\d+)\.block\.")
  upsamplings = indices(r"^decoder\.model\.(\d+)\.convtr\.convtr\.")
  levels = indices(_CODEBOOK.pattern)
  if not convs or not upsamplings or not levels:
    raise common.ConversionError(f"{path}: missing tensor encoder.model.0.conv.conv.weight_v "
                                 "(or its decoder / quantizer.vq): not an audiocraft EnCodec")
  lstm = len(indices(r"^encoder\.model\.\d+\.lstm\.\w+_l(\d+)$"))
  if any(n.endswith(("weight_g", "parametrizations.weight.original0")) for n in names):
    norm = "weight_norm"
  elif any(".conv.norm." in n or ".convtr.norm." in n for n in names):
    norm = "time_group_norm"
  else:
    norm = "none"
  _check_complete(tensors, norm, lstm, levels, path)
  num_filters, channels, kernel = _kernel_shape(tensors, f"encoder.model.{convs[0]}.conv.conv",
                                                path)
  dimension, _, last_kernel = _kernel_shape(tensors, f"encoder.model.{convs[-1]}.conv.conv",
                                            path)
  ratios = [_kernel_shape(tensors, f"decoder.model.{i}.convtr.convtr", path)[-1] // 2
            for i in upsamplings]  # SEANet's transposed convs have kernel 2 x stride
  if resblocks:
    hidden, width, residual_kernel = _kernel_shape(
        tensors, f"encoder.model.{resblocks[0]}.block.1.conv.conv", path)
    compress = width // hidden
  else:
    residual_kernel, compress = seanet.get("residual_kernel_size", 3), seanet.get("compress", 2)
  bins, codebook_dim = tensors[f"quantizer.vq.layers.{levels[0]}._codebook.embed"].shape
  shortcut = any(".shortcut." in n for n in names)
  for field, got in (("seanet.n_filters", num_filters), ("seanet.dimension", dimension),
                     ("seanet.ratios", ratios), ("seanet.lstm", lstm), ("rvq.bins", bins),
                     ("rvq.n_q", len(levels)), ("seanet.norm", norm),
                     ("seanet.true_skip", not shortcut)):
    _agree(path, xp, field, got)
  for field, allowed, what in (
      ("seanet.activation", ("ELU",), "ELU only"),
      ("seanet.activation_params.alpha", (1, 1.0), "ELU alpha 1 only"),
      ("seanet.disable_norm_outer_blocks", (0,), "the same norm on every conv"),
      ("seanet.decoder.final_activation", (None,), "no final activation"),
      ("encodec.autoencoder", ("seanet",), "SEANet only"),
      ("encodec.quantizer", ("rvq",), "RVQ only")):
    _check(path, xp, field, allowed, what)
  for side in ("encoder", "decoder"):
    extra = set(get(xp, f"seanet.{side}", {}) or {}) - {"trim_right_ratio", "final_activation",
                                                        "final_activation_params"}
    if extra:
      raise common.ConversionError(f"{path}: xp.cfg seanet.{side} overrides {sorted(extra)}: "
                                   "encoder and decoder must share their settings")
  sample_rate = get(xp, "encodec.sample_rate", get(xp, "sample_rate", get(lm_xp, "sample_rate")))
  if sample_rate is _MISSING:
    raise common.ConversionError(f"{path}: xp.cfg has no sample_rate (nor encodec.sample_rate); "
                                 "add it to xp.cfg")
  frame_rate = math.ceil(int(sample_rate) / int(np.prod(ratios)))
  bits = math.ceil(math.log2(bins))
  bandwidth = len(levels) * frame_rate * bits / 1000
  while int(1000 * bandwidth // (frame_rate * bits)) < len(levels):  # float rounding
    bandwidth = math.nextafter(bandwidth, math.inf)
  return {
      "sampling_rate": int(sample_rate), "audio_channels": int(channels),
      "hidden_size": int(dimension), "codebook_dim": int(codebook_dim),
      "num_filters": int(num_filters), "upsampling_ratios": [int(r) for r in ratios],
      "kernel_size": int(kernel), "last_kernel_size": int(last_kernel),
      "residual_kernel_size": int(residual_kernel),
      "num_residual_layers": max(1, len(resblocks) // len(ratios)),
      "dilation_growth_rate": int(seanet.get("dilation_base", 2)), "compress": int(compress),
      "num_lstm_layers": lstm, "use_causal_conv": bool(seanet.get("causal", get(
          xp, "encodec.causal", False))),
      "pad_mode": str(seanet.get("pad_mode", "constant")), "norm_type": norm,
      "use_conv_shortcut": shortcut,
      "trim_right_ratio": float(get(xp, "seanet.decoder.trim_right_ratio",
                                    seanet.get("trim_right_ratio", 1.0))),
      "codebook_size": int(bins), "target_bandwidths": [bandwidth],
      "normalize": bool(get(xp, "encodec.renormalize", False)),
      "chunk_length_s": None, "overlap": None}


def _check_complete(tensors: dict[str, np.ndarray], norm: str, lstm_layers: int,
                    levels: list[int], path: str) -> None:
  """Every module the file has holds all its tensors, so a missing one is named in
  audiocraft's terms (a wholly missing module is named by fill_state, in ours)."""
  modules: dict[str, set[str]] = {
      f"quantizer.vq.layers.{q}._codebook": set() for q in levels}
  for name in tensors:
    if m := _CODEC_NAME.match(name):
      modules.setdefault(name[:-len(m["leaf"]) - 1], set()).add(m["leaf"])
    elif m := _CODEBOOK.match(name):
      modules[f"quantizer.vq.layers.{m[1]}._codebook"].add(m[2])
  for module, have in sorted(modules.items()):
    if module.endswith("._codebook"):
      want = {"embed", "embed_avg", "cluster_size", "inited"}
    elif module.endswith(".lstm"):
      want = {f"{w}_l{k}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
              for k in range(lstm_layers)}
    elif module.endswith(".norm") or norm != "weight_norm":
      want = {"weight", "bias"}
    elif any(leaf.startswith("parametrizations.") for leaf in have):  # torch's newer API
      want = {"parametrizations.weight.original0", "parametrizations.weight.original1", "bias"}
    else:
      want = {"weight_g", "weight_v", "bias"}
    if missing := sorted(want - have):
      raise common.ConversionError(f"{path}: missing tensor {module}.{missing[0]}")


def codec_tensors(tensors: dict[str, np.ndarray], path: str) -> common.TensorMap:
  """The codec's tensors under `transformers`' names; an unknown one is an error naming it."""
  renamed = {}
  for name, v in tensors.items():
    hf = hf_codec_name(name)
    if hf is None:
      raise common.ConversionError(f"{path}: unknown tensor {name}")
    renamed[hf] = v
  return common.TensorMap(renamed, path)


# --- the whole model ------------------------------------------------------------------------

def convert_audiocraft(src_dir: str, out_dir: str, text_encoder_dir: str | None) -> None:
  """audiocraft's export folder + a `transformers` T5 folder -> model folder at `out_dir`."""
  lm_path, codec_path = os.path.join(src_dir, LM_FILE), os.path.join(src_dir, CODEC_FILE)
  lm_state, xp = load_package(lm_path)
  codec_state, codec_xp = load_package(codec_path)
  t = common.TensorMap(lm_state, lm_path)
  cfg = lm_config(t, xp)
  params = lm_params(t, cfg)
  t.finish()
  lm = musicgen.fill_lm(cfg, params)
  channels = int(get(xp, "channels", 1))
  pattern = pattern_config(xp, cfg.num_codebooks, channels, lm_path)
  pretrained.make_pattern(pattern, cfg.num_codebooks)  # a bad pattern fails before writing
  hf_codec = codec_hf_config(codec_state, codec_xp, codec_path, xp)
  codec = codec_tensors(codec_state, codec_path)
  if cfg.text_dim:
    _check_text_encoder(text_encoder_dir, cfg.text_dim, xp, lm_path)
  os.makedirs(out_dir, exist_ok=True)
  tmp_text, tmp_codec = os.path.join(out_dir, ".text"), os.path.join(out_dir, ".codec")
  try:
    try:
      musicgen._convert_codec(codec, hf_codec, tmp_codec)  # pylint: disable=protected-access
    except common.ConversionError as e:
      raise common.ConversionError(f"{codec_path}: {e}") from None
    text = None
    if cfg.text_dim:
      model, config = t5_convert.from_hf(text_encoder_dir)
      common.save_converted(tmp_text, model, config, text_encoder_dir,
                            musicgen.TOKENIZER_FILES)
      text = {"encoder": "t5", "max_length": 256}
    max_duration, extend_stride = durations(xp)
    pretrained.save(out_dir, lm, pattern=pattern, text=text,
                    text_dir=tmp_text if text else None, codec_dir=tmp_codec, channels=channels,
                    max_duration=max_duration, extend_stride=extend_stride, source="audiocraft")
  finally:
    for tmp in (tmp_text, tmp_codec):
      shutil.rmtree(tmp, ignore_errors=True)


def _check_text_encoder(text_dir: str | None, text_dim: int, xp: dict[str, Any],
                        path: str) -> None:
  name = get(xp, "conditioners.description.t5.name", "t5")
  if not text_dir:
    raise common.ConversionError(f"{path}: audiocraft's files hold no text encoder: pass "
                                 f"--text-encoder, a transformers {name} folder")
  width = common.read_config(text_dir).get("d_model")
  if width != text_dim:
    raise common.ConversionError(f"{text_dir}: T5 width d_model={width}, but the LM's "
                                 f"{TEXT_PROJ} takes {text_dim} (xp.cfg names {name})")


def convert(src_dir: str, out_dir: str, text_encoder_dir: str | None = None) -> None:
  """launch/convert.py's entry point."""
  convert_audiocraft(src_dir, out_dir, text_encoder_dir)
