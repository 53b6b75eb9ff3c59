"""audiocraft's own export (state_dict.bin + compression_state_dict.bin) converts to a model
folder that gives `transformers`' MusicGen logits and EnCodec decodes. The files are written here
from a random `transformers` MusicGen by the inverse of transformers' conversion scripts (fused
q / k / v, audiocraft's module names); the T5 comes as its own `transformers` folder."""
import copy
import importlib.util
import os
import re
import sys
import types

import numpy as np
import pytest
import torch
import yaml

from soundgen_jax.codecs import inference
from soundgen_jax.convert import audiocraft, common
from soundgen_jax.lm import pretrained
from musicgen_reference import CODEC, DECODER, random_musicgen
from test_musicgen_parity import test_cfg_logits_match as cfg_logits_check
from test_musicgen_parity import test_text_encoder_and_delays as text_and_delays_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lm_state(ref):
  """`transformers`' MusicGen decoder -> audiocraft's LM names (q, k, v fused along dim 0)."""
  sd = ref.state_dict()
  dec = "decoder.model.decoder."
  out = {}
  for k in range(ref.decoder.num_codebooks):
    out[f"emb.{k}.weight"] = sd[f"{dec}embed_tokens.{k}.weight"]
    out[f"linears.{k}.weight"] = sd[f"decoder.lm_heads.{k}.weight"]
  for i in range(DECODER["num_hidden_layers"]):
    src, dst = f"{dec}layers.{i}.", f"transformer.layers.{i}."
    for theirs, ours in (("self_attn", "self_attn"), ("encoder_attn", "cross_attention")):
      out[f"{dst}{ours}.in_proj_weight"] = torch.cat(
          [sd[f"{src}{theirs}.{n}_proj.weight"] for n in "qkv"])
      out[f"{dst}{ours}.out_proj.weight"] = sd[f"{src}{theirs}.out_proj.weight"]
    for theirs, ours in (("self_attn_layer_norm", "norm1"), ("encoder_attn_layer_norm",
                                                            "norm_cross"),
                         ("final_layer_norm", "norm2"), ("fc1", "linear1"), ("fc2", "linear2")):
      for leaf in ("weight", "bias"):
        if f"{src}{theirs}.{leaf}" in sd:
          out[f"{dst}{ours}.{leaf}"] = sd[f"{src}{theirs}.{leaf}"]
  for leaf in ("weight", "bias"):
    out[f"out_norm.{leaf}"] = sd[f"{dec}layer_norm.{leaf}"]
    out[f"{audiocraft.TEXT_PROJ}.{leaf}"] = sd[f"enc_to_dec_proj.{leaf}"]
  return {k: v.detach().clone() for k, v in out.items()}


def codec_state(ref):
  """`transformers`' EncodecModel -> audiocraft's names (classic weight_g / weight_v)."""
  model = ref.audio_encoder
  transposed = {n for n, m in model.named_modules() if type(m).__name__.endswith("Transpose1d")}
  leaves = {"parametrizations.weight.original0": "weight_g",
            "parametrizations.weight.original1": "weight_v"}
  out = {}
  for name, v in model.state_dict().items():
    if m := re.match(r"^quantizer\.layers\.(\d+)\.codebook\.(\w+)$", name):
      out[f"quantizer.vq.layers.{m[1]}._codebook.{m[2]}"] = v
      continue
    m = re.match(r"^(encoder|decoder)\.layers\.(\d+)\.((?:block\.\d+|shortcut)\.)?"
                 r"(conv|norm|lstm)\.(.+)$", name)
    assert m, name
    side, i, sub, module, leaf = m.groups()
    if module != "lstm":
      kind = "convtr" if not sub and f"{side}.layers.{i}" in transposed else "conv"
      module = f"{kind}.{kind if module == 'conv' else 'norm'}"
    out[f"{side}.model.{i}.{sub or ''}{module}.{leaves.get(leaf, leaf)}"] = v
  return {k: v.detach().clone() for k, v in out.items()}


