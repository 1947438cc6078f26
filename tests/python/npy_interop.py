#!/usr/bin/env python3
"""NumPy's side of the `.npy` interop tests (`tests/it/npy/`).

The Rust tests run this script with real NumPy and read or write real files;
nothing is mocked.  Output is plain tab-separated lines so that the Rust side
needs no JSON parser.  Every failure exits non-zero with a message on stderr,
so that the Rust test (which asserts the exit status) fails with it.

Usage:

    npy_interop.py write DIR
        np.save one file per case into DIR: every dtype ndmmap supports, in
        both byte orders, C and Fortran order, shapes (), (0,), (3, 0, 2),
        (2, 3), (2, 3, 4), ... and one large leading axis.  Next to each
        `<name>.npy` it writes `<name>.bin`: the expected values in logical C
        order and native byte order (plain `tobytes`, not through `.npy`), so
        the Rust side can check every element.  Prints one line per case:

            <name> TAB <descr> TAB <C|F> TAB <shape, comma-separated>

        <C|F> is the order the array was made in; the header says Fortran
        only if the array is Fortran- but not C-contiguous (as np.save
        decides), which Rust checks with `inspect`.

    npy_interop.py check MANIFEST
        MANIFEST has one line per file ndmmap wrote:

            <npy path> TAB <bin path> TAB <descr> TAB <C|F> TAB <shape>

        For each, np.load(path, mmap_mode='r') must give the values in the
        .bin, and the file's bytes must equal what np.save writes for the same
        array in the same memory order (np.array(values, order=C|F)).  Mismatches are reported with a hexdump of the first
        differing bytes; all lines are checked before exiting.  Prints
        `checked N`.

    npy_interop.py live PATH BIN DESCR SHAPE
        One file that a live ndmmap map is writing: np.load(mmap_mode='r')
        and np.load (a plain read) must both give the values in BIN.
"""

import io
import os
import sys

import numpy as np

# Every element type ndmmap supports, in both byte orders ('|' types have none).
DTYPES = [
    "|b1", "|i1", "|u1",
    "<i2", ">i2", "<i4", ">i4", "<i8", ">i8",
    "<u2", ">u2", "<u4", ">u4", "<u8", ">u8",
    "<f2", ">f2", "<f4", ">f4", "<f8", ">f8",
    "<c8", ">c8", "<c16", ">c16",
]

SHAPES = [(), (0,), (5,), (3, 0, 2), (2, 3), (1, 3), (3, 1), (2, 3, 4), (2, 1, 3)]

# The large leading axis, for a few dtypes only, to keep the files small (~7 MB in all).
LARGE = (100000, 3)
LARGE_DTYPES = ["|u1", "|b1", "<i2", ">i2"]


def values(dtype, shape):
    """Known values, different at every index (modulo the type's range)."""
    n = int(np.prod(shape, dtype=np.int64))
    k = np.arange(n, dtype=np.int64)
    kind = dtype.kind
    if kind == "b":
        out = (k % 2 == 0) ^ (k % 7 == 3)  # alternating, with a twist
    elif kind in "iu":
        bits = dtype.itemsize * 8
        raw = (k * 2654435761 + 12345) % (1 << min(bits, 62))
        if kind == "i":
            raw = raw - (1 << (min(bits, 62) - 1))
        out = raw.astype(dtype.newbyteorder("="))
    elif kind == "f":
        out = (k * 0.5 - 3.25).astype(dtype.newbyteorder("="))
    else:  # complex: distinct imaginary parts
        out = (k * 1.5 + 1j * (-0.25 - 2.0 * k)).astype(dtype.newbyteorder("="))
    return out.reshape(shape)


def name_of(descr, shape, order):
    code = {"<": "le", ">": "be", "|": "na"}[descr[0]] + "_" + descr[1:]
    dims = "x".join(map(str, shape)) if shape else "scalar"
    return f"{code}_{dims}_{order}"


def shape_field(shape):
    return ",".join(map(str, shape))


