"""PyTorch reference values for tests/test_rnn.c: recurrent layers (torch.nn.RNN, LSTM, GRU and
their cells), sequence attention, and a recurrent state_dict written by torch.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_rnn_refs.py

Each case builds the torch module with torch's own (seeded) initialisation, runs it in
float32 on random inputs (and random initial states where the case says so), draws a random R
for each output (out, h_n, c_n) and backpropagates L = sum over outputs of sum(out * R), then
records every parameter, input, output, seed and gradient (of the inputs, the initial states
and EVERY parameter). Variable-length cases run the module on
pack_padded_sequence(x, lengths, enforce_sorted=False) and pad the output back to T with
pad_packed_sequence (zeros at padded steps). The attention cases compute Bahdanau's and
Luong's formulas directly (torch 1.13 has no such layer).

Files written next to this script:
  rnn_refs.txt              the format of make_refs.py ('#' comment lines; each tensor a header
                            `<role> <name> <dtype> <ndim> <dims...>` then its values, 8 per line,
                            9 significant digits); names are "<case>.<tensor>", roles:
                              param  module parameters and float inputs (x, h0, c0)
                              const  inputs without gradient (lengths, masks)
                              out    outputs; seed  their R; grad  dL/d(param or input)
  rnn_lstm_state.safetensors  the state_dict of LSTM(3, 4, num_layers=2, bidirectional=True,
                            batch_first=True), written like the safetensors library (the writer
                            of make_safetensors_refs.py); its input and outputs are the
                            "state_dict" case of rnn_refs.txt.
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_nn_refs import Recorder, generated_by, randn, write_cases  # noqa: E402
from make_safetensors_refs import serialize  # noqa: E402

CASES = []
I, H, T, B = 3, 4, 5, 3  # input size, hidden size, sequence length, batch


def case(fn):
    CASES.append(fn)
    return fn


def sequence_case(r, module, batch_first=False, states=False, lengths=None):
    """One forward/backward of an RNN/LSTM/GRU on x [T, B, I] (or [B, T, I])."""
    lstm = isinstance(module, nn.LSTM)
    D = 2 if module.bidirectional else 1
    LD = module.num_layers * D
    for name, p in module.named_parameters():
        r.add("param", name, p)
    x = r.input("x", randn(*((B, T, I) if batch_first else (T, B, I))))
    hx = None
    if states:
        h0 = r.input("h0", randn(LD, B, H))
        c0 = r.input("c0", randn(LD, B, H)) if lstm else None
        hx = (h0, c0) if lstm else h0
    if lengths is not None:
        r.add("const", "lengths", torch.tensor(lengths, dtype=torch.int64))
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                      enforce_sorted=False)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    else:
        out, state = module(x, hx)
    loss = r.output("out", out)
    if lstm:
        loss = loss + r.output("h_n", state[0]) + r.output("c_n", state[1])
    else:
        loss = loss + r.output("h_n", state)
    loss.backward()
    r.grad("x", x)
    if states:
        r.grad("h0", h0)
        if lstm:
            r.grad("c0", c0)
    for name, p in module.named_parameters():
        r.grad(name, p)


@case
def lstm_bi2(r):
    """LSTM(3, 4, num_layers=2, bidirectional=True), x [T=5, B=3, 3], h0 and c0 given."""
    sequence_case(r, nn.LSTM(I, H, num_layers=2, bidirectional=True), states=True)


@case
def lstm_bi2_bf_len(r):
    """LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True), lengths [5, 2, 4], h0 and
    c0 given."""
    sequence_case(r, nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True),
                  batch_first=True, states=True, lengths=[5, 2, 4])


@case
def lstm_len_zero_state(r):
    """LSTM(3, 4) unidirectional, seq-first, lengths [3, 5, 1], zero initial states."""
    sequence_case(r, nn.LSTM(I, H), lengths=[3, 5, 1])


@case
def gru_bi2(r):
    """GRU(3, 4, num_layers=2, bidirectional=True), seq-first, h0 given."""
    sequence_case(r, nn.GRU(I, H, num_layers=2, bidirectional=True), states=True)


@case
def gru_bi2_bf_len(r):
    """GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True), lengths [2, 5, 3], zero h0."""
    sequence_case(r, nn.GRU(I, H, num_layers=2, bidirectional=True, batch_first=True),
                  batch_first=True, lengths=[2, 5, 3])


@case
def rnn_tanh_bi2(r):
    """RNN(3, 4, num_layers=2, bidirectional=True) tanh, seq-first, h0 given."""
    sequence_case(r, nn.RNN(I, H, num_layers=2, bidirectional=True), states=True)


@case
def rnn_relu_bi2_bf_len(r):
    """RNN(3, 4, num_layers=2, nonlinearity='relu', bidirectional=True, batch_first=True),
    lengths [4, 1, 5], h0 given."""
    sequence_case(r, nn.RNN(I, H, num_layers=2, nonlinearity="relu", bidirectional=True,
                            batch_first=True), batch_first=True, states=True, lengths=[4, 1, 5])


@case
def rnn_tanh_no_bias(r):
    """RNN(3, 4, bias=False), seq-first, zero h0."""
    sequence_case(r, nn.RNN(I, H, bias=False))


def cell_case(r, cell, states=True):
    lstm = isinstance(cell, nn.LSTMCell)
    for name, p in cell.named_parameters():
        r.add("param", name, p)
    x = r.input("x", randn(B, I))
    hx = None
    if states:
        h = r.input("h", randn(B, H))
        c = r.input("c", randn(B, H)) if lstm else None
        hx = (h, c) if lstm else h
    y = cell(x, hx)
    loss = r.output("h1", y[0]) + r.output("c1", y[1]) if lstm else r.output("h1", y)
    loss.backward()
    r.grad("x", x)
    if states:
        r.grad("h", h)
        if lstm:
            r.grad("c", c)
    for name, p in cell.named_parameters():
        r.grad(name, p)


@case
def rnn_cell_tanh(r):
    """RNNCell(3, 4) (tanh), x [3, 3], h given."""
    cell_case(r, nn.RNNCell(I, H))


@case
def rnn_cell_relu(r):
    """RNNCell(3, 4, nonlinearity='relu'), x [3, 3], h given."""
    cell_case(r, nn.RNNCell(I, H, nonlinearity="relu"))


@case
def lstm_cell(r):
    """LSTMCell(3, 4), x [3, 3], h and c given."""
    cell_case(r, nn.LSTMCell(I, H))


@case
def lstm_cell_zero_state(r):
    """LSTMCell(3, 4), x [3, 3], zero state."""
    cell_case(r, nn.LSTMCell(I, H), states=False)


@case
def gru_cell(r):
    """GRUCell(3, 4), x [3, 3], h given."""
    cell_case(r, nn.GRUCell(I, H))


# ---- Attention ----------------------------------------------------------------------------

MASK = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]],
                    dtype=torch.int64)  # [B=3, S=6]


def attention_case(r, kind, single_query):
    Dq, Dk, Dv, A, S, N = (5, 5, 3, 6, 6, 2) if kind == "dot" else (5, 4, 3, 6, 6, 2)
    params = {}
    if kind == "additive":
        params = {"query.weight": 0.5 * randn(A, Dq), "key.weight": 0.5 * randn(A, Dk),
                  "key.bias": 0.5 * randn(A), "v.weight": 0.5 * randn(1, A)}
    elif kind == "general":
        params = {"w.weight": 0.5 * randn(Dq, Dk)}
    p = {name: r.input(name, t) for name, t in params.items()}
    q = r.input("query", randn(*((B, Dq) if single_query else (B, N, Dq))))
    k = r.input("keys", randn(B, S, Dk))
    v = r.input("values", randn(B, S, Dv)) if kind != "dot" else k
    r.add("const", "mask", MASK)
    q3 = q.unsqueeze(1) if single_query else q
    if kind == "additive":
        e = torch.tanh((q3 @ p["query.weight"].T)[:, :, None, :]
                       + (k @ p["key.weight"].T + p["key.bias"])[:, None, :, :])
        scores = (e @ p["v.weight"].T).squeeze(-1)
    elif kind == "dot":
        scores = q3 @ k.transpose(1, 2)
    else:
        scores = q3 @ (k @ p["w.weight"].T).transpose(1, 2)
    scores = scores.masked_fill(MASK[:, None, :] == 0, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    ctx = w @ v
    if single_query:
        ctx, w = ctx.squeeze(1), w.squeeze(1)
    (r.output("context", ctx) + r.output("weights", w)).backward()
    for name, t in list(p.items()) + [("query", q), ("keys", k)] + ([("values", v)] if kind != "dot" else []):
        r.grad(name, t)


@case
def attn_additive(r):
    """Bahdanau attention v^T tanh(W_q q + W_k k + b_k): query [3, 2, 5], keys [3, 6, 4], values
    [3, 6, 3], mask with padded source positions."""
    attention_case(r, "additive", single_query=False)


@case
def attn_dot(r):
    """Luong dot attention: one query per sequence [3, 5], keys = values [3, 6, 5], mask."""
    attention_case(r, "dot", single_query=True)


@case
def attn_general(r):
    """Luong general attention q^T W k: query [3, 2, 5], keys [3, 6, 4], values [3, 6, 3], mask."""
    attention_case(r, "general", single_query=False)


@case
def state_dict(r):
    """LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True) saved by torch to
    rnn_lstm_state.safetensors; x [3, 5, 3] and the eval outputs (zero initial states)."""
    lstm = nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    with open(os.path.join(HERE, "rnn_lstm_state.safetensors"), "wb") as f:
        f.write(serialize({k: v.detach() for k, v in lstm.state_dict().items()}))
    x = randn(B, T, I)
    with torch.no_grad():
        out, (hn, cn) = lstm(x)
    r.add("const", "x", x)
    r.add("out", "out", out)
    r.add("out", "h_n", hn)
    r.add("out", "c_n", cn)


def main():
    write_cases("rnn_refs.txt", ["recurrent-layer and sequence-attention references for "
                                 "tests/test_rnn.c", generated_by("make_rnn_refs.py")], CASES, 3000)


if __name__ == "__main__":
    main()
