#!/usr/bin/env python3
"""NumPy's side of the `.npz` interop tests (`tests/it/npz.rs`).

Usage:

    npz_interop.py write DIR
        np.savez DIR/numpy.npz and np.savez_compressed DIR/numpy_compressed.npz, both
        holding the arrays of ARRAYS below (the Rust side builds the same values).

    npz_interop.py check PATH NAME=EXPR ...
        np.load(PATH) must hold exactly the members NAME..., each equal (values, dtype,
        shape and memory order) to the NumPy expression EXPR.  Prints `checked N`.

Every failure exits non-zero with a message on stderr.
"""

import sys

import numpy as np

# Member names are chosen so that, in NumPy's layout (30-byte local header, the name, a
# 20-byte ZIP64 extra field, a 128-byte .npy header), "ab" (the first member) has
# 8-byte-aligned data and later members do not all have: the Rust side checks both cases.
ARRAYS = {
    "ab": "np.arange(6, dtype='<f8').reshape(2, 3)",
    "ints": "np.arange(5, dtype='<i4')",
    "fortran": "np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3))",
    "scalar": "np.array(1.5)",
    "empty": "np.zeros((0, 3), dtype='<i8')",
    "bytes": "np.arange(7, dtype='|u1')",
    "flags": "np.array([True, False, True])",
    "big_endian": "np.arange(3, dtype='>i4')",
    "cplx": "np.array([1 + 2j, 3 - 4j], dtype='<c16')",
}


def build(expr):
    return eval(expr, {"np": np})


def main(argv):
    if argv[1] == "write":
        arrays = {name: build(expr) for name, expr in ARRAYS.items()}
        np.savez(f"{argv[2]}/numpy.npz", **arrays)
        np.savez_compressed(f"{argv[2]}/numpy_compressed.npz", **arrays)
        print("wrote", len(arrays))
        return 0
    if argv[1] == "check":
        path, specs = argv[2], argv[3:]
        with np.load(path) as archive:
            expected = dict(spec.split("=", 1) for spec in specs)
            if sorted(archive.files) != sorted(expected):
                sys.exit(f"{path}: members {sorted(archive.files)}, expected {sorted(expected)}")
            for name, expr in expected.items():
                want, got = build(expr), archive[name]
                if got.dtype != want.dtype or got.shape != want.shape:
                    sys.exit(f"{path}[{name}]: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
                if not np.array_equal(got, want):
                    sys.exit(f"{path}[{name}]: {got!r}, expected {want!r}")
                if want.ndim > 1 and got.flags.f_contiguous != want.flags.f_contiguous:
                    sys.exit(f"{path}[{name}]: memory order differs")
        print("checked", len(expected))
        return 0
    sys.exit(f"unknown command {argv[1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
