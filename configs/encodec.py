"""EnCodec codec configs.

Variants (`--config=configs/encodec.py:VARIANT`):
  tiny   a small causal model that trains on 2 CPU cores in minutes
  base   EnCodec 24 kHz sizes, for training from scratch
  24khz  the published 24 kHz model (causal, mono, 1.5-24 kbps)
  48khz  the published 48 kHz model (non-causal, stereo, 1 s chunks with a normalising scale)
  32khz  MusicGen's codec (non-causal, mono, 4 codebooks x 2048, 50 frames/s)
"""
import ml_collections


def model_config(variant: str) -> ml_collections.ConfigDict:
  """The `CodecConfig` fields of a variant (see soundgen_jax/codecs/codec.py for each field)."""
  m = ml_collections.ConfigDict(dict(
      sample_rate=24000,           # Hz
      channels=1,                  # audio channels
      dimension=128,               # latent and codebook vector size
      num_filters=32,              # base conv width, doubled per downsampling
      ratios=(8, 5, 4, 2),         # decoder upsampling ratios (hop = product)
      kernel_size=7,               # first conv kernel
      last_kernel_size=7,          # last conv kernel
      residual_kernel_size=3,      # residual unit kernel
      num_residual_layers=1,       # residual units per scale
      dilation_base=2,             # residual dilation growth
      compress=2,                  # residual hidden width divisor
      lstm_layers=2,               # LSTM layers at the bottleneck (0: none)
      causal=True,                 # causal padding (streamable)
      pad_mode="reflect",          # padding mode of the convs
      norm="weight_norm",          # weight_norm | time_group_norm | none
      conv_shortcut=True,          # 1x1 conv on residual skips
      trim_right_ratio=1.0,        # transposed-conv trim on the right (causal)
      codebook_size=1024,          # entries per codebook
      num_quantizers=32,           # RVQ levels
      bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0),  # kbps the model serves
      normalize=False,             # per-chunk RMS normalisation
      chunk_length_s=None,         # model-level chunk length in seconds (None: whole input)
      overlap=None,                # model-level chunk overlap fraction
      ema_decay=0.99,              # codebook EMA decay
      kmeans_iters=10,             # k-means iterations for codebook init
      dead_code_threshold=2.0,     # EMA usage under which a code is replaced
  ))
  if variant in ("base", "24khz"):
    pass
  elif variant == "48khz":
    m.update(sample_rate=48000, channels=2, causal=False, norm="time_group_norm",
             bandwidths=(3.0, 6.0, 12.0, 24.0), num_quantizers=16, normalize=True,
             chunk_length_s=1.0, overlap=0.01)
  elif variant == "32khz":
    m.update(sample_rate=32000, num_filters=64, ratios=(8, 5, 4, 4), causal=False,
             conv_shortcut=False, codebook_size=2048, num_quantizers=4, bandwidths=(2.2,))
  elif variant == "tiny":
    m.update(sample_rate=16000, num_filters=8, dimension=32, ratios=(8, 5, 4), lstm_layers=1,
             codebook_size=256, num_quantizers=4, bandwidths=(0.8, 1.6, 3.2), kmeans_iters=5)
  else:
    raise ValueError(f"unknown encodec variant {variant!r}; "
                     "choose tiny, base, 24khz, 48khz or 32khz")
  return m


