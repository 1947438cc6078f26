"""NumPy's side of tests/it/records.rs: structured .npy fixtures, and checks of ndmmap's files.

    records_interop.py write DIR     writes the fixtures (np.save, np.savez) into DIR
    records_interop.py check DIR     checks the files ndmmap wrote into DIR: loads them with np.load
                             and compares values, and compares bytes with np.save's
"""
import sys

import numpy as np

POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("id", "<i8")])
ALIGNED = np.dtype([("a", "u1"), ("b", "<f8")], align=True)
INNER = np.dtype([("a", "u1"), ("b", "<i4")], align=True)
NESTED = np.dtype([("p", INNER), ("pos", "<f4", (3,)), ("m", "<f8", (2, 2))], align=True)
TRAILING = np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"], "offsets": [0, 8], "itemsize": 24})
BIG = np.dtype([("a", ">i4"), ("b", "<f4")])
# NumPy's default dtypes are packed: no padding, fields at any offset.
SAMPLE = np.dtype([("t", "<f8"), ("x", "<f4"), ("y", "<f4"), ("id", "<u4")])
MIXED = np.dtype([("a", "u1"), ("b", "<f8")])
PACKED_NESTED = np.dtype([("flag", "u1"), ("p", MIXED), ("pos", "<f4", (3,)), ("c", "<i2")])


def points(shape, order="C"):
    """Record i (flat C index): x = i + 0.5, y = -i, id = 1000 + i."""
    n = int(np.prod(shape))
    a = np.zeros(n, POINT)
    i = np.arange(n)
    a["x"], a["y"], a["id"] = i + 0.5, -i, 1000 + i
    return np.asarray(a.reshape(shape), order=order)


def aligned(n):
    """a = i % 256, b = i * 0.25."""
    a = np.zeros(n, ALIGNED)
    a["a"], a["b"] = np.arange(n) % 256, np.arange(n) * 0.25
    return a


def nested(n):
    """p.a = i, p.b = -i, pos = (i, i + 1, i + 2), m = [[i, 2i], [3i, 4i]]."""
    a = np.zeros(n, NESTED)
    i = np.arange(n)
    a["p"]["a"], a["p"]["b"] = i, -i
    a["pos"] = i[:, None] + np.arange(3)
    a["m"] = i[:, None, None] * np.array([[1, 2], [3, 4]])
    return a


def trailing(n):
    """a = i, b = -i / 2."""
    a = np.zeros(n, TRAILING)
    a["a"], a["b"] = np.arange(n), -np.arange(n) / 2
    return a


def big(n):
    """a = i * 3 (big-endian), b = i."""
    a = np.zeros(n, BIG)
    a["a"], a["b"] = np.arange(n) * 3, np.arange(n)
    return a


def samples(n):
    """t = i / 2, x = i, y = -i, id = 100 + i (20-byte packed records)."""
    a = np.zeros(n, SAMPLE)
    i = np.arange(n)
    a["t"], a["x"], a["y"], a["id"] = i / 2, i, -i, 100 + i
    return a


def mixed(n):
    """a = i % 256, b = i * 0.25 (9-byte packed records)."""
    a = np.zeros(n, MIXED)
    a["a"], a["b"] = np.arange(n) % 256, np.arange(n) * 0.25
    return a


def packed_nested(n):
    """flag = i, p.a = 2i, p.b = -1.5i, pos = (i, i + 1, i + 2), c = -i (24 bytes, packed)."""
    a = np.zeros(n, PACKED_NESTED)
    i = np.arange(n)
    a["flag"], a["p"]["a"], a["p"]["b"] = i, 2 * i, -1.5 * i
    a["pos"] = i[:, None] + np.arange(3)
    a["c"] = -i
    return a


FIXTURES = {
    "points.npy": lambda: points((5,)),
    "points_2d.npy": lambda: points((3, 4)),
    "points_f.npy": lambda: points((3, 4), "F"),
    "points_0d.npy": lambda: points(()),
    "points_empty.npy": lambda: points((0, 3)),
    "aligned.npy": lambda: aligned(6),
    "nested.npy": lambda: nested(4),
    "trailing.npy": lambda: trailing(3),
    "big.npy": lambda: big(4),
    "samples.npy": lambda: samples(5),
    "mixed.npy": lambda: mixed(7),
    "packed_nested.npy": lambda: packed_nested(3),
}


def write(folder):
    for name, make in FIXTURES.items():
        np.save(f"{folder}/{name}", make())
    np.savez(f"{folder}/records.npz", points=points((5,)), nested=nested(4), mixed=mixed(7))
    print(f"wrote {len(FIXTURES) + 1}")


def check(folder):
    """ndmmap wrote FIXTURES' arrays under the same names (and grown.npy: points((7,)))."""
    expected = dict(FIXTURES)
    expected.pop("big.npy")  # ndmmap writes native records only
    expected["grown.npy"] = lambda: points((7,))
    expected["created.npy"] = lambda: points((2, 3))
    for name, make in expected.items():
        want = make()
        got = np.load(f"{folder}/{name}", mmap_mode="r")
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        assert np.array_equal(got, want), name
        if name not in ("grown.npy", "created.npy"):
            import io

            buf = io.BytesIO()
            np.save(buf, want)
            with open(f"{folder}/{name}", "rb") as f:
                ours, theirs = f.read(), buf.getvalue()
            at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
            assert ours == theirs, f"{name} differs from np.save at byte {at}: {ours[at - 8:at + 8]!r} vs {theirs[at - 8:at + 8]!r} (lengths {len(ours)}, {len(theirs)})"
    print(f"checked {len(expected)}")


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
