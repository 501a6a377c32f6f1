#!/usr/bin/python3
"""Reference safetensors files for tests/test_safetensors.c, written by PyTorch.

    /usr/bin/python3 tests/ref/make_safetensors_refs.py            # (re)write the references
    /usr/bin/python3 tests/ref/make_safetensors_refs.py --verify F # check a file deepc wrote

Debian ships python3-torch but not the `safetensors` package, so the files are written by a
small writer that follows the format and the layout of the Python library exactly: 8-byte
little-endian header length, compact JSON header ("__metadata__" first, then the tensors in
data order: by descending dtype, I64 before F64 before F32, then by name), padded with spaces
to a multiple of 8, then the row-major little-endian data, contiguous and in header order.

Files written next to this script (all tiny, committed; the C tests need no torch):
  tiny_mlp.safetensors   state_dict of Sequential(Linear(4,6), ReLU, Linear(6,3), BatchNorm1d(3))
                         after two training steps (running stats, num_batches_tracked = 2, I64),
                         plus "extra.f64" (F64) and metadata.
  tiny_mlp_state.safetensors  the same state_dict alone (a plain PyTorch checkpoint), and
  tiny_mlp_io.safetensors     the model's eval-mode input and output on a fixed batch.
  dtypes.safetensors     F16, BF16, I32, U8, I8 tensors, an empty [0,3] tensor and an F64 scalar,
                         to test conversion on read (F16/BF16 -> F32, ints -> I64).
  safetensors_expected.txt  every tensor's values (as read by deepc) and the model's eval-mode
                         output on a fixed input, one line each:
                         name dtype ndim dim... numel value...

--verify F: the reverse direction. `DEEPC_SAFETENSORS_OUT=F build/run_tests
safetensors_resave` makes deepc read tiny_mlp.safetensors and write it again to F; this checks
that F has the exact layout the Python library writes, that every tensor equals the
reference, and that the model loaded from F with load_state_dict(strict) gives the reference
output.
"""
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# The Python library's dtype order (its Rust enum); data is sorted by it, descending.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32",
               "U32", "F32", "F64", "I64", "U64"]
TORCH_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
                "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32,
                "U8": torch.uint8, "I8": torch.int8}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def serialize(tensors, metadata=None):
    """Bytes of a safetensors file holding {name: tensor}, laid out like the Python library."""
    order = sorted(tensors, key=lambda n: (-DTYPE_ORDER.index(DTYPE_NAMES[tensors[n].dtype]), n))
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in order:
        data = tensor_bytes(tensors[name])
        header[name] = {"dtype": DTYPE_NAMES[tensors[name].dtype],
                        "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def parse(blob):
    """(tensors, metadata) of a safetensors file, checking the strict layout rules of the
    Python library: padded header, tensors contiguous in header order, sorted like it sorts."""
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0 and 8 + n <= len(blob), "header length %d not padded or past the end" % n
    text = blob[8:8 + n]
    assert text.rstrip(b" ") == text.rstrip(), "header padding is not spaces"
    pairs = json.loads(text.decode("utf-8"), object_pairs_hook=lambda p: p)
    data = blob[8 + n:]
    metadata, tensors, offset, keys = {}, {}, 0, []
    for i, (name, info) in enumerate(pairs):
        if name == "__metadata__":
            assert i == 0, "__metadata__ must come first"
            metadata = dict(info)
            continue
        info = dict(info)
        begin, end = info["data_offsets"]
        assert begin == offset, "tensor %s does not start where the previous one ends" % name
        dtype = TORCH_DTYPES[info["dtype"]]
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
        keys.append((-DTYPE_ORDER.index(info["dtype"]), name))
        offset = end
    assert offset == len(data), "data buffer has %d bytes after the last tensor" % (len(data) - offset)
    assert keys == sorted(keys), "tensors are not in (dtype, name) order"
    return tensors, metadata


def tiny_mlp():
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3),
                               torch.nn.BatchNorm1d(3))


