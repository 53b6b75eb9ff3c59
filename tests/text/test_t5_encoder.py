"""T5 encoder vs transformers.T5EncoderModel (random weights), and the converter's checks."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import nnx
from jax.sharding import PartitionSpec as P
from safetensors.numpy import load_file, save_file
from transformers.models.t5.modeling_t5 import T5Attention

from soundgen_jax.convert import t5 as t5_convert
from soundgen_jax.convert.common import ConversionError
from soundgen_jax.parallel import sharding
from soundgen_jax.text.t5 import T5Config, T5Encoder, relative_position_buckets

SMALL = dict(vocab_size=120, d_model=32, d_kv=8, d_ff=48, num_layers=3, num_heads=4,
             relative_attention_num_buckets=16, relative_attention_max_distance=24)


def _hf_t5(path, feed_forward_proj, full):
  """A random T5 saved as save_pretrained writes it; weights far from init so errors show."""
  torch.manual_seed(0)
  config = transformers.T5Config(feed_forward_proj=feed_forward_proj, **SMALL)
  cls = transformers.T5ForConditionalGeneration if full else transformers.T5EncoderModel
  model = cls(config).eval()
  with torch.no_grad():
    for p in model.parameters():
      p.normal_(0.0, 0.3)
  model.save_pretrained(path)
  return str(path)


def _batch():
  rng = np.random.RandomState(1)
  lengths = [40, 23, 1]
  ids = np.zeros((3, 40), np.int64)
  mask = np.zeros((3, 40), bool)
  for row, n in enumerate(lengths):
    ids[row, :n] = rng.randint(2, SMALL["vocab_size"], n)
    mask[row, :n] = True
  return ids, mask


@pytest.mark.parametrize("feed_forward_proj,full", [("relu", True), ("gated-gelu", False)])
def test_parity_with_transformers(tmp_path, feed_forward_proj, full):
  # v1.0 (relu) from a full encoder-decoder checkpoint; v1.1 (gated-gelu) from an encoder-only.
  src = _hf_t5(tmp_path / "hf", feed_forward_proj, full)
  reference = transformers.T5EncoderModel.from_pretrained(src).eval()
  ids, mask = _batch()
  with torch.no_grad():
    want = reference(input_ids=torch.tensor(ids),
                     attention_mask=torch.tensor(mask.astype(np.int64))).last_hidden_state.numpy()

  t5_convert.convert(src, str(tmp_path / "ours"))
  model = t5_convert.load(str(tmp_path / "ours"))
  got, got_mask = model(jnp.asarray(ids), jnp.asarray(mask))
  assert got.shape == (3, 40, SMALL["d_model"])
  np.testing.assert_array_equal(np.asarray(got_mask), mask)
  assert np.abs(np.asarray(got) - want)[mask].max() < 1e-4
  assert np.abs(np.asarray(got) - want).max() < 1e-4  # padded queries too (keys are masked)
  # The config written next to the weights rebuilds the same model.
  with open(tmp_path / "ours" / "config.json") as f:
    saved = json.load(f)
  assert saved["architecture"] == "t5_encoder"
  assert saved["feed_forward_proj"] == feed_forward_proj


def test_relative_position_buckets_match_reference():
  rel = torch.arange(300)[None, :] - torch.arange(300)[:, None]
  for buckets, distance in ((32, 128), (16, 24), (64, 256)):
    want = T5Attention._relative_position_bucket(rel, True, buckets, distance).numpy()  # pylint: disable=protected-access
    np.testing.assert_array_equal(relative_position_buckets(300, buckets, distance), want)


def _encoder_only(tmp_path):
  src = _hf_t5(tmp_path / "hf", "gated-gelu", full=False)
  return src, load_file(os.path.join(src, "model.safetensors"))


def test_converter_rejects_unknown_tensor(tmp_path):
  src, tensors = _encoder_only(tmp_path)
  tensors["encoder.block.0.layer.2.extra.weight"] = np.zeros((2,), np.float32)
  save_file(tensors, os.path.join(src, "model.safetensors"))
  with pytest.raises(ConversionError, match="unknown tensor encoder.block.0.layer.2.extra.weight") as e:
    t5_convert.convert(src, str(tmp_path / "out"))
  assert "\n" not in str(e.value)


def test_converter_rejects_missing_tensor(tmp_path):
  src, tensors = _encoder_only(tmp_path)
  del tensors["encoder.block.2.layer.1.DenseReluDense.wi_1.weight"]
  save_file(tensors, os.path.join(src, "model.safetensors"))
  with pytest.raises(ConversionError,
                     match="missing tensor encoder.block.2.layer.1.DenseReluDense.wi_1.weight") as e:
    t5_convert.convert(src, str(tmp_path / "out"))
  assert "\n" not in str(e.value)
  assert not os.path.exists(tmp_path / "out")


def test_converter_rejects_other_architectures(tmp_path):
  src, _ = _encoder_only(tmp_path)
  with open(os.path.join(src, "config.json")) as f:
    config = json.load(f)
  config["model_type"] = "bart"
  with open(os.path.join(src, "config.json"), "w") as f:
    json.dump(config, f)
  with pytest.raises(ConversionError, match="not a T5 checkpoint"):
    t5_convert.from_hf(src)
  with pytest.raises(ConversionError, match="no config.json"):
    t5_convert.from_hf(str(tmp_path))


def test_sharded_forward_matches_single_device():
  # Parameters placed by their logical names on a (data, fsdp, model) mesh compute the same.
  config = T5Config(feed_forward_proj="gated-gelu", **SMALL)
  mesh = sharding.make_mesh(data=2, fsdp=2, model=2)
  sharded = sharding.sharded_init(lambda: T5Encoder(config, rngs=nnx.Rngs(3)), mesh)
  assert sharded.layers[0].q[...].sharding.spec == P("fsdp", "model", None)
  assert sharded.embed.embedding[...].sharding.spec == P("model", "fsdp")
  graphdef, state = nnx.split(sharded)
  single = nnx.merge(graphdef, jax.device_put(state, jax.devices()[0]))
  ids, mask = _batch()
  forward = nnx.jit(lambda m, i, k: m(i, k)[0])
  got = forward(sharded, ids, mask)
  assert got.sharding.mesh == mesh
  want = forward(single, ids, mask)
  assert np.abs(np.asarray(got) - np.asarray(want)).max() < 1e-5
