#!/usr/bin/env python3
"""Python's side of the `.safetensors` interop tests (`tests/it/safetensors.rs`), through the
`safetensors` package's NumPy API.

Usage:

    safetensors_interop.py write DIR
        safetensors.numpy.save_file(ARRAYS, DIR/python.safetensors, metadata=METADATA).
        The Rust side builds the same values on its own.

    safetensors_interop.py check PATH METADATA_JSON NAME=EXPR ...
        The file must load (with load_file, with load from its bytes, and tensor by tensor
        with safe_open) to exactly the tensors NAME..., each equal (values, dtype, shape) to
        the NumPy expression EXPR, and its metadata must be METADATA_JSON (`null` for none).
        Prints `checked N`.

Every failure exits non-zero with a message on stderr.
"""

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load, load_file, save_file

ARRAYS = {
    "f32": "np.arange(6, dtype='<f4').reshape(2, 3) / 4",
    "f16": "np.array([0.5, -2.0, 65504.0, 2.0**-24], dtype='<f2')",
    "f64": "np.linspace(0, 1, 5, dtype='<f8')",
    "i64": "np.array([[-(2**62), 0], [1, 2**62]], dtype='<i8')",
    "u64": "np.array([2**64 - 1, 7], dtype='<u8')",
    "i32": "np.arange(-3, 3, dtype='<i4').reshape(3, 2)",
    "u32": "np.array([4000000000], dtype='<u4')",
    "i16": "np.array([-300, 300], dtype='<i2')",
    "u16": "np.array([65535, 1, 2], dtype='<u2')",
    "i8": "np.array([-128, 127], dtype='|i1')",
    "u8": "np.arange(7, dtype='|u1')",
    "mask": "np.array([[True, False, True], [False, False, True]])",
    "scalar": "np.array(2.5, dtype='<f8')",
    "empty": "np.zeros((0, 3), dtype='<f4')",
    "cplx": "np.array([1 + 2j, -3.5j], dtype='<c8')",
}

METADATA = {"framework": "numpy", "note": "caf\u00e9 \"quoted\""}


def build(expr):
    return eval(expr, {"np": np})


def compare(where, got, want):
    if got.dtype != want.dtype or got.shape != want.shape:
        sys.exit(f"{where}: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
    if not np.array_equal(got, want):
        sys.exit(f"{where}: {got!r}, expected {want!r}")


def main(argv):
    if argv[1] == "write":
        arrays = {name: build(expr) for name, expr in ARRAYS.items()}
        save_file(arrays, f"{argv[2]}/python.safetensors", metadata=METADATA)
        print("wrote", len(arrays))
        return 0
    if argv[1] == "check":
        path, metadata, specs = argv[2], json.loads(argv[3]), argv[4:]
        expected = {name: build(expr) for name, expr in (s.split("=", 1) for s in specs)}
        with open(path, "rb") as f:
            from_bytes = load(f.read())
        for how, loaded in (("load_file", load_file(path)), ("load", from_bytes)):
            if sorted(loaded) != sorted(expected):
                sys.exit(f"{path} ({how}): tensors {sorted(loaded)}, expected {sorted(expected)}")
            for name, want in expected.items():
                compare(f"{path}[{name}] ({how})", loaded[name], want)
        with safe_open(path, framework="numpy") as f:
            if f.metadata() != metadata:
                sys.exit(f"{path}: metadata {f.metadata()!r}, expected {metadata!r}")
            for name, want in expected.items():
                compare(f"{path}[{name}] (get_tensor)", f.get_tensor(name), want)
        print("checked", len(expected))
        return 0
    sys.exit(f"unknown command {argv[1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