def parse_shape(field):
    return tuple(int(s) for s in field.split(",") if s)


def cmd_write(out_dir):
    cases = [(d, s) for d in DTYPES for s in SHAPES]
    cases += [(d, LARGE) for d in LARGE_DTYPES]
    lines = []
    for descr, shape in cases:
        dtype = np.dtype(descr)
        expected = values(dtype, shape)
        for order in "CF":
            name = name_of(descr, shape, order)
            arr = np.array(expected, dtype=dtype, order=order)
            assert arr.dtype.str == descr or descr[0] == "|", (arr.dtype.str, descr)
            np.save(os.path.join(out_dir, name + ".npy"), arr)
            native = np.ascontiguousarray(expected, dtype=dtype.newbyteorder("="))
            with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
                f.write(native.tobytes(order="C"))
            lines.append(f"{name}\t{descr}\t{order}\t{shape_field(shape)}")
    print("\n".join(lines))


def hexdump(data, start, count=64):
    rows = []
    for off in range(start - start % 16, min(len(data), start + count), 16):
        chunk = data[off:off + 16]
        rows.append(f"  {off:08x}  {chunk.hex(' ')}")
    return "\n".join(rows) if rows else "  (no bytes)"


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def expected_array(bin_path, descr, shape):
    dtype = np.dtype(descr)
    with open(bin_path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw, dtype=dtype.newbyteorder("=")).astype(dtype).reshape(shape)


def check_one(npy_path, bin_path, descr, order, shape):
    """Returns a list of problems (empty if the file is right)."""
    problems = []
    expected = expected_array(bin_path, descr, shape)
    loaded = np.load(npy_path, mmap_mode="r")
    if loaded.dtype != expected.dtype:
        problems.append(f"dtype {loaded.dtype.str}, expected {expected.dtype.str}")
    if loaded.shape != expected.shape:
        problems.append(f"shape {loaded.shape}, expected {expected.shape}")
    elif not np.array_equal(loaded, expected):
        bad = np.argwhere(loaded != expected)[:3].tolist()
        problems.append(f"values differ at {bad}")
    if isinstance(loaded, np.memmap):
        loaded._mmap.close()  # release the map before comparing bytes
    del loaded
    # np.array keeps 0-d arrays 0-d (asfortranarray would make them 1-d).
    same = np.array(expected, order=order)
    buf = io.BytesIO()
    np.save(buf, same)
    want = buf.getvalue()
    with open(npy_path, "rb") as f:
        got = f.read()
    if got != want:
        at = first_difference(got, want)
        problems.append(
            f"bytes differ from np.save's ({len(got)} vs {len(want)} bytes) "
            f"first at byte {at}:\n ndmmap:\n{hexdump(got, at)}\n np.save:\n{hexdump(want, at)}"
        )
    return problems


def cmd_check(manifest):
    failures = []
    count = 0
    with open(manifest) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            npy_path, bin_path, descr, order, shape = line.split("\t")
            problems = check_one(npy_path, bin_path, descr, order, parse_shape(shape))
            count += 1
            if problems:
                failures.append(f"{npy_path} ({descr} {order} {shape}):\n  " + "\n  ".join(problems))
    if failures:
        sys.stderr.write(f"{len(failures)} of {count} files are wrong:\n" + "\n".join(failures) + "\n")
        sys.exit(1)
    print(f"checked {count}")


def cmd_live(npy_path, bin_path, descr, shape):
    expected = expected_array(bin_path, descr, parse_shape(shape))
    mapped = np.load(npy_path, mmap_mode="r")
    read = np.load(npy_path)
    for how, arr in (("mmap_mode='r'", mapped), ("a plain read", read)):
        if arr.shape != expected.shape or not np.array_equal(arr, expected):
            sys.exit(f"{npy_path} through {how}: {arr!r}, expected {expected!r}")
    print("live ok")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        cmd_write(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        cmd_check(sys.argv[2])
    elif len(sys.argv) == 6 and sys.argv[1] == "live":
        cmd_live(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