LM_CFG = {
    "solver": "audiogen", "sample_rate": CODEC["sampling_rate"], "channels": 1,
    "dataset": {"segment_duration": 10},
    "transformer_lm": {"dim": 32, "num_heads": 4, "num_layers": 2, "hidden_scale": 1.5,
                       "n_q": 4, "card": 32, "activation": "gelu", "norm_first": True,
                       "norm": "layer_norm", "positional_embedding": "sin", "bias_attn": False,
                       "bias_ff": False, "bias_proj": False, "kv_repeat": 1},
    "codebooks_pattern": {"modeling": "delay", "delay": {"delays": [0, 1, 2, 3],
                                                         "flatten_first": 0,
                                                         "empty_initial": 0}},
    "conditioners": {"description": {"model": "t5", "t5": {"name": "t5-large"}}},
    "fuser": {"cross_attention_pos_emb": False, "cross": ["description"], "sum": [],
              "prepend": [], "input_interpolate": []}}
CODEC_CFG = {  # as OmegaConf.to_yaml leaves it: interpolations unresolved
    "sample_rate": CODEC["sampling_rate"], "channels": 1, "compression_model": "encodec",
    "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": "${sample_rate}",
                "channels": "${channels}", "causal": False, "renormalize": False},
    "seanet": {"dimension": 16, "channels": "${channels}", "causal": "${encodec.causal}",
               "n_filters": 4, "n_residual_layers": 1, "ratios": [4, 4], "activation": "ELU",
               "activation_params": {"alpha": 1.0}, "norm": "weight_norm", "pad_mode": "reflect",
               "true_skip": False, "lstm": 1, "disable_norm_outer_blocks": 0,
               "decoder": {"trim_right_ratio": 1.0, "final_activation": None}, "encoder": {}},
    "rvq": {"n_q": 8, "bins": 32}}


def write(folder, lm, codec, lm_cfg=LM_CFG, codec_cfg=CODEC_CFG):
  """An export folder: the LM's xp.cfg as YAML text (what audiocraft's export writes), the
  codec's as a plain dict."""
  os.makedirs(folder, exist_ok=True)
  torch.save({"best_state": lm, "xp.cfg": yaml.safe_dump(lm_cfg), "version": "1.3.0",
              "exported": True}, os.path.join(folder, audiocraft.LM_FILE))
  torch.save({"best_state": codec, "xp.cfg": codec_cfg, "version": "1.3.0", "exported": True},
             os.path.join(folder, audiocraft.CODEC_FILE))
  return str(folder)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("audiocraft")
  ref = random_musicgen(root / "hf")
  with torch.no_grad():  # sharp attention, so that a q / k / v mix-up shows in the logits
    for name, p in ref.decoder.named_parameters():
      if re.search(r"attn\.[qk]_proj", name):
        p.mul_(10.0)
  ref.text_encoder.save_pretrained(root / "t5")
  lm, codec = lm_state(ref), codec_state(ref)
  src = write(root / "export", lm, codec)
  audiocraft.convert_audiocraft(src, str(root / "ours"), str(root / "t5"))
  return types.SimpleNamespace(root=root, ref=ref, lm=lm, codec=codec, t5=str(root / "t5"),
                               ours=pretrained.load(str(root / "ours")))


def test_cfg_logits_match_transformers(setup):
  cfg_logits_check((setup.ref, setup.ours))


def test_text_encoder_pattern_and_durations(setup):
  text_and_delays_check((setup.ref, setup.ours))
  meta = setup.ours.meta
  assert (meta["max_duration"], meta["extend_stride"]) == (10.0, 2.0)  # AudioGen's
  assert meta["source"] == "audiocraft" and meta["channels"] == 1
  assert setup.ours.config.num_heads == 4 and setup.ours.codec.config.num_quantizers == 8


def test_codec_decodes_like_transformers(setup):
  codes = np.random.default_rng(2).integers(0, CODEC["codebook_size"], (2, 4, 20))
  with torch.no_grad():
    want = setup.ref.audio_encoder.decode(torch.from_numpy(codes)[None], [None])
    want = want.audio_values.numpy()
  got = inference.decode(setup.ours.codec, codes)
  assert got.shape == want.shape
  err = np.abs(got - want).max() / np.abs(want).max()
  print(f"codec decode: max error / peak {err:.2e}")
  assert err < 1e-4, err


