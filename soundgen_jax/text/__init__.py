"""Frozen text encoders for conditioning (T5, BERT / MiniLM), their vocabularies, and the
`TextConditioner` that the LM and SoundStorm share (see conditioner.py)."""