def reference_model():
    """The model, its input and eval-mode output, and the extra tensors of tiny_mlp."""
    torch.manual_seed(0)
    model = tiny_mlp()
    with torch.no_grad():  # affine parameters that are not the defaults 1 and 0
        model[3].weight.uniform_(0.5, 1.5)
        model[3].bias.uniform_(-0.5, 0.5)
    model.train()
    for _ in range(2):  # two steps: running stats move, num_batches_tracked = 2
        model(torch.randn(8, 4))
    model.eval()
    x = torch.randn(5, 4)
    with torch.no_grad():
        y = model(x)
    extra = {"extra.f64": torch.randn(2, 3, dtype=torch.float64)}
    return model, x, y, extra


def fmt_values(t):
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return " ".join(repr(v) for v in t.reshape(-1).tolist())


def write_refs():
    model, x, y, extra = reference_model()
    state = dict(model.state_dict())
    state.update(extra)
    with open(os.path.join(HERE, "tiny_mlp.safetensors"), "wb") as f:
        f.write(serialize(state, {"format": "pt", "source": "make_safetensors_refs.py"}))

    # A plain PyTorch checkpoint of the model (state_dict only, for dc_checkpoint_load's strict
    # loading) and the model's input/output to compare with.
    with open(os.path.join(HERE, "tiny_mlp_state.safetensors"), "wb") as f:
        f.write(serialize(dict(model.state_dict())))
    with open(os.path.join(HERE, "tiny_mlp_io.safetensors"), "wb") as f:
        f.write(serialize({"input": x, "output": y}))

    dtypes = {
        "half": torch.tensor([0.0, 1.0, -2.5, 65504.0, 2.0 ** -24, float("inf")],
                             dtype=torch.float16),
        "bf16": torch.tensor([[1.0, -3.140625], [1e30, -0.0]], dtype=torch.bfloat16),
        "i32": torch.tensor([-2147483648, 0, 7], dtype=torch.int32),
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
    }
    with open(os.path.join(HERE, "dtypes.safetensors"), "wb") as f:
        f.write(serialize(dtypes))

    with open(os.path.join(HERE, "safetensors_expected.txt"), "w") as f:
        f.write("# written by make_safetensors_refs.py: name dtype ndim dims... numel values...\n")
        rows = list(state.items()) + [("input", x), ("output", y)] + list(dtypes.items())
        for name, t in rows:
            f.write("%s %s %d %s %d %s\n" % (name, DTYPE_NAMES[t.dtype], t.dim(),
                                             " ".join(str(s) for s in t.shape), t.numel(),
                                             fmt_values(t)))
    print("wrote tiny_mlp.safetensors, dtypes.safetensors, safetensors_expected.txt in", HERE)


def verify(path):
    with open(path, "rb") as f:
        blob = f.read()
    tensors, metadata = parse(blob)
    with open(os.path.join(HERE, "tiny_mlp.safetensors"), "rb") as f:
        ref_blob = f.read()
    ref, ref_meta = parse(ref_blob)
    assert metadata == ref_meta, "metadata %r != %r" % (metadata, ref_meta)
    assert sorted(tensors) == sorted(ref), "names differ: %s" % sorted(set(tensors) ^ set(ref))
    for name in ref:
        assert tensors[name].dtype == ref[name].dtype, name
        assert torch.equal(tensors[name], ref[name]), "%s differs" % name
    model, x, y, _ = reference_model()
    fresh = tiny_mlp()
    fresh.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("extra.")})
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), y), "outputs differ"
    same = blob == ref_blob
    print("%s: OK (%d tensors, metadata %s; byte-identical to the torch-written file: %s)"
          % (path, len(tensors), metadata, same))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
    elif len(sys.argv) == 1:
        write_refs()
    else:
        sys.exit(__doc__)
