"""launch/tokenize.py with a tiny random codec: round trip through the text-codes task, host
sharding, and resuming after a kill without redoing finished shards."""
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import configs.encodec as encodec_configs
from audio_files import write_bad, write_good
from soundgen_jax import audio as audio_lib
from soundgen_jax.codecs import inference
from soundgen_jax.codecs.codec import Codec, CodecConfig
from soundgen_jax.data import pipeline
from soundgen_jax.data import token_cache
from soundgen_jax.training import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli():
  spec = importlib.util.spec_from_file_location(
      "tokenize_cli", os.path.join(ROOT, "launch", "tokenize.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """A tiny codec checkpoint and a manifest of 5 good clips (mixed rates / channels, up to
  1.3 s, so two length buckets) and 2 bad ones, all in train."""
  root = tmp_path_factory.mktemp("tok")
  cfg = CodecConfig(**encodec_configs.model_config("tiny"))
  model = _random_codec(cfg)
  checkpoints.save_model(str(root / "codec"), model, {"family": "codec", "model": cfg.to_dict()})
  folder = root / "audio"
  folder.mkdir()
  good = write_good(str(folder), 4) + write_good(str(folder / ".."), 1, seconds=1.3)
  bad = write_bad(str(folder))
  lines = [{"path": p, "caption": f"tone number {i}", "split": "train"}
           for i, p in enumerate(good)]
  lines += [{"path": bad["empty"], "caption": "x", "split": "train"},
            {"path": good[0], "caption": "", "split": "train"}]
  manifest = root / "m.jsonl"
  manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
  return dict(root=root, codec=str(root / "codec"), manifest=str(manifest), model=model,
              good=good)


def _random_codec(cfg):
  """Codec(cfg) with seeded random weights. Built abstractly and filled from NumPy: an eager
  build compiles one XLA program per parameter shape (half a minute on a busy CPU)."""
  abstract = nnx.eval_shape(lambda: Codec(cfg, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  rng = np.random.default_rng(0)

  def fill(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.split(jax.random.key(0), x.shape) if x.shape else jax.random.key(0)
    if jnp.issubdtype(x.dtype, jnp.floating):
      return jnp.asarray(rng.uniform(-0.3, 0.3, x.shape), x.dtype)
    return jnp.zeros(x.shape, x.dtype)

  return nnx.merge(graphdef, jax.tree.map(fill, state))


def _run(corpus, out, *extra):
  return _cli().main(["--codec", corpus["codec"], "--task", "manifest", "--manifest",
                      corpus["manifest"], "--out", str(out), "--splits", "train",
                      "--examples_per_shard", "2", "--max_seconds", "2", "--no_progress",
                      *extra])


def test_round_trip_through_the_text_codes_task(corpus):
  out = corpus["root"] / "codes"
  assert _run(corpus, out, "--shard_index", "0", "--num_shards", "1") == 0
  names = sorted(n for n in os.listdir(out) if n.endswith(".tfrecord"))
  assert names == [f"train-0000{k}-of-00004.tfrecord" for k in range(4)]
  total = token_cache.summary(str(out))
  assert total["kept"] == 5 and total["skipped"] == {"bad_caption": 1, "empty": 1}
  info = json.load(open(out / "info.json"))
  assert (info["frame_rate"], info["num_codebooks"], info["sample_rate"]) == (100, 4, 16000)

  config = {"task": "codes", "codes_dir": str(out), "max_frames": 200}
  batch = next(pipeline.make_iterator(config, split="train", batch_size=5, seed=0))
  assert batch["codes"].shape == (5, 4, 200) and batch["codes"].dtype == np.int32
  assert sorted(batch["caption"]) == [f"tone number {i}" for i in range(5)]
  model = corpus["model"]
  for codes, mask, caption in zip(batch["codes"], batch["codes_mask"], batch["caption"]):
    i = int(caption.split()[-1])
    audio, _ = audio_lib.load(corpus["good"][i], sample_rate=16000, channels=1)
    frames = int(mask.sum())
    assert frames == int(np.ceil(audio.shape[-1] / 160))
    assert mask[:frames].all() and not mask[frames:].any() and not codes[:, frames:].any()
    if i in (1, 4):  # one clip per length bucket, against encoding it alone at its length
      want = inference.encode(model, audio[None]).codes[0]
      np.testing.assert_array_equal(codes[:, :frames], want)
      assert len(np.unique(want)) > 4  # real, varied codes
  # Two hosts read alternate blocks of a batch of the one shuffled order: side by side, the
  # one-host batch.
  one = next(pipeline.make_iterator(config, split="train", batch_size=4, seed=0))
  two = [next(pipeline.make_iterator(config, split="train", batch_size=2, seed=0, shard_index=k,
                                     num_shards=2)) for k in range(2)]
  assert list(one["caption"]) == [c for b in two for c in b["caption"]]


def test_hosts_split_the_shards_and_a_rerun_keeps_finished_ones(corpus):
  out = corpus["root"] / "codes_hosts"
  for host in (0, 1):
    assert _run(corpus, out, "--shard_index", str(host), "--num_shards", "2") == 0
  paths = sorted(str(out / n) for n in os.listdir(out) if n.endswith(".tfrecord"))
  assert len(paths) == 4
  contents = {p: open(p, "rb").read() for p in paths}
  # A kill while shard 1 was being written: the shard is missing and a temp file lies there.
  os.remove(paths[1])
  with open(paths[1] + ".tmp999", "wb") as f:
    f.write(b"half a shard")
  for p in paths:
    if os.path.exists(p):
      os.utime(p, (1, 1))
  assert _run(corpus, out, "--shard_index", "0", "--num_shards", "1") == 0
  assert not os.path.exists(paths[1] + ".tmp999")
  for p in paths:
    assert open(p, "rb").read() == contents[p]
    finished_before = p != paths[1]
    assert (os.stat(p).st_mtime == 1) == finished_before  # only the lost shard was redone
  assert token_cache.summary(str(out))["kept"] == 5


def test_bad_arguments_are_user_errors(corpus, tmp_path):
  from soundgen_jax import cli
  with pytest.raises(cli.UserError, match="no such checkpoint"):
    _cli().main(["--codec", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
  with pytest.raises(cli.UserError, match="unknown"):
    _cli().main(["--codec", corpus["codec"], "--task", "nonsense", "--out",
                 str(tmp_path / "o")])
