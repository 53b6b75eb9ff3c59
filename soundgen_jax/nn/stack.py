"""A stack of identical blocks, shared by the Transformer and the Conformer: a Python list, or
with `scan` one block whose parameters carry a leading 'layers' axis, run by `jax.lax.scan`
(a 48-layer model then compiles one block, not 48). `remat` recomputes each block's
activations in the backward pass."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx


class Stack(nnx.Module):
  """Per-layer inputs and outputs are lists (unscanned) or arrays with a leading layers axis
  (scanned); None stands for "nothing per layer"."""

  def __init__(self, make_block: Callable[[nnx.Rngs], nnx.Module], num_layers: int, *,
               scan: bool, remat: bool, rngs: nnx.Rngs):
    self.num_layers, self.scan, self.remat = num_layers, scan, remat
    if scan:
      @nnx.split_rngs(splits=num_layers)
      @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
      def make(r):
        return make_block(r)
      self.blocks = make(rngs)
    else:
      self.blocks = nnx.List([make_block(rngs) for _ in range(num_layers)])

  def run(self, fn: Callable[..., tuple[Any, Any]], carry: Any, *per_layer: Any
          ) -> tuple[Any, Any]:
    """fn(block, carry, *this layer's inputs) -> (carry, output), over every block in order;
    returns (carry, the outputs per layer)."""
    if self.scan:
      graphdef, state = nnx.split(self.blocks)

      def body(c, inputs):
        st, items = inputs
        return fn(nnx.merge(graphdef, st), c, *items)

      if self.remat:
        body = jax.checkpoint(body, prevent_cse=False)
      return jax.lax.scan(body, carry, (state, per_layer))
    step = nnx.remat(fn, prevent_cse=False) if self.remat else fn
    outputs = []
    for i, blk in enumerate(self.blocks):
      carry, y = step(blk, carry, *(None if item is None else item[i] for item in per_layer))
      outputs.append(y)
    return carry, outputs

  def context_kv(self, context: jax.Array) -> Any:
    """Every layer's cross-attention keys / values of the condition (computed once)."""
    return self.run(lambda blk, c: (c, blk.context_kv(context)), 0)[1]

  def dropout_keys(self, key: jax.Array | None) -> jax.Array | None:
    return None if key is None else jax.random.split(key, self.num_layers)