def trainer_config(config: ml_collections.ConfigDict, variant: str) -> None:
  """Adds the trainer fields (common ones of DESIGN.md + codec GAN ones) to `config`, whose
  `model` is already set. Shared with configs/soundstream.py.

  Every variant but tiny uses the published recipe. tiny is made for ~8 minutes on 2 CPU
  cores, where a GAN step costs 5-10x a reconstruction step (the discriminators' passes):
  1550 reconstruction-only steps (time L1 and negative SI-SNR weighted well over the mel loss,
  for waveform fidelity) at a higher, cosine-decayed learning rate, then 50 steps of the full
  GAN recipe; 0.5 s crops and 3 MS-STFT scales. (A 2100-step run's held-out SI-SNR had
  levelled off by step 1500: 4.57 dB there, 4.75 dB at the end.)
  """
  tiny = variant == "tiny"
  config.seed = 0                          # init, quantizer dropout and data order
  config.total_steps = 1600 if tiny else 300_000  # training steps
  config.batch_size = 8 if tiny else 64    # global batch (examples per step)
  config.log_every_steps = 10 if tiny else 100  # metrics.jsonl / TensorBoard interval
  config.eval_every_steps = 250 if tiny else 5000  # held-out eval interval (0: only at the end)
  config.checkpoint_every_steps = 250 if tiny else 5000  # checkpoint interval (0: only at the end)
  config.keep_checkpoints = 3              # newest checkpoints kept
  config.async_checkpoints = True          # save in the background

  config.mesh = ml_collections.ConfigDict()
  config.mesh.data = -1                    # data-parallel axis size (-1: the remaining devices)
  config.mesh.fsdp = 1                     # parameter-sharding axis size
  config.mesh.model = 1                    # tensor-parallel axis size

  config.data = ml_collections.ConfigDict()
  config.data.task = "synthetic"           # synthetic | debian | files | manifest | a task name
  config.data.sample_rate = config.model.get_ref("sample_rate")  # Hz, the codec's
  config.data.channels = config.model.get_ref("channels")  # audio channels, the codec's
  config.data.crop_seconds = 0.5 if tiny else 1.0  # training clip length (EnCodec: 1 s)
  config.data.data_dir = "data/debian"     # debian: the folder scripts/fetch_corpus.py wrote
  config.data.path = ""                    # files: a folder of audio files or one file
  config.data.glob = ""                    # files: a glob pattern of audio files
  config.data.manifest = ""                # manifest: a JSONL file of {"path": ...}

  config.quantizer_dropout = "bandwidths"  # bandwidths (EnCodec) | levels (U{1..Q}) | off

  config.discriminator = ml_collections.ConfigDict()
  config.discriminator.kind = "msstft"     # msstft (EnCodec) | soundstream (wave + STFT)
  config.discriminator.filters = 8 if tiny else 32  # STFT discriminator base filters
  config.discriminator.n_ffts = (  # MS-STFT windows, hop = window / 4 (tiny: 3, CPU cost)
      (512, 256, 128) if tiny else (2048, 1024, 512, 256, 128))
  config.discriminator.wave_filters = 16   # soundstream: wave discriminator base filters
  config.discriminator.wave_scales = 3     # soundstream: wave discriminators (1x, 2x, 4x pooled)
  config.discriminator.update_every = 1    # discriminator update every N generator steps

  config.optimizer = ml_collections.ConfigDict()
  for name in ("generator", "discriminator"):
    o = ml_collections.ConfigDict()
    o.learning_rate = 2e-3 if tiny else 3e-4  # peak learning rate (EnCodec: 3e-4)
    o.b1 = 0.5                             # Adam beta1 (EnCodec)
    o.b2 = 0.9                             # Adam beta2 (EnCodec)
    o.eps = 1e-8                           # Adam epsilon
    o.weight_decay = 0.0                   # AdamW decay (0: Adam)
    o.grad_clip_norm = 10.0                # clip by global norm (0: off)
    o.warmup_steps = 0                     # linear warmup steps
    o.schedule = "constant"                # constant | cosine
    if tiny and name == "generator":
      o.schedule = "cosine"                # short run: decay to the end
    config.optimizer[name] = o         # separate optimizers: generator, discriminators

  config.loss = ml_collections.ConfigDict()
  config.loss.time = 1.0 if tiny else 0.1  # l_t weight: waveform L1 (0: off; EnCodec 0.1)
  config.loss.sisnr = 1.0 if tiny else 0.0  # negative SI-SNR weight (0: off; audiocraft's sisnr)
  config.loss.freq = 0.2 if tiny else 1.0  # l_f weight: multi-scale mel L1 + L2 (0: off)
  config.loss.adversarial = 3.0            # l_g weight: hinge generator loss (0: off)
  config.loss.feature = 3.0                # l_feat weight: feature matching (0: off)
  config.loss.commitment = 1.0             # commitment loss weight (outside the balancer)
  config.loss.adversarial_start_step = 1550 if tiny else 0  # reconstruction-only steps first
  config.loss.mel_scales = tuple(range(5, 12))  # mel windows 2^i (hop 2^i / 4)
  config.loss.mel_bins = 64                # mel bins per scale

  config.balancer = ml_collections.ConfigDict()
  config.balancer.enabled = True           # normalise each loss's gradient (False: weighted sum)
  config.balancer.total_norm = 1.0         # norm of the balanced gradient
  config.balancer.ema_decay = 0.999        # EMA decay of the gradient norms
  config.balancer.per_batch_item = True    # gradient norms per example, then averaged

  config.ema_decay = 0.0                   # EMA of the generator weights (0: off)

  config.eval = ml_collections.ConfigDict()
  config.eval.split = "valid"              # held-out split
  config.eval.batch_size = 8 if tiny else 32  # eval batch (global)
  config.eval.num_batches = 4 if tiny else 16  # eval batches (fewer if the split ends)
  config.eval.seed = 0                     # eval crops' seed (same clips every eval)
  config.eval.at_start = True              # also evaluate the untrained model (step 0)
  config.eval.bandwidths = ()              # kbps to evaluate at (empty: all of the codec's)
  config.eval.silence_rms = 1e-3           # SI-SNR leaves out references quieter than this


def get_config(arg: str = "base") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.family = "codec"            # which trainer / model family
  config.variant = arg or "base"     # the variant this config was made from
  config.model = model_config(config.variant)
  trainer_config(config, config.variant)
  return config
