"""A GRU encoder-decoder whose attention is two `torch.bmm` calls.

Read it top to bottom: attention, encoder, decoder, the full model (its ModelConfig is in training/config.py).

Letters used in shape comments, defined once:
    B  batch size            S  source length          T  target length
    E  embedding size        H  encoder hidden size per direction (decoder hidden is 2H)
    A  additive-attention size                         V  (shared) vocabulary size

Why `bmm`? Attention for a whole batch is a batch of small matrix products: for every sentence b,
scores[b] = query[b] @ keys[b]ᵀ (T×2H times 2H×S) and context[b] = weights[b] @ enc_out[b]
(T×S times S×2H), with T = 1 in a decoding step. `torch.bmm` does exactly "one matmul per batch
element" in one kernel call, with `batch_first=True` tensors and no permutes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.config import ModelConfig
from training.constants import SCORE_FUNCTIONS

MASKED_SCORE = -1e9  # put on padded positions before softmax (in fp32); finite, so ONNX stays NaN-free


class Attention(nn.Module):
    """Scores every source position for every decoder query, then averages enc_out by those weights.

    Works for T queries at once (teacher forcing) and for T = 1 (one decoding step, the ONNX export),
    with the same code, so training and inference compute exactly the same function.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.kind = config.attention
        if self.kind not in SCORE_FUNCTIONS:
            raise ValueError(f"unknown attention {self.kind!r}; choose one of {', '.join(SCORE_FUNCTIONS)}")
        two_h = 2 * config.hidden_dim
        if self.kind == "general":
            self.key_proj = nn.Linear(two_h, two_h, bias=False)  # W_a in Luong et al.
        elif self.kind == "additive":
            self.key_proj = nn.Linear(two_h, config.attention_dim, bias=False)  # W_k
            self.query_proj = nn.Linear(two_h, config.attention_dim, bias=True)  # W_q
            self.energy = nn.Linear(config.attention_dim, 1, bias=False)  # v

    def keys(self, enc_out: torch.Tensor) -> torch.Tensor:
        """What the queries are compared with; computed once per sentence, not once per step."""
        if self.kind == "dot":
            return enc_out  # (B, S, 2H)
        return self.key_proj(enc_out)  # (B, S, 2H) general, (B, S, A) additive

    def forward(self, query, keys, enc_out, src_mask):
        # query (B, T, 2H), keys (B, S, 2H|A), enc_out (B, S, 2H), src_mask (B, S) bool, True = real token
        if self.kind in ("dot", "general"):  # Luong: the scores are a batched matrix product
            # The first bmm: one (T×2H) @ (2H×S) matmul per sentence, every query against every key.
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
        else:  # additive (Bahdanau): a small network scores every (query, key) pair
            q = self.query_proj(query)  # (B, T, A)
            energy = torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
            scores = self.energy(energy).squeeze(3)  # (B, T, S)
        scores = scores.float()  # under fp16 autocast the bmm gives fp16, which cannot hold MASKED_SCORE
        scores = scores.masked_fill(~src_mask.unsqueeze(1), MASKED_SCORE)  # padding gets ~0 weight
        weights = torch.softmax(scores, dim=-1)  # (B, T, S), each query's row sums to 1 over the source
        # The second bmm: (T×S) @ (S×2H) per sentence, a weighted average of the encoder states. For one
        # decoding step (T = 1) this is literally the classic bmm(weights.unsqueeze(1), enc_out).
        context = torch.bmm(weights, enc_out)  # (B, T, 2H)
        return context, weights  # (B, T, 2H), (B, T, S)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's real tokens in place, leaving padding at the end.

    Lets the backward GRU read real tokens first, so right-padding cannot change its outputs; pure
    tensor ops (no packing), so it exports to ONNX. Applying it twice gives the input back.
    """
    # Positions from a cumulative sum rather than arange(S): a data op, so the exporter can never bake
    # the example's source length into the graph.
    positions = torch.ones_like(x[:, :, 0], dtype=torch.long).cumsum(1) - 1  # (B, S)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(positions <= last, last - positions, positions)  # (B, S)
    return torch.gather(x, 1, index.unsqueeze(2).expand(-1, -1, x.size(2)))


class Encoder(nn.Module):
    """Bidirectional GRU, written as two one-way GRUs so padding never leaks into real positions."""

    def __init__(self, config: ModelConfig, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(config.dropout)
        self.forward_gru = nn.GRU(config.embed_dim, config.hidden_dim, batch_first=True)
        self.backward_gru = nn.GRU(config.embed_dim, config.hidden_dim, batch_first=True)
        self.bridge = nn.Linear(2 * config.hidden_dim, 2 * config.hidden_dim)  # encoder summary -> decoder h0

    def forward(self, src_ids, src_mask):
        # src_ids (B, S) int64, src_mask (B, S) bool
        lengths = src_mask.long().sum(1)  # (B,)
        embedded = self.dropout(self.embedding(src_ids))  # (B, S, E)
        fwd_out, _ = self.forward_gru(embedded)  # (B, S, H)
        bwd_out, _ = self.backward_gru(reverse_padded(embedded, lengths))  # (B, S, H), reversed order
        bwd_out = reverse_padded(bwd_out, lengths)  # back to source order
        enc_out = torch.cat([fwd_out, bwd_out], dim=2)  # (B, S, 2H)
        enc_out = enc_out * src_mask.unsqueeze(2).to(enc_out.dtype)  # zero padding positions
        # Forward GRU's state after the last real token, backward GRU's state after the first one.
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, fwd_out.size(2))  # (B, 1, H)
        summary = torch.cat([fwd_out.gather(1, last).squeeze(1), bwd_out[:, 0]], dim=1)  # (B, 2H)
        hidden = torch.tanh(self.bridge(summary))  # (B, 2H), the decoder's initial state
        return self.dropout(enc_out), hidden


def gru_cell(gru: nn.GRU, x, hidden):
    """One time step of a one-layer nn.GRU, as plain matmuls: x (B, E), hidden (B, D) -> (B, D).

    Same equations and weights as nn.GRU (PyTorch applies the reset gate after the hidden matmul). Written
    out so the exported decoder step is MatMuls that int8 quantization can reach; ONNX Runtime has no
    int8 GRU kernel, and the GRU is most of a step's weights.
    """
    gates_x = F.linear(x, gru.weight_ih_l0, gru.bias_ih_l0)  # (B, 3D): reset, update, new
    gates_h = F.linear(hidden, gru.weight_hh_l0, gru.bias_hh_l0)  # (B, 3D)
    x_r, x_z, x_n = gates_x.chunk(3, dim=1)
    h_r, h_z, h_n = gates_h.chunk(3, dim=1)
    reset = torch.sigmoid(x_r + h_r)
    update = torch.sigmoid(x_z + h_z)
    new = torch.tanh(x_n + reset * h_n)
    return (1 - update) * new + update * hidden  # (B, D)


class Decoder(nn.Module):
    """Luong-style: GRU first, then attention on its output (no input feeding).

    Without input feeding the GRU does not depend on attention, so teacher forcing runs it over the whole
    target in one call and attends for all T steps with the same two bmm calls.
    """

    def __init__(self, config: ModelConfig, embedding: nn.Embedding):
        super().__init__()
        self.embedding = embedding
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.embed_dim, 2 * config.hidden_dim, batch_first=True)
        self.attention = Attention(config)
        # Pre-output layer: [GRU output; context] -> E, so the vocabulary projection is E×V, not 4H×V,
        # and can reuse the embedding matrix (tied weights).
        self.pre_output = nn.Linear(4 * config.hidden_dim, config.embed_dim)

    def output_logits(self, gru_out, context):
        # gru_out, context (B, T, 2H) in training, (B, 2H) in a step (2-D keeps every weight a plain Gemm
        # operand in ONNX, which int8 quantization needs)
        pre = torch.tanh(self.pre_output(torch.cat([gru_out, context], dim=-1)))  # (B, [T,] E)
        return F.linear(self.dropout(pre), self.embedding.weight)  # (B, [T,] V), tied to the embedding

    def forward(self, tgt_in, hidden, keys, enc_out, src_mask):
        """Teacher forcing over a whole target prefix: tgt_in (B, T), hidden (B, 2H)."""
        embedded = self.dropout(self.embedding(tgt_in))  # (B, T, E)
        gru_out, last_hidden = self.gru(embedded, hidden.unsqueeze(0))  # (B, T, 2H), (1, B, 2H)
        context, weights = self.attention(gru_out, keys, enc_out, src_mask)  # (B, T, 2H), (B, T, S)
        return self.output_logits(gru_out, context), last_hidden.squeeze(0), weights

    def step(self, prev_token, hidden, keys, enc_out, src_mask):
        """One decoding step, the ONNX export boundary: prev_token (B,), hidden (B, 2H).

        Returns log_probs (B, V), the new hidden (B, 2H) and the attention weights (B, S).
        Same function as `forward` with T = 1; the GRU step is written as two matmuls (see gru_cell).
        """
        embedded = self.dropout(self.embedding(prev_token))  # (B, E)
        hidden = gru_cell(self.gru, embedded, hidden)  # (B, 2H)
        query = hidden.unsqueeze(1)  # (B, 1, 2H)
        context, weights = self.attention(query, keys, enc_out, src_mask)  # (B, 1, 2H), (B, 1, S)
        logits = self.output_logits(hidden, context.squeeze(1))  # (B, V)
        return torch.log_softmax(logits, dim=-1), hidden, weights.squeeze(1)


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        nn.init.normal_(self.embedding.weight, std=config.embed_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[config.pad_id].zero_()
        self.encoder = Encoder(config, self.embedding)
        self.decoder = Decoder(config, self.embedding)

    def encode(self, src_ids, src_mask):
        """Returns enc_out (B, S, 2H), attention keys (B, S, 2H|A) and the decoder's first hidden (B, 2H)."""
        enc_out, hidden = self.encoder(src_ids, src_mask)
        return enc_out, self.decoder.attention.keys(enc_out), hidden

    def forward(self, src_ids, src_mask, tgt_in):
        """Teacher-forced logits (B, T, V) for target inputs tgt_in (B, T) that start with BOS."""
        enc_out, keys, hidden = self.encode(src_ids, src_mask)
        logits, _, _ = self.decoder(tgt_in, hidden, keys, enc_out, src_mask)
        return logits

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def greedy(self, src_ids, src_mask, max_len: int):
        """Batched greedy decoding, used for validation BLEU during training. Returns (B, <=max_len) ids."""
        enc_out, keys, hidden = self.encode(src_ids, src_mask)
        batch = src_ids.size(0)
        token = torch.full((batch,), self.config.bos_id, dtype=torch.long, device=src_ids.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src_ids.device)
        out = []
        for _ in range(max_len):
            log_probs, hidden, _ = self.decoder.step(token, hidden, keys, enc_out, src_mask)
            token = log_probs.argmax(-1).masked_fill(finished, self.config.pad_id)
            out.append(token)
            finished |= token == self.config.eos_id
            if bool(finished.all()):
                break
        return torch.stack(out, 1)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))
