"""seqio feature converter for rank-2 codec token arrays.

`CodesFeatureConverter` turns task features {"codes": int32 [Q, frames]} into model features
{"codes": int32 [Q, L], "codes_mask": bool [L]}: frames beyond L are cut, shorter examples are
padded with `pad_id` and their padding frames masked out. Batching is left to the caller
(`ds.batch` or the pipeline), so every element has the same shape.
"""
from __future__ import annotations

from typing import Mapping

import seqio
import tensorflow as tf

FeatureSpec = seqio.FeatureConverter.FeatureSpec

# Features that ride along unchanged (rank 0, so seqio does not length-check them).
DEFAULT_PASSTHROUGH = {
    "caption": FeatureSpec(dtype=tf.string, rank=0),
    "id": FeatureSpec(dtype=tf.string, rank=0),
    "skip": FeatureSpec(dtype=tf.string, rank=0),
}


class CodesFeatureConverter(seqio.FeatureConverter):
  """Pads / cuts codes [Q, frames] to [Q, L] and adds a frame padding mask."""

  TASK_FEATURES = {"codes": FeatureSpec(dtype=tf.int32, rank=2, sequence_dim=1)}
  MODEL_FEATURES = {
      "codes": FeatureSpec(dtype=tf.int32, rank=2, sequence_dim=1),
      "codes_mask": FeatureSpec(dtype=tf.bool, rank=1),
  }
  PACKING_FEATURE_DTYPES = {}

  def __init__(self, pad_id: int = 0,
               passthrough_features: Mapping[str, FeatureSpec] | None = None, **kwargs):
    kwargs.setdefault("pack", False)
    passthrough = DEFAULT_PASSTHROUGH if passthrough_features is None else passthrough_features
    super().__init__(passthrough_features=dict(passthrough), **kwargs)
    self.pad_id = int(pad_id)

  def task_feature_lengths(self, frames: int) -> dict[str, int]:
    """The `task_feature_lengths` argument for codes of `frames` frames."""
    return {"codes": frames, **{k: 0 for k in self._passthrough_features}}

  def _convert_features(self, ds: tf.data.Dataset, task_feature_lengths: Mapping[str, int]
                        ) -> tf.data.Dataset:
    length = task_feature_lengths["codes"]
    keep = list(self._passthrough_features)

    def convert(ex):
      codes = ex["codes"][:, :length]
      t = tf.shape(codes)[1]
      codes = tf.pad(codes, [[0, 0], [0, length - t]], constant_values=self.pad_id)
      codes = tf.ensure_shape(codes, [None, length])
      out = {"codes": codes, "codes_mask": tf.range(length) < t}
      out.update({k: ex[k] for k in keep})
      return out

    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  def get_model_feature_lengths(self, task_feature_lengths: Mapping[str, int]
                                ) -> Mapping[str, int]:
    length = task_feature_lengths["codes"]
    out = {"codes": length, "codes_mask": length}
    out.update({k: task_feature_lengths[k] for k in self._passthrough_features})
    return out
