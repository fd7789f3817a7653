"""The model's shape: one dataclass, saved in every checkpoint and in the bundle's manifest.json.

Torch-free, so `python -m training --help` can take its defaults from here: the command line and the
dataclass cannot disagree. Letters as in training/model.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ModelConfig:
    vocab_size: int = 8000  # V, one vocabulary shared by source and target (tied embeddings)
    embed_dim: int = 256  # E
    hidden_dim: int = 256  # H, per encoder direction; the decoder GRU has 2H so `dot` needs no projection
    attention: str = "dot"  # dot | general (Luong) | additive (Bahdanau)
    attention_dim: int = 256  # A, only used by `additive`
    dropout: float = 0.3
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    def to_dict(self) -> dict:
        return asdict(self)
