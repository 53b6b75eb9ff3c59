"""SoundStorm configs: the Conformer parallel decoder over codec levels, text-conditioned.

  python launch/train.py --config=configs/soundstorm.py --workdir=W       # the paper's model
  python launch/train.py --config=configs/soundstorm.py:tiny --workdir=W  # 2 CPU cores, minutes

Variants:
  (none)  the paper's Conformer (12 layers, 16 heads, width 1024, FFN 4096, kernel 5) on the
          built-in synthetic corpus, the bundled tiny codec (16 kHz, 4 x 256, 100 frames/s) and
          the bundled MiniLM: runs anywhere, slowly on a CPU; uses every device of a TPU / GPU
  tiny    4 layers, width 192, the same data: trains on 2 CPU cores in ~10 minutes
  base    12 layers, width 768, for a real codec: EnCodec 24 kHz, 8 levels x 1024 at 75 Hz
          (set --config.codec.checkpoint to a launch/convert.py encodec folder) and T5-base
"""
import ml_collections

SIZES = {  # dim, layers, heads, ffn
    "tiny": (192, 4, 4, 768),
    "base": (768, 12, 12, 3072),
    "paper": (1024, 12, 16, 4096),
}


def get_config(arg: str = "") -> ml_collections.ConfigDict:
  variant = arg or "paper"
  if variant not in SIZES:
    raise ValueError(f"unknown soundstorm variant {variant!r}; choose tiny or base (or none: "
                     "the paper's model)")
  tiny, base = variant == "tiny", variant == "base"
  dim, layers, heads, ffn = SIZES[variant]
  config = ml_collections.ConfigDict()
  config.variant = variant                 # the variant this config was made from
  config.family = "soundstorm"             # which trainer / model family

  config.codec = ml_collections.ConfigDict()
  # Codec checkpoint folder ('' = the bundled tiny codec: 4 levels x 256, which fits the tiny
  # and paper variants); its first model.num_levels levels are modelled.
  config.codec.checkpoint = ""

  m = config.model = ml_collections.ConfigDict()
  m.num_levels = 8 if base else 4          # Q codec levels modelled
  m.codebook_size = 1024 if base else 256  # codes per level (must match the codec)
  m.dim = dim                              # residual width
  m.num_heads = heads                      # attention heads
  m.num_layers = layers                    # Conformer blocks
  m.ffn_dim = ffn                          # feed-forward width (both macaron halves)
  m.conv_kernel = 5                        # depthwise conv kernel (frames; the paper's)
  m.cond_vocab = 0                         # semantic conditioning tokens (0: none; see trainer)
  m.cond_upsample = 1                      # frames per conditioning token
  m.text_dim = 768 if base else 384        # text states' width (MiniLM 384, T5-base 768)
  m.norm_eps = 1e-5                        # LayerNorm epsilon
  m.dropout = 0.0 if tiny else 0.1         # dropout in training
  m.rotary_base = 10000.0                  # rotary frequency base
  m.dtype = "float32"                      # compute dtype ('bfloat16' on TPU / GPU)
  m.param_dtype = "float32"                # parameter dtype
  m.remat = not tiny                       # recompute activations in the backward pass
  m.scan_layers = False                    # one scanned block (12 layers compile fast anyway)

  # Levels below first_level come from the conditioning and are never masked. 0: every level
  # is learnt, so the model decodes from text alone and behind an LM that gives level 0.
  config.first_level = 0

  config.text = ml_collections.ConfigDict()
  config.text.encoder = "t5" if base else "minilm"  # frozen text encoder
  config.text.checkpoint = ""              # converted encoder folder ('' = bundled MiniLM)
  config.text.vocab = ""                   # vocabulary file ('' = next to the checkpoint)
  config.text.max_length = 32 if not base else 256  # tokens per caption (longer ones are cut)
  config.text.dtype = "float32"            # encoder compute dtype
  config.condition_dropout = 0.1           # share of null captions (classifier-free guidance)

  config.seed = 0                          # init, masks, dropout and data order
  config.total_steps = 800 if tiny else 200_000  # training steps (tiny: ~9 min on 2 cores)
  config.batch_size = 16 if tiny else 128  # global batch
  config.log_every_steps = 20 if tiny else 100  # metrics.jsonl / TensorBoard interval
  config.eval_every_steps = 200 if tiny else 5000  # held-out eval interval (0: only at the end)
  config.checkpoint_every_steps = 200 if tiny else 5000  # checkpoint interval
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
  config.data.sample_rate = 24000 if base else 16000  # Hz (the codec's)
  config.data.channels = 1                 # audio channels (the codec's)
  config.data.crop_seconds = 1.0 if tiny else (3.0 if not base else 10.0)  # training window
  config.data.codes_dir = ""               # text-codes tasks: launch/tokenize.py's folder
  config.data.mix_probability = 0.0        # mixing two clips (and captions) per example
  config.data.data_dir = "data/debian"     # debian: scripts/fetch_corpus.py's folder
  config.data.manifest = ""                # user corpus: JSONL manifest

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 1e-3 if tiny else 3e-4  # peak learning rate
  config.optimizer.b1 = 0.9                # AdamW beta1
  config.optimizer.b2 = 0.98               # AdamW beta2 (Conformer practice)
  config.optimizer.eps = 1e-8              # Adam epsilon
  config.optimizer.weight_decay = 0.01     # AdamW decay
  config.optimizer.grad_clip_norm = 1.0    # clip by global norm
  config.optimizer.warmup_steps = 50 if tiny else 5000  # linear warmup
  config.optimizer.schedule = "cosine"     # constant | cosine

  # Defaults written into the export for generation (launch/generate.py --soundstorm).
  config.decoding = ml_collections.ConfigDict()
  config.decoding.steps = ()               # per decoded level; (): the paper's (16, 1, ..., 1)
  config.decoding.temperature = 1.0        # token sampling temperature
  config.decoding.top_k = 0                # top-k sampling (0: off)
  config.decoding.choice_temperature = 4.5  # confidence noise, annealed to 0 (MaskGIT)
  config.decoding.cfg_coef = 3.0           # guidance with text (1: none)

  config.eval = ml_collections.ConfigDict()
  config.eval.split = "valid"              # held-out split
  config.eval.batch_size = 16 if tiny else 64  # eval batch (global)
  config.eval.num_batches = 4 if tiny else 16  # eval batches
  config.eval.seed = 0                     # same clips every eval
  config.eval.at_start = tiny              # also evaluate the untrained model (cheap only at tiny)
  return config
