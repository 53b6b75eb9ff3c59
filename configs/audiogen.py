"""AudioGen-style text-to-audio LM configs (also the base of configs/musicgen.py).

Variants (`--config=configs/audiogen.py:VARIANT`):
  tiny    4 layers, width 256, on the bundled tiny codec (16 kHz, 4 x 256, 100 frames/s) and the
          built-in synthetic corpus with the bundled MiniLM: trains on 2 CPU cores in minutes
  base    12 layers, width 768
  medium  AudioGen-medium (1.5B): width 1536, 48 layers, 24 heads, T5-large, 16 kHz EnCodec
          4 x 2048 at 50 Hz, 10 s windows, condition dropout 0.1
"""
import ml_collections

SIZES = {  # dim, layers, heads, ffn
    "tiny": (256, 4, 4, 1024),
    "base": (768, 12, 12, 3072),
    "small": (1024, 24, 16, 4096),
    "medium": (1536, 48, 24, 6144),
    "large": (2048, 48, 32, 8192),
}


def lm_config(config: ml_collections.ConfigDict, variant: str, *, family_defaults: dict) -> None:
  """Fills `config` (family, model, pattern, text, codec, data, trainer fields). Shared by
  configs/musicgen.py, which passes its own defaults (condition dropout, windows)."""
  tiny = variant == "tiny"
  dim, layers, heads, ffn = SIZES["tiny" if tiny else family_defaults.get("size", variant)]
  config.family = "lm"                     # which trainer / model family

  config.codec = ml_collections.ConfigDict()
  # Codec checkpoint folder ('' = the bundled tiny codec, which fits only the tiny variants);
  # any launch/convert.py encodec output or codec training WORKDIR/export with matching
  # codebooks works. The first model.num_codebooks levels are used.
  config.codec.checkpoint = ""

  m = config.model = ml_collections.ConfigDict()
  m.num_codebooks = 4                      # K parallel codebook streams (the codec's levels used)
  m.codebook_size = 256 if tiny else 2048  # codes per codebook (must match the codec)
  m.dim = dim                              # residual width
  m.num_heads = heads                      # attention heads
  m.num_layers = layers                    # Transformer blocks
  m.ffn_dim = ffn                          # feed-forward width
  m.text_dim = 384 if tiny else (1024 if variant == "medium" else 768)  # text states' width
  # sinusoidal (MusicGen) | rotary | sinusoidal+rotary. tiny: rotary in attention plus weak
  # absolute positions learns far faster than MusicGen's (held-out loss 2.90 at 1500 steps
  # against 3.32 at 1800) and keeps the fades that rotary alone lost (README, Audio LM).
  m.positions = "sinusoidal+rotary" if tiny else "sinusoidal"
  m.position_scale = 0.1 if tiny else 1.0  # factor on the sinusoidal positions (audiocraft: 1)
  m.norm_first = True                      # pre-norm blocks
  m.norm_eps = 1e-5                        # LayerNorm epsilon
  m.dropout = 0.0 if tiny else 0.1         # dropout in training
  m.dtype = "float32"                      # compute dtype ('bfloat16' on TPU / GPU)
  m.param_dtype = "float32"                # parameter dtype
  m.remat = not tiny                       # recompute activations in the backward pass
  m.scan_layers = layers > 12              # one scanned block: deep models compile fast

  config.pattern = ml_collections.ConfigDict()
  config.pattern.name = "delay"            # parallel | delay | unroll | coarse_first | musiclm
  config.pattern.delays = tuple(range(4))  # per-codebook delays (delay, unroll, coarse_first)

  config.text = ml_collections.ConfigDict()
  config.text.encoder = "minilm" if tiny else "t5"  # frozen text encoder
  config.text.checkpoint = ""              # converted encoder folder ('' = bundled MiniLM)
  config.text.vocab = ""                   # vocabulary file ('' = next to the checkpoint)
  config.text.max_length = 32 if tiny else 256  # tokens per caption (longer ones are cut)
  config.text.dtype = "float32"            # encoder compute dtype
  # Share of null captions. tiny: 0.3 (MusicGen's), not AudioGen's 0.1: with 0.1 the tiny LM's
  # null branch stays weak and CFG 3 fell below no CFG (README, Audio LM).
  config.condition_dropout = 0.3 if tiny else family_defaults["condition_dropout"]

  config.seed = 0                          # init, dropout and data order
  config.total_steps = 1500 if tiny else 200_000  # training steps (tiny: ~13 min on 2 cores)
  config.batch_size = 16 if tiny else 192  # global batch
  config.log_every_steps = 20 if tiny else 100  # metrics.jsonl / TensorBoard interval
  config.eval_every_steps = 250 if tiny else 5000  # held-out eval interval (0: only at the end)
  config.checkpoint_every_steps = 250 if tiny else 5000  # checkpoint interval
  config.keep_checkpoints = 3              # newest checkpoints kept
  config.async_checkpoints = True          # save in the background

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1                    # data-parallel axis (-1: the remaining devices)
  config.mesh.fsdp = 1                     # parameter-sharding axis
  config.mesh.model = 1                    # tensor-parallel axis

  config.data = ml_collections.ConfigDict()
  # synthetic_text_audio: audio encoded on the fly by the frozen codec; a *_text_codes task
  # (launch/tokenize.py) reads cached tokens instead: the same batches.
  config.data.task = "synthetic_text_audio"
  config.data.sample_rate = 16000          # Hz (the codec's)
  config.data.channels = 1                 # audio channels (the codec's)
  config.data.crop_seconds = 1.0 if tiny else family_defaults["window_seconds"]  # window
  config.data.codes_dir = ""               # text-codes tasks: launch/tokenize.py's folder
  config.data.mix_probability = 0.0 if tiny else family_defaults.get("mix_probability", 0.0)
  config.data.data_dir = "data/debian"     # debian: scripts/fetch_corpus.py's folder
  config.data.manifest = ""                # user corpus: JSONL manifest

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 1e-3 if tiny else 1e-4  # peak learning rate (audiocraft 1e-4)
  config.optimizer.b1 = 0.9                # AdamW beta1
  config.optimizer.b2 = 0.95               # AdamW beta2 (audiocraft)
  config.optimizer.eps = 1e-8              # Adam epsilon
  config.optimizer.weight_decay = 0.1      # AdamW decay (audiocraft)
  config.optimizer.grad_clip_norm = 1.0    # clip by global norm
  config.optimizer.warmup_steps = 50 if tiny else 4000  # linear warmup
  config.optimizer.schedule = "cosine"     # constant | cosine

  config.generation = ml_collections.ConfigDict()
  config.generation.max_duration = config.data.get_ref("crop_seconds")  # window (s)
  config.generation.extend_stride = 1.0 if tiny else family_defaults["extend_stride"]  # s

  config.eval = ml_collections.ConfigDict()
  config.eval.split = "valid"              # held-out split
  config.eval.batch_size = 16 if tiny else 64  # eval batch (global)
  config.eval.num_batches = 4 if tiny else 16  # eval batches
  config.eval.seed = 0                     # same clips every eval
  config.eval.at_start = True              # also evaluate the untrained model


def get_config(arg: str = "base") -> ml_collections.ConfigDict:
  variant = arg or "base"
  if variant not in ("tiny", "base", "medium"):
    raise ValueError(f"unknown audiogen variant {variant!r}; choose tiny, base or medium")
  config = ml_collections.ConfigDict()
  config.variant = variant                 # the variant this config was made from
  lm_config(config, variant, family_defaults=dict(
      condition_dropout=0.1, window_seconds=10.0, extend_stride=2.0, mix_probability=0.5,
      size="base" if variant == "base" else "medium"))
  if variant != "tiny":
    config.data.sample_rate = 16000        # AudioGen's 16 kHz EnCodec, 50 frames/s
  return config

