"""A shrunken configs/audiogen.py:tiny (1 layer of width 32, 0.2 s windows) for trainer tests,
as a ConfigDict and as launch/train.py flags."""
from configs import audiogen
from train_helpers import with_overrides

SMALL_LM = {"model.dim": 32, "model.num_heads": 2, "model.num_layers": 1, "model.ffn_dim": 64,
            "data.crop_seconds": 0.2, "text.max_length": 8, "batch_size": 8,
            "eval.batch_size": 8, "eval.num_batches": 1, "log_every_steps": 1,
            "eval_every_steps": 0, "optimizer.warmup_steps": 0, "optimizer.schedule": "constant",
            "optimizer.weight_decay": 0.0}


def small_lm_flags(**extra):
  return [f"--config.{k}={v}" for k, v in {**SMALL_LM, **extra}.items()]


def small_lm_config(**overrides):
  return with_overrides(audiogen.get_config("tiny"), {**SMALL_LM, **overrides})
