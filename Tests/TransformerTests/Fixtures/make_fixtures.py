#!/usr/bin/env python3
"""Builds the GGUF test fixtures with gguf-py's reference (de)quantisers.

    python3 -m pip install gguf numpy
    python3 Tests/TransformerTests/Fixtures/make_fixtures.py

types.gguf.bin holds (GGUF test data; named .bin so that no tool mistakes it for a model), for every supported tensor type T (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), shape [4, 256] (ggml ne = {256, 4}):
  T.rnd      random block bytes (f16 scale fields kept finite and moderate), stored as type T
  T.rnd.deq  gguf-py's dequantisation of T.rnd, F32
and, for the types gguf-py can quantise (F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0):
  T.src      F32 source values (random, plus edge-case blocks: zeros, a constant, ties, one huge value)
  T.q        gguf-py's quantisation of T.src, stored as type T
  T.q.deq    gguf-py's dequantisation of T.q, F32
metadata.gguf.bin holds one key of every value type (see GGUFFixtureTests.swift) and two tiny tensors.
The outputs are deterministic (fixed seed) and committed; rerun only to change them.
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS, COLS = 4, 256

# Byte offsets of the f16 scale fields inside one block, per type.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
QUANTISABLE = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
ALL = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]


def source(rng):
    x = (rng.standard_normal((ROWS, COLS)) * 0.5).astype(np.float32)
    x[1] *= np.float32(100.0)                      # a row of larger values
    x[2, 0:32] = 0                                 # an all-zero block
    x[2, 32:64] = np.float32(0.75)                 # a constant block
    x[2, 64:96] = np.arange(-16, 16, dtype=np.float32) * np.float32(0.5)  # exact ties for rounding
    x[2, 96:128] = rng.integers(-8, 8, 32).astype(np.float32)
    x[3, 7] = np.float32(3000.0)                   # one outlier
    x[3, 40] = np.float32(-1e-3)                   # a tiny negative max block neighbour
    return x


def random_blocks(rng, qtype):
    block, size = GGML_QUANT_SIZES[qtype]
    nblocks = ROWS * COLS // block
    raw = rng.integers(0, 256, (nblocks, size), dtype=np.uint8)
    for off in F16_FIELDS.get(qtype, []):
        vals = (rng.standard_normal(nblocks) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = vals.view(np.uint8).reshape(nblocks, 2)
    return raw.reshape(ROWS, -1)


def dequant(data, qtype):
    if qtype == T.F32:
        return data.view(np.float32).reshape(ROWS, COLS)
    if qtype == T.F16:
        return data.view(np.float16).astype(np.float32).reshape(ROWS, COLS)
    return quants.dequantize(data, qtype).astype(np.float32).reshape(ROWS, COLS)


def write_types(path):
    rng = np.random.default_rng(20240604)
    w = gguf.GGUFWriter(path, "fixture")
    for qtype in ALL:
        name = qtype.name
        if qtype in (T.F32, T.F16, T.BF16):
            # Plain types: random bit patterns of finite values.
            rnd = (rng.standard_normal((ROWS, COLS)) * 10).astype(np.float32)
            if qtype == T.F16:
                rnd = rnd.astype(np.float16).view(np.uint8).reshape(ROWS, -1)
            elif qtype == T.BF16:
                rnd = (rnd.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(ROWS, -1)
            else:
                rnd = rnd.view(np.uint8).reshape(ROWS, -1)
        else:
            rnd = random_blocks(rng, qtype)
        w.add_tensor(f"{name}.rnd", rnd, raw_dtype=qtype)
        w.add_tensor(f"{name}.rnd.deq", dequant(rnd, qtype))
        if qtype in QUANTISABLE:
            src = source(rng)
            q = quants.quantize(src, qtype)
            q = np.ascontiguousarray(q).view(np.uint8).reshape(ROWS, -1)
            w.add_tensor(f"{name}.src", src)
            w.add_tensor(f"{name}.q", q, raw_dtype=qtype)
            w.add_tensor(f"{name}.q.deq", dequant(q, qtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_metadata(path):
    w = gguf.GGUFWriter(path, "fixture")
    V = gguf.GGUFValueType
    w.add_key_value("t.u8", 200, V.UINT8)
    w.add_key_value("t.i8", -100, V.INT8)
    w.add_key_value("t.u16", 60000, V.UINT16)
    w.add_key_value("t.i16", -30000, V.INT16)
    w.add_key_value("t.u32", 4000000000, V.UINT32)
    w.add_key_value("t.i32", -2000000000, V.INT32)
    w.add_key_value("t.u64", 18000000000000000000, V.UINT64)
    w.add_key_value("t.i64", -9000000000000000000, V.INT64)
    w.add_key_value("t.f32", 0.125, V.FLOAT32)
    w.add_key_value("t.f64", -2.5e-300, V.FLOAT64)
    w.add_key_value("t.bool", True, V.BOOL)
    w.add_key_value("t.str", "héllo wörld ✓", V.STRING)
    w.add_key_value("t.empty", "", V.STRING)
    w.add_array("t.strs", ["a", "", "Ġthe", "<|im_start|>"])
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, -1.0])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_key_value("t.u8s", [1, 2, 255], V.ARRAY, V.UINT8)
    w.add_key_value("t.bools", [True, False], V.ARRAY, V.BOOL)
    w.add_tensor("w", np.arange(64, dtype=np.float32).reshape(2, 32))
    w.add_tensor("v", np.arange(3, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    write_types(os.path.join(HERE, "types.gguf.bin"))
    write_metadata(os.path.join(HERE, "metadata.gguf.bin"))
    for f in ("types.gguf.bin", "metadata.gguf.bin"):
        print(f, os.path.getsize(os.path.join(HERE, f)), "bytes")
