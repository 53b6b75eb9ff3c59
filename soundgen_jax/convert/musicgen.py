"""MusicGen / AudioGen checkpoints -> a model folder (lm/pretrained.py).

Two sources:
- `transformers`' `MusicgenForConditionalGeneration.save_pretrained` folder: the decoder, its
  T5 text encoder and the 32 kHz EnCodec in one safetensors file (mono: 4 codebooks, stereo: 8,
  left / right interleaved);
- audiocraft's own export (convert/audiocraft.py, which reuses `lm_params` here): `state_dict.bin`
  ({"best_state", "xp.cfg"}) and `compression_state_dict.bin`, read with
  `torch.load(weights_only=True)`.

Every tensor is used or named in an error; nothing in a checkpoint is executed.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from flax import nnx

from soundgen_jax.convert import common, encodec as encodec_convert, t5 as t5_convert
from soundgen_jax.lm import pretrained
from soundgen_jax.lm.model import AudioLM, LMConfig

DECODER = "decoder.model.decoder."
TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json")


class _Prefixed(common.TensorMap):
  """The tensors of `tensors` under `prefix`, by their names without it (shares `used`)."""

  def __init__(self, parent: common.TensorMap, prefix: str):
    super().__init__({k[len(prefix):]: v for k, v in parent.tensors.items()
                      if k.startswith(prefix)}, parent.source)
    self.parent, self.prefix = parent, prefix

  def take(self, name):
    self.parent.used.add(self.prefix + name)
    return super().take(name)

  def ignore(self, name):
    self.parent.used.add(self.prefix + name)
    super().ignore(name)


def lm_config(decoder: dict[str, Any], text_dim: int, **overrides) -> LMConfig:
  """LMConfig of a `transformers` MusicgenDecoderConfig dict."""
  if decoder.get("activation_function", "gelu") != "gelu":
    raise common.ConversionError(f"decoder activation {decoder['activation_function']!r} is "
                                 "not supported (MusicGen uses gelu)")
  cross = decoder.get("cross_attention_hidden_size")
  return LMConfig(num_codebooks=int(decoder["num_codebooks"]),
                  codebook_size=int(decoder["vocab_size"]), dim=int(decoder["hidden_size"]),
                  num_heads=int(decoder["num_attention_heads"]),
                  num_layers=int(decoder["num_hidden_layers"]), ffn_dim=int(decoder["ffn_dim"]),
                  text_dim=int(cross or text_dim), **overrides)


def delay_pattern(num_codebooks: int, channels: int) -> dict[str, Any]:
  """MusicGen's delays: codebook k waits k steps; stereo interleaves L / R at the same delay."""
  per = num_codebooks // channels
  return {"name": "delay", "delays": [k // channels if channels == 2 else k
                                      for k in range(per * channels)]}


def lm_params(t: common.TensorMap, cfg: LMConfig, prefix: str = DECODER,
              heads: str = "decoder.lm_heads.") -> dict[tuple, np.ndarray]:
  """Our LM's flat parameter paths from `transformers`' names (unscanned layers)."""
  h, d = cfg.num_heads, cfg.dim // cfg.num_heads
  p: dict[tuple, np.ndarray] = {}
  p[("embed",)] = np.stack([t.take(f"{prefix}embed_tokens.{k}.weight")
                            for k in range(cfg.num_codebooks)])
  p[("heads",)] = np.stack([t.take(f"{heads}{k}.weight") for k in range(cfg.num_codebooks)])
  for i in range(cfg.num_layers):
    src, dst = f"{prefix}layers.{i}.", ("decoder", "blocks", i)
    a = src + "self_attn."
    p[dst + ("self_attn", "qkv")] = np.stack(
        [t.take(f"{a}{n}_proj.weight") for n in "qkv"]).reshape(3, h, d, cfg.dim)
    p[dst + ("self_attn", "out")] = t.take(a + "out_proj.weight")
    if cfg.text_dim:
      c = src + "encoder_attn."
      p[dst + ("cross_attn", "q")] = t.take(c + "q_proj.weight").reshape(h, d, cfg.dim)
      p[dst + ("cross_attn", "kv")] = np.stack(
          [t.take(f"{c}{n}_proj.weight") for n in "kv"]).reshape(2, h, d, cfg.dim)
      p[dst + ("cross_attn", "out")] = t.take(c + "out_proj.weight")
    for ours, theirs in (("self_attn_norm", "self_attn_layer_norm"),
                         ("cross_norm", "encoder_attn_layer_norm"),
                         ("ffn_norm", "final_layer_norm")):
      if ours == "cross_norm" and not cfg.text_dim:
        continue
      p[dst + (ours, "scale")] = t.take(f"{src}{theirs}.weight")
      p[dst + (ours, "bias")] = t.take(f"{src}{theirs}.bias")
    p[dst + ("fc1",)] = t.take(src + "fc1.weight")
    p[dst + ("fc2",)] = t.take(src + "fc2.weight")
  p[("norm", "scale")] = t.take(prefix + "layer_norm.weight")
  p[("norm", "bias")] = t.take(prefix + "layer_norm.bias")
  return p


