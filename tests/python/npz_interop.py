#!/usr/bin/env python3
"""NumPy's side of the `.npz` interop tests (`tests/it/npz.rs`).

Usage:

    npz_interop.py write DIR
        np.savez DIR/numpy.npz and np.savez_compressed DIR/numpy_compressed.npz, both
        holding the arrays of ARRAYS below (the Rust side builds the same values).

    npz_interop.py check PATH NAME=EXPR ...
        np.load(PATH) must hold exactly the members NAME..., each equal (values, dtype,
        shape and memory order) to the NumPy expression EXPR.  Prints `checked N`.

    interop.py records DIR
        np.savez DIR/records.npz (member "rec") and np.save DIR/records.npy, one array of
        records with big-endian float fields (">f4"); prints each record as `x y`.

    interop.py lookup PATH
        np.savez PATH with the keys "x.npy" (1, 2) and "x" (3, 4, 5); prints the archive's
        keys, then for each of "x.npy", "x" and "x.npy.npy" the key and what
        np.load(PATH)[key] returns.

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
    if argv[1] == "records":
        rec = np.array(
            [(1.5, -2.0), (3.25, 4.0), (-0.5, 1e30)], dtype=[("x", ">f4"), ("y", ">f4")]
        )
        np.savez(f"{argv[2]}/records.npz", rec=rec)
        np.save(f"{argv[2]}/records.npy", rec)
        for x, y in rec.tolist():
            print(repr(x), repr(y))
        return 0
    if argv[1] == "lookup":
        keyed = {"x.npy": np.array([1, 2], dtype="<i8"), "x": np.array([3, 4, 5], dtype="<i8")}
        np.savez(argv[2], **keyed)
        with np.load(argv[2]) as archive:
            print("keys", *archive.files)
            for key in ("x.npy", "x", "x.npy.npy"):
                print(key, *archive[key].tolist())
        return 0
    sys.exit(f"unknown command {argv[1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
