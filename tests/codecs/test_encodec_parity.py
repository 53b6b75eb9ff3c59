"""Converted EnCodec checkpoints against `transformers.EncodecModel` (random weights)."""
import json
import os

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from configs import encodec as encodec_configs
from reference import random_encodec, save
from soundgen_jax.codecs import inference
from soundgen_jax.convert import encodec as convert_encodec
from soundgen_jax.convert.common import ConversionError

SECONDS = {"24khz": 1.1, "48khz": 1.5, "32khz": 1.0}  # 48 kHz: 2 chunks, the second partial


def _audio(sample_rate, channels, seconds, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(int(sample_rate * seconds)) / sample_rate
  tone = 0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.5 * t))
  x = tone + 0.05 * rng.standard_normal((2, channels, t.size))
  return x.astype(np.float32)


def _reference_codes(ref, audio, bandwidth):
  with torch.no_grad():
    enc = ref.encode(torch.from_numpy(audio), bandwidth=bandwidth)
    decoded = ref.decode(enc.audio_codes, enc.audio_scales,
                         last_frame_pad_length=enc.last_frame_pad_length)[0].numpy()
  codes = np.concatenate(list(enc.audio_codes.numpy()), axis=-1)
  if enc.last_frame_pad_length:
    codes = codes[..., :-enc.last_frame_pad_length]
  scales = None
  if enc.audio_scales[0] is not None:
    scales = np.stack([s.numpy().reshape(-1) for s in enc.audio_scales], axis=1)
  return codes, scales, decoded[..., :audio.shape[-1]]


@pytest.mark.parametrize("variant", ["24khz", "48khz", "32khz"])
def test_parity_with_transformers(variant, tmp_path):
  hf = random_encodec(variant)
  audio = _audio(hf.config.sampling_rate, hf.config.audio_channels, SECONDS[variant])
  hf = random_encodec(variant, audio=audio)
  ours = convert_encodec.convert(save(hf, tmp_path / "hf"), str(tmp_path / "ours"))

  # The converter reproduces the published configuration of configs/encodec.py.
  published = encodec_configs.model_config(variant).to_dict()
  converted = ours.config.to_dict()
  assert {k: converted[k] for k in published} == {
      k: list(v) if isinstance(v, tuple) else v for k, v in published.items()}

  # Lowest and highest bandwidth for the 24 kHz model, the highest for the others.
  bandwidths = hf.config.target_bandwidths
  for bandwidth in ([bandwidths[0], bandwidths[-1]] if variant == "24khz" else bandwidths[-1:]):
    ref_codes, ref_scales, ref_audio = _reference_codes(hf, audio, bandwidth)
    enc = inference.encode(ours, audio, bandwidth)
    assert enc.codes.shape == ref_codes.shape
    agreement = np.mean(enc.codes == ref_codes)
    print(f"{variant} @ {bandwidth} kbps: codes equal {agreement:.5f}")
    assert agreement >= 0.999
    if ref_scales is not None:
      np.testing.assert_allclose(enc.scales, ref_scales, rtol=1e-5)
    # Decoding the reference's codes isolates the decoder from near-tie codes.
    out = inference.decode(ours, ref_codes, ref_scales, audio.shape[-1])
    assert out.shape == ref_audio.shape
    err = np.abs(out - ref_audio).max() / np.abs(ref_audio).max()
    print(f"{variant} @ {bandwidth} kbps: decoded max error / peak {err:.2e}")
    assert err <= 1e-4

  # The orbax checkpoint written by the converter loads back to the same model.
  reloaded = convert_encodec.load(str(tmp_path / "ours"))
  np.testing.assert_array_equal(inference.encode(reloaded, audio).codes,
                                inference.encode(ours, audio).codes)


@pytest.fixture(scope="module")
def small_hf_folder(tmp_path_factory):
  import transformers
  config = transformers.EncodecConfig(num_filters=4, hidden_size=16, codebook_dim=16,
                                      codebook_size=16, upsampling_ratios=[4, 2],
                                      target_bandwidths=[24.0])
  directory = tmp_path_factory.mktemp("small")
  transformers.EncodecModel(config).save_pretrained(str(directory))
  return directory


def _rewrite(folder, dest, edit):
  tensors = load_file(os.path.join(folder, "model.safetensors"))
  edit(tensors)
  os.makedirs(dest, exist_ok=True)
  save_file(tensors, os.path.join(dest, "model.safetensors"))
  with open(os.path.join(folder, "config.json")) as f, \
      open(os.path.join(dest, "config.json"), "w") as g:
    g.write(f.read())
  return str(dest)


def test_unknown_tensor_is_an_error(small_hf_folder, tmp_path):
  def add(t):
    t["decoder.layers.0.extra_gain"] = np.ones(3, np.float32)
  folder = _rewrite(small_hf_folder, tmp_path / "extra", add)
  with pytest.raises(ConversionError, match="decoder.layers.0.extra_gain"):
    convert_encodec.convert(folder)


def test_missing_tensor_is_an_error(small_hf_folder, tmp_path):
  def drop(t):
    del t["encoder.layers.0.conv.bias"]
  folder = _rewrite(small_hf_folder, tmp_path / "missing", drop)
  with pytest.raises(ConversionError, match=r"encoder\.layers\.0\.bias"):
    convert_encodec.convert(folder)


def test_wrong_shape_is_an_error(small_hf_folder, tmp_path):
  def reshape(t):
    t["quantizer.layers.0.codebook.embed"] = np.zeros((8, 16), np.float32)
  folder = _rewrite(small_hf_folder, tmp_path / "shape", reshape)
  with pytest.raises(ConversionError, match="shape"):
    convert_encodec.convert(folder)


def test_not_a_checkpoint_folder(tmp_path):
  with pytest.raises(ConversionError, match="config.json"):
    convert_encodec.convert(str(tmp_path))
  (tmp_path / "config.json").write_text(json.dumps({"model_type": "encodec"}))
  with pytest.raises(ConversionError, match="model.safetensors"):
    convert_encodec.convert(str(tmp_path))
