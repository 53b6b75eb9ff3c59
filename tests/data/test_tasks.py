"""The seqio tasks: registry, variants from data configs, seqio's own get_dataset on each view,
the debian corpus by its manifests, launch/data.py and launch/train_spm.py."""
import importlib.util
import json
import os

import numpy as np
import pytest
import seqio
import tensorflow as tf

from audio_files import write_good
from soundgen_jax.data import tasks
from soundgen_jax.data import token_cache
from soundgen_jax.data.corpora import manifest as mf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = dict(sample_rate=8000, crop_seconds=0.25)


def _launcher(name):
  spec = importlib.util.spec_from_file_location(f"{name}_cli",
                                                os.path.join(ROOT, "launch", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_default_tasks_are_registered_with_seqio():
  for corpus in ("synthetic", "debian"):
    for view in tasks.VIEWS:
      name = f"{corpus}_{view}"
      assert name in seqio.TaskRegistry.names()
      assert tasks.view_of(seqio.get_mixture_or_task(name)) == view
  assert "user_text_codes" in seqio.TaskRegistry.names()
  assert tasks.task_for({}).name == "synthetic_audio"
  assert tasks.task_for({"task": "synthetic"}).name == "synthetic_audio"


def test_data_config_options_make_one_variant_each():
  a = tasks.task_for(dict(task="synthetic_text_audio", **SMALL))
  b = tasks.task_for(dict(task="synthetic_text_audio", unrelated_field=3, **SMALL))
  c = tasks.task_for(dict(task="synthetic_text_audio", mix_probability=0.5, **SMALL))
  assert a is b and a.name.startswith("synthetic_text_audio#") and c.name != a.name
  assert tasks.options(c.name)["mix_probability"] == 0.5
  # Options that do not concern the view leave the default task as it is.
  assert tasks.task_for({"task": "synthetic_audio", "mix_probability": 0.5}).name == \
      "synthetic_audio"


def test_seqio_get_dataset_on_the_text_audio_view():
  task = tasks.task_for(dict(task="synthetic_text_audio", eval_examples=6, **SMALL))
  ds = task.get_dataset(None, split="valid", shuffle=False, seed=0)
  out = list(ds.as_numpy_iterator())
  assert len(out) == 6
  assert all(o["audio"].shape == (1, 2000) and o["skip"] == b"" for o in out)
  assert all(o["caption"] for o in out)
  shard = task.get_dataset(None, split="valid", shuffle=False, seed=0,
                           shard_info=seqio.ShardInfo(index=1, num_shards=2))
  assert [o["id"] for o in shard.as_numpy_iterator()] == [o["id"] for o in out[1::2]]
  again = task.get_dataset(None, split="train", shuffle=True, seed=4).take(3)
  again2 = task.get_dataset(None, split="train", shuffle=True, seed=4).take(3)
  for x, y in zip(again.as_numpy_iterator(), again2.as_numpy_iterator()):
    np.testing.assert_array_equal(x["audio"], y["audio"])


def test_debian_tasks_read_the_built_manifests(tmp_path):
  data_dir = tmp_path / "debian"
  (data_dir / "pkg").mkdir(parents=True)
  clips = write_good(str(data_dir / "pkg"), 4, seconds=0.3)
  for split, chosen in (("train", clips[:2]), ("valid", clips[2:3]), ("test", clips[3:])):
    (data_dir / f"{split}.jsonl").write_text("".join(
        json.dumps({"path": os.path.relpath(p, data_dir), "caption": f"sound {split}",
                    "split": split, "source": "pkg"}) + "\n" for p in chosen))
  config = dict(task="debian_text_audio", data_dir=str(data_dir), **SMALL)
  task = tasks.task_for(config)
  assert [task.num_input_examples(s) for s in ("train", "valid", "test")] == [2, 1, 1]
  (only,) = list(task.get_dataset(None, split="test", shuffle=False).as_numpy_iterator())
  assert only["caption"] == b"sound test" and only["audio"].shape == (1, 2000)
  audio_only = tasks.task_for(dict(config, task="debian"))
  assert tasks.view_of(audio_only) == tasks.AUDIO
  with pytest.raises(mf.DataNotFoundError, match="fetch_corpus.py"):
    tasks.task_for(dict(config, data_dir=str(tmp_path / "nothing"))).source.clips


def test_text_codes_task_reads_shards_with_seqio(tmp_path):
  out = tmp_path / "codes"
  out.mkdir()
  rng = np.random.default_rng(0)
  with tf.io.TFRecordWriter(str(out / "train-00000-of-00001.tfrecord")) as w:
    for i in range(3):
      clip = {"caption": f"clip {i}", "id": f"c{i}", "length": 1000, "source": "unit"}
      w.write(token_cache.encode_example(rng.integers(0, 16, (2, 40 + i)), clip, 8000))
  (out / "info.json").write_text(json.dumps({"frame_rate": 50}))
  task = tasks.task_for({"task": "codes", "codes_dir": str(out), "crop_seconds": 0.5})
  got = list(task.get_dataset(None, split="train", shuffle=False).as_numpy_iterator())
  assert [g["codes"].shape for g in got] == [(2, 25)] * 3  # 0.5 s at 50 frames/s
  assert [g["caption"] for g in got] == [b"clip 0", b"clip 1", b"clip 2"]
  assert got[0]["source"] == b"unit"


def test_data_cli_list_and_inspect(capsys, tmp_path):
  cli = _launcher("data")
  assert cli.main(["list"]) == 0
  listing = capsys.readouterr().out
  assert "synthetic_text_audio" in listing and "debian_text_codes" in listing
  assert cli.main(["inspect", "synthetic_text_audio", "--split", "valid", "--examples", "2",
                   "--stats", "3", "--sample_rate", "8000", "--crop_seconds", "1",
                   "--set", "eval_examples=3", "--save", str(tmp_path)]) == 0
  shown = capsys.readouterr().out
  assert "statistics over 3 examples" in shown and "kept 3, skipped 0" in shown
  assert sorted(os.listdir(tmp_path)) == ["001.wav", "002.wav"]
  from soundgen_jax import cli as cli_lib
  with pytest.raises(cli_lib.UserError, match="unknown data task"):
    cli.main(["inspect", "nonsense"])


def test_train_spm_on_corpus_captions(tmp_path, capsys):
  prefix = str(tmp_path / "spm" / "captions")
  assert _launcher("train_spm").main(["--task", "synthetic", "--vocab_size", "60",
                                      "--max_captions", "150", "--out", prefix]) == 0
  assert "trained on 150 captions" in capsys.readouterr().out
  from soundgen_jax.text import vocab
  model = vocab.sentencepiece(prefix + ".model")
  assert isinstance(model, seqio.SentencePieceVocabulary)
  ids = model.encode("a loud piano playing C4")
  assert 0 not in ids and max(ids) < model.vocab_size
  assert model.decode(ids) == "a loud piano playing C4"
