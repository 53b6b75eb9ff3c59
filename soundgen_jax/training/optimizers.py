"""Optax optimizers from config: Adam(W) with warmup + constant / cosine schedule and clipping.

An optimizer config (a ConfigDict leaf of `config.optimizer`) has the fields
  learning_rate, b1, b2, eps, weight_decay, grad_clip_norm (0: off), warmup_steps,
  schedule ("constant" | "cosine"), and the schedule runs over `total_steps`.
"""
from __future__ import annotations

from typing import Any

import optax

SCHEDULES = ("constant", "cosine")


def learning_rate_schedule(cfg: Any, total_steps: int) -> optax.Schedule:
  if cfg.schedule not in SCHEDULES:
    raise ValueError(f"optimizer schedule {cfg.schedule!r}: choose one of {', '.join(SCHEDULES)}")
  warmup = int(cfg.warmup_steps)
  if cfg.schedule == "cosine":
    if not warmup:  # (optax's warmup-cosine would start at 0 and skip the first update)
      return optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1))
    return optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, warmup,
                                              max(total_steps, warmup + 1))
  if warmup:
    return optax.join_schedules(
        [optax.linear_schedule(0.0, cfg.learning_rate, warmup),
         optax.constant_schedule(cfg.learning_rate)], [warmup])
  return optax.constant_schedule(cfg.learning_rate)


def make_optimizer(cfg: Any, total_steps: int) -> optax.GradientTransformation:
  """Clip by global norm (if set) -> Adam, or AdamW when weight_decay > 0."""
  if cfg.learning_rate <= 0:
    raise ValueError(f"optimizer learning_rate must be > 0, got {cfg.learning_rate}")
  lr = learning_rate_schedule(cfg, total_steps)
  if cfg.weight_decay:
    adam = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay)
  else:
    adam = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
  if cfg.grad_clip_norm:
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), adam)
  return adam