def _error(setup, name, lm=None, codec=None, lm_cfg=LM_CFG, codec_cfg=CODEC_CFG):
  src = write(setup.root / name, lm or setup.lm, codec or setup.codec, lm_cfg, codec_cfg)
  with pytest.raises(common.ConversionError) as e:
    audiocraft.convert_audiocraft(src, str(setup.root / f"{name}_out"), setup.t5)
  return str(e.value)


@pytest.mark.parametrize("part,name", [
    ("lm", "transformer.layers.0.self_attn.in_proj_bias"),
    ("lm", "condition_provider.conditioners.self_wav.output_proj.weight"),
    ("codec", "quantizer.vq.layers.0.project_in.weight")])
def test_unknown_tensor_is_named(setup, part, name):
  state = dict(getattr(setup, part))
  state[name] = torch.zeros(3)
  message = _error(setup, "unknown", **{part: state})
  assert f"unknown tensor {name}" in message, message


@pytest.mark.parametrize("part,name", [
    ("lm", "transformer.layers.1.cross_attention.in_proj_weight"),
    ("lm", "linears.3.weight"),
    ("codec", "decoder.model.3.convtr.convtr.weight_g"),
    ("codec", "quantizer.vq.layers.5._codebook.embed")])
def test_missing_tensor_is_named(setup, part, name):
  state = dict(getattr(setup, part))
  del state[name]
  message = _error(setup, "missing", **{part: state})
  assert f"missing tensor {name}" in message, message


def test_multihead_attention_layout(setup):
  """audiocraft's custom=False attention (torch's nn.MultiheadAttention) nests `mha.`."""
  def params(lm, name):
    tensors, cfg = audiocraft.load_package(write(setup.root / name, lm, setup.codec) + "/" +
                                           audiocraft.LM_FILE)
    t = common.TensorMap(tensors, name)
    out = audiocraft.lm_params(t, audiocraft.lm_config(t, cfg))
    t.finish()
    return out

  nested = {re.sub(r"\.(self_attn|cross_attention)\.", r".\1.mha.", k): v
            for k, v in setup.lm.items()}
  assert any(".mha." in k for k in nested)
  want, got = params(setup.lm, "fused"), params(nested, "mha")
  assert want.keys() == got.keys()
  for path in want:
    np.testing.assert_array_equal(got[path], want[path])


def test_heads_must_come_from_the_cfg(setup):
  cfg = copy.deepcopy(LM_CFG)
  del cfg["transformer_lm"]["num_heads"]
  assert "transformer_lm.num_heads" in _error(setup, "noheads", lm_cfg=cfg)


def test_wrong_text_encoder_width_is_named(setup):
  cfg = copy.deepcopy(LM_CFG)
  del cfg["transformer_lm"]["dim"]  # shapes stand in for the missing sizes
  lm = dict(setup.lm)
  lm[audiocraft.TEXT_PROJ + ".weight"] = torch.zeros(32, 16)
  message = _error(setup, "width", lm=lm, lm_cfg=cfg)
  assert "d_model=24" in message and "t5-large" in message, message


class NotPlainData:  # stands in for an omegaconf DictConfig
  pass


def test_pickle_with_objects_is_refused(setup):
  folder = setup.root / "objects"
  write(folder, setup.lm, setup.codec)
  torch.save({"best_state": setup.lm, "xp.cfg": NotPlainData()},
             os.path.join(folder, audiocraft.LM_FILE))
  with pytest.raises(common.ConversionError) as e:
    audiocraft.convert_audiocraft(str(folder), str(setup.root / "objects_out"), setup.t5)
  message = str(e.value)
  assert "objects other than tensors, strings and plain containers" in message
  assert "run code" in message and "\n" not in message


def test_command_line(setup, monkeypatch, capsys):
  spec = importlib.util.spec_from_file_location("convert_cli",
                                                os.path.join(ROOT, "launch", "convert.py"))
  cli = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(cli)
  assert cli.CONVERTERS["musicgen"] == "soundgen_jax.convert.musicgen"
  out = setup.root / "cli"
  monkeypatch.setattr(sys, "argv", ["convert.py", "audiocraft", "--from",
                                    str(setup.root / "export"), "--text-encoder", setup.t5,
                                    "--to", str(out)])
  cli.main()
  assert "wrote audiocraft" in capsys.readouterr().out
  assert pretrained.load(str(out)).config == setup.ours.config
