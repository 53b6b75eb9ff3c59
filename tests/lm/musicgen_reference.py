"""A tiny `transformers` MusicGen (T5 text encoder, EnCodec, decoder) with random weights, saved
as a save_pretrained folder; shared by the LM parity and conversion tests."""
import numpy as np
import torch
import transformers

TEXT = dict(vocab_size=99, d_model=24, d_kv=8, d_ff=40, num_layers=2, num_heads=3,
            feed_forward_proj="relu")
CODEC = dict(sampling_rate=8000, num_filters=4, upsampling_ratios=[4, 4], codebook_size=32,
             hidden_size=16, target_bandwidths=[20.0], use_causal_conv=False,
             num_lstm_layers=1)
DECODER = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               ffn_dim=48, max_position_embeddings=256, pad_token_id=32, bos_token_id=32,
               decoder_start_token_id=32)


def random_musicgen(path, channels=1, seed=0):
  """Writes and returns a random MusicgenForConditionalGeneration (mono: 4 codebooks, stereo 8)."""
  torch.manual_seed(seed)
  codec = transformers.EncodecConfig(**CODEC)
  k = 4 * channels
  decoder = transformers.MusicgenDecoderConfig(**DECODER, num_codebooks=k, audio_channels=channels)
  config = transformers.MusicgenConfig(text_encoder=transformers.T5Config(**TEXT).to_dict(),
                                       audio_encoder=codec.to_dict(), decoder=decoder.to_dict())
  model = transformers.MusicgenForConditionalGeneration(config).eval()
  with torch.no_grad():  # LayerNorms away from (1, 0) so their conversion matters
    for name, p in model.decoder.named_parameters():
      if "layer_norm" in name:
        p.add_(torch.randn_like(p) * 0.2)
  model.save_pretrained(path)
  return model


def text_batch(seed=0, batch=2, length=7):
  """T5 ids and a mask with different lengths per row (padding at the end)."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(1, TEXT["vocab_size"], (batch, length))
  mask = np.ones((batch, length), np.int64)
  mask[1, length - 3:] = 0
  ids[mask == 0] = 0
  return ids, mask
