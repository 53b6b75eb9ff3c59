"""Small checkpoints trained here on the built-in synthetic corpus (each folder's README.md
holds the command that made it and its held-out figures): the defaults of the `tiny` configs,
so nothing needs downloading or training first."""
from __future__ import annotations

import os

CODEC_TINY = "codec_tiny"  # configs/encodec.py:tiny on the synthetic corpus, 16 kHz, 4 x 256
AUDIOGEN_TINY = "audiogen_tiny"  # configs/audiogen.py:tiny over codec_tiny, with MiniLM
SOUNDSTORM_TINY = "soundstorm_tiny"  # configs/soundstorm.py:tiny over codec_tiny, with MiniLM


def path(name: str) -> str:
  """Absolute path of a bundled checkpoint folder."""
  where = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
  if not os.path.isdir(where):
    raise FileNotFoundError(f"no bundled checkpoint {name!r} at {where}; is the package "
                            "installed with its data files (pip install -e .)?")
  return where
