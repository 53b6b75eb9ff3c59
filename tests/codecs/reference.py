"""Reference EnCodec models from `transformers` with random weights, saved as Hugging Face
folders; shared by the parity tests and bench/codec_speed.py."""
import numpy as np
import torch
import transformers

# The published configurations (as on the Hugging Face hub), reference side.
HF_CONFIGS = {
    "24khz": dict(),
    "48khz": dict(sampling_rate=48000, audio_channels=2, normalize=True, chunk_length_s=1.0,
                  overlap=0.01, norm_type="time_group_norm", use_causal_conv=False,
                  target_bandwidths=[3.0, 6.0, 12.0, 24.0]),
    "32khz": dict(sampling_rate=32000, codebook_size=2048, num_filters=64,
                  upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
                  use_causal_conv=False, use_conv_shortcut=False),
}


def random_encodec(variant: str, seed: int = 0, audio=None) -> transformers.EncodecModel:
  """A reference model with random weights, including random codebooks and weight-norm gains.

  Codebooks are drawn at the scale of the encoder's latents for `audio` so codes are spread.
  """
  torch.manual_seed(seed)
  model = transformers.EncodecModel(transformers.EncodecConfig(**HF_CONFIGS[variant])).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith("original0"):  # weight-norm gains: away from ||v|| so folding matters
        p.mul_(torch.empty_like(p).uniform_(0.5, 1.5))
    scale = 1.0
    if audio is not None:
      x = torch.from_numpy(np.asarray(audio[..., :model.config.sampling_rate]))
      scale = float(model.encoder(x).std())
    for layer in model.quantizer.layers:
      cb = layer.codebook
      cb.embed.copy_(torch.randn_like(cb.embed) * scale)
      cb.embed_avg.copy_(cb.embed)
      cb.cluster_size.fill_(1.0)
  return model


def save(model: transformers.EncodecModel, directory) -> str:
  model.save_pretrained(str(directory))
  return str(directory)