def fill_lm(cfg: LMConfig, params: dict[tuple, np.ndarray]) -> AudioLM:
  """An AudioLM holding `params` (given for unscanned layers; stacked if cfg.scan_layers)."""
  if cfg.scan_layers:
    blocks = {}
    for path, v in params.items():
      if path[:2] == ("decoder", "blocks"):
        blocks.setdefault(path[3:], {})[path[2]] = v
    params = {k: v for k, v in params.items() if k[:2] != ("decoder", "blocks")}
    for rest, by_layer in blocks.items():
      params[("decoder", "blocks") + rest] = np.stack([by_layer[i] for i in sorted(by_layer)])
  return common.fill_state(nnx.eval_shape(lambda: AudioLM(cfg, rngs=nnx.Rngs(0))), params)


def add_text_projection(params, t: common.TensorMap, cfg: LMConfig, name: str) -> None:
  if cfg.text_dim and cfg.text_dim != cfg.dim:
    params[("text_proj",)] = t.take(f"{name}.weight")
    params[("text_proj_bias",)] = t.take(f"{name}.bias")
  else:
    t.ignore(f"{name}.weight")
    t.ignore(f"{name}.bias")


def _convert_text_encoder(t: common.TensorMap, hf_text: dict[str, Any], out_dir: str,
                          src_dir: str) -> None:
  cfg = t5_convert.T5Config.from_dict(hf_text)
  params = t5_convert._params(t, cfg)  # pylint: disable=protected-access
  for name in t:
    if name.startswith(t5_convert.IGNORED_PREFIXES):
      t.ignore(name)
  model = common.fill_state(nnx.eval_shape(lambda: t5_convert.build(cfg.to_dict())), params)
  common.save_converted(out_dir, model, {"architecture": t5_convert.ARCHITECTURE,
                                         **cfg.to_dict()}, src_dir, TOKENIZER_FILES)


def _convert_codec(t: common.TensorMap, hf_audio: dict[str, Any], out_dir: str) -> None:
  from soundgen_jax.codecs.codec import Codec  # pylint: disable=g-import-not-at-top
  from soundgen_jax.training import checkpoints  # pylint: disable=g-import-not-at-top
  cfg = encodec_convert.config_from_hf(hf_audio)
  abstract = nnx.eval_shape(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
  values = encodec_convert.state_from_hf(abstract, t)
  codec = common.fill_state(abstract, values, rng_seed=0)
  checkpoints.save_model(out_dir, codec, {"family": encodec_convert.FAMILY,
                                          "model": cfg.to_dict()})


def convert(src_dir: str, out_dir: str) -> None:
  """`transformers` MusicgenForConditionalGeneration folder -> model folder."""
  hf = common.read_config(src_dir)
  if hf.get("model_type") != "musicgen":
    raise common.ConversionError(f"{src_dir}: model_type {hf.get('model_type')!r} is not "
                                 "'musicgen' (a MusicgenForConditionalGeneration folder)")
  tensors = common.TensorMap(common.read_tensors(src_dir), src_dir)
  text_dim = int(hf["text_encoder"]["d_model"])
  cfg = lm_config(hf["decoder"], text_dim)
  params = lm_params(tensors, cfg)
  add_text_projection(params, tensors, cfg, "enc_to_dec_proj")
  lm = fill_lm(cfg, params)
  os.makedirs(out_dir, exist_ok=True)
  tmp_text, tmp_codec = os.path.join(out_dir, ".text"), os.path.join(out_dir, ".codec")
  _convert_text_encoder(_Prefixed(tensors, "text_encoder."), hf["text_encoder"], tmp_text,
                        src_dir)
  _convert_codec(_Prefixed(tensors, "audio_encoder."), hf["audio_encoder"], tmp_codec)
  tensors.finish()
  channels = int(hf["decoder"].get("audio_channels", 1))
  _save(out_dir, lm, cfg, channels, tmp_text, tmp_codec, source="transformers")


def _save(out_dir, lm, cfg, channels, text_dir, codec_dir, **meta):
  import shutil  # pylint: disable=g-import-not-at-top
  pretrained.save(out_dir, lm, pattern=delay_pattern(cfg.num_codebooks, channels),
                  text={"encoder": "t5", "max_length": 256}, text_dir=text_dir,
                  codec_dir=codec_dir, channels=channels, max_duration=30.0,
                  extend_stride=18.0, **meta)
  for tmp in (text_dir, codec_dir):
    shutil.rmtree(tmp, ignore_errors=True)
