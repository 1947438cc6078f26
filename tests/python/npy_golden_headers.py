#!/usr/bin/env python3
"""Reports what NumPy itself writes and accepts as `.npy` headers.

ndmmap's header unit tests (`src/npy/header.rs`, `numpy_*` tests) run this
script and compare NumPy's answers with the Rust writer and parser byte for
byte.  The output is plain tab-separated lines so that the Rust side needs no
JSON parser.

Usage: npy_golden_headers.py write | read

`write` prints one line per (dtype, shape, order) case:

    W <descr> <C|F> <shape as comma-separated ints, empty for ()> <header hex>

where <header hex> is exactly the bytes NumPy puts before the array data.
Small arrays go through `np.save` itself; huge shapes (which cannot be
allocated) go through `_write_array_header`, the function `np.save` calls,
and the script checks on the small cases that both give the same bytes.

`read` prints one line per hand-made file prefix:

    R <case name> <max_header_size> <file hex> OK <descr> <C|F> <shape>
    R <case name> <max_header_size> <file hex> ERR <exception type>

The verdict is NumPy's header reader (`read_magic`, then
`_read_array_header`), followed by `np.load` on the file padded with zeroed
data when the shape is small enough, so that headers NumPy's header reader
lets through but `np.load` then rejects (negative dims, `True` in a shape)
count as rejected.
"""

import io
import sys
import warnings

import numpy as np

try:  # NumPy >= 2.0 keeps the implementation in a private module.
    from numpy.lib import _format_impl as fmt
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.lib import format as fmt

# Every element type ndmmap maps, in both byte orders ('|' types have none).
DTYPES = [
    "|b1", "|i1", "|u1",
    "<i2", ">i2", "<i4", ">i4", "<i8", ">i8",
    "<u2", ">u2", "<u4", ">u4", "<u8", ">u8",
    "<f2", ">f2", "<f4", ">f4", "<f8", ">f8",
    "<c8", ">c8", "<c16", ">c16",
]

SHAPES = [
    (), (0,), (1,), (5,), (3, 0, 2), (2, 3), (0, 5), (3, 4), (2, 3, 4),
    (1, 1, 1, 1, 1, 1, 1, 1), (7, 1, 9, 2, 3),
]

# Shapes too large to allocate: header only, through `_write_array_header`.
HUGE_SHAPES = [
    (10**12, 3), (3, 10**12), (2**63 - 1,), (10**19, 0), (0, 10**19),
    (12345678901234567890,), (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
    # Long non-growth axes push the header over 128 bytes to 192 (and
    # exercise the 1-space / 64-space alignment edge).
    (1, 10**18, 10**18, 10**18),
    (1, 10**18, 10**18, 10**18, 10**18),
    (10**18, 10**18, 10**18, 10**18, 10**18, 10**18, 10**18),
    (1,) * 40,
    (9,) * 64,
    # More than 65535 bytes of header: NumPy switches to version 2.0.
    (1,) * 22000,
]
# Header lengths in steps of 3 bytes cross every residue modulo 64, so the alignment padding
# takes every value from 1 to 64, and the growth axis takes every digit count.
HUGE_SHAPES += [(1,) * n for n in range(1, 65)]
HUGE_SHAPES += [(10**i,) + (1,) * 8 + (10**i,) for i in range(20)]


def hexs(b):
    return b.hex()


def shape_field(shape):
    return ",".join(str(d) for d in shape)


def header_via_save(dtype, shape, order):
    arr = np.zeros(shape, dtype=dtype, order=order)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.save(buf, arr)
    data = buf.getvalue()
    prefix = data[: len(data) - arr.nbytes]
    # What np.save decided for fortran_order: only F-contiguous arrays that
    # are not also C-contiguous are saved in Fortran order.
    fortran = arr.flags.f_contiguous and not arr.flags.c_contiguous
    direct = header_via_function(dtype, shape, fortran)
    if direct != prefix:
        raise SystemExit(f"np.save and _write_array_header disagree for {dtype} {shape}")
    return fortran, prefix


def header_via_function(dtype, shape, fortran):
    d = {
        "descr": fmt.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": fortran,
        "shape": shape,
    }
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt._write_array_header(buf, d, None)
    return buf.getvalue()


def cmd_write(out):
    for dtype in DTYPES:
        # NumPy normalises the descr ('<u1' -> '|u1'); print what it wrote.
        descr = np.dtype(dtype).str
        for shape in SHAPES:
            for order in "CF":
                fortran, header = header_via_save(dtype, shape, order)
                out.write(f"W\t{descr}\t{'F' if fortran else 'C'}\t{shape_field(shape)}\t{hexs(header)}\n")
    for dtype in ["<f8", "|u1", ">c16"]:
        descr = np.dtype(dtype).str
        for shape in HUGE_SHAPES:
            for fortran in (False, True):
                header = header_via_function(dtype, shape, fortran)
                out.write(f"W\t{descr}\t{'F' if fortran else 'C'}\t{shape_field(shape)}\t{hexs(header)}\n")


def npy(text, version=(1, 0), pad_to=None, newline=True):
    """A file prefix whose header is `text` (latin-1/UTF-8 per version)."""
    enc = "utf8" if version == (3, 0) else "latin1"
    body = text.encode(enc) if isinstance(text, str) else text
    if newline:
        body += b"\n"
    lenfmt = 2 if version == (1, 0) else 4
    if pad_to is not None:
        # Pad with spaces before the newline so that the data starts at a
        # multiple of `pad_to`, like NumPy < 1.14 (16) or >= 1.14 (64).
        total = 8 + lenfmt + len(body)
        extra = (-total) % pad_to
        body = body[:-1] + b" " * extra + b"\n" if newline else body + b" " * extra
    return b"\x93NUMPY" + bytes(version) + len(body).to_bytes(lenfmt, "little") + body


def canonical(descr="'<f8'", fortran="False", shape="(2, 3)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def read_cases():
    c = []
    add = lambda name, data, limit=10000: c.append((name, data, limit))
    good = canonical()
    for v in [(1, 0), (2, 0), (3, 0)]:
        tag = f"v{v[0]}"
        add(f"{tag} canonical 64-aligned", npy(good + " " * 20, v, 64))
        add(f"{tag} 16-aligned legacy", npy(good, v, 16))
        add(f"{tag} no padding", npy(good, v))
        add(f"{tag} no newline", npy(good, v, newline=False))
        add(f"{tag} 2L long ints", npy(canonical(shape="(2L, 3L)"), v, 64))
        add(f"{tag} 2 L spaced long int", npy(canonical(shape="(2 L, 3)"), v, 64))
    # Leniency (section 2.8 of the reference).
    add("no trailing comma", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", pad_to=64))
    add("double quotes", npy('{"descr": "<f8", "fortran_order": True, "shape": (2, 3), }', pad_to=64))
    add("key order", npy("{'shape': (4,), 'descr': '|u1', 'fortran_order': False}", pad_to=64))
    add("whitespace everywhere", npy("\t {\n'descr' :\t'<i4' ,\r\n 'fortran_order'\x0c: False,'shape':( 1 ,2 , ) , }\r\n", pad_to=64))
    add("leading newline", npy("\n" + good, pad_to=64))
    add("comment", npy("{'descr': '<f8', # the dtype\n 'fortran_order': False, 'shape': (2,)}", pad_to=64))
    add("u prefix", npy("{u'descr': u'<f8', 'fortran_order': False, 'shape': (2,)}", pad_to=64))
    add("duplicate key last wins", npy("{'descr': 'xx', 'descr': '>i2', 'fortran_order': False, 'shape': (2,)}", pad_to=64))
    add("nested parens", npy(canonical(shape="((2), (3))"), pad_to=64))
    add("parenthesised tuple", npy(canonical(shape="((2, 3))"), pad_to=64))
    add("underscore int", npy(canonical(shape="(1_0, 3)"), pad_to=64))
    add("hex int", npy(canonical(shape="(0x10, 0o7, 0b11)"), pad_to=64))
    add("zero zero", npy(canonical(shape="(00, 3)"), pad_to=64))
    add("minus zero", npy(canonical(shape="(-0, 3)"), pad_to=64))
    add("plus int", npy(canonical(shape="(+2, 3)"), pad_to=64))
    add("0-d", npy(canonical(shape="()"), pad_to=64))
    add("1-tuple", npy(canonical(shape="(5,)"), pad_to=64))
    add("empty tuple with space", npy(canonical(shape="( )"), pad_to=64))
    add("equals order", npy(canonical(descr="'=f8'"), pad_to=64))
    add("no order", npy(canonical(descr="'f8'"), pad_to=64))
    add("pipe on f8", npy(canonical(descr="'|f8'"), pad_to=64))
    add("less on u1", npy(canonical(descr="'<u1'"), pad_to=64))
    add("greater on b1", npy(canonical(descr="'>b1'"), pad_to=64))
    add("big endian f2", npy(canonical(descr="'>f2'"), pad_to=64))
    add("zero-padded size", npy(canonical(descr="'<i08'"), pad_to=64))
    add("trailing data", npy(good, pad_to=64) + b"\x00" * 200)
    add("exactly at limit", npy(good, pad_to=64), 118)
    # 62 bytes but 60 characters (with the newline): NumPy's limit counts characters.
    add("utf8 comment under char limit", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} #" + "\u00e9" * 2, (3, 0)), 60)
    add("utf8 comment over char limit", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} #" + "\u00e9" * 2, (3, 0)), 59)
    add("latin1 comment in v1", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} #\u00e9\u00ff", pad_to=64))
    # Python's parser allows 200 nested brackets; the dict is one of them.
    add("nesting 200", npy(canonical(shape="(" * 198 + "(2, 3)" + ")" * 198), pad_to=64))
    add("nesting 201", npy(canonical(shape="(" * 199 + "(2, 3)" + ")" * 199), pad_to=64))
    # Strictness.
    add("bad magic", b"\x93NUMPX\x01\x00" + npy(good, pad_to=64)[8:])
    add("version 1.1", b"\x93NUMPY\x01\x01" + npy(good, pad_to=64)[8:])
    add("version 4.0", b"\x93NUMPY\x04\x00" + npy(good, pad_to=64)[8:])
    add("over limit", npy(good, pad_to=64), 117)
    add("not a dict", npy("[1, 2]", pad_to=64))
    add("set literal", npy("{'descr', 'shape'}", pad_to=64))
    add("missing key", npy("{'descr': '<f8', 'shape': (2,)}", pad_to=64))
    add("extra key", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}", pad_to=64))
    add("int key", npy("{'descr': '<f8', 'fortran_order': False, 1: (2,)}", pad_to=64))
    add("shape list", npy(canonical(shape="[2, 3]"), pad_to=64))
    add("shape int", npy(canonical(shape="2"), pad_to=64))
    add("shape float", npy(canonical(shape="(2.0, 3)"), pad_to=64))
    add("shape negative", npy(canonical(shape="(-1, 3)"), pad_to=64))
    add("shape bool", npy(canonical(shape="(True, 3)"), pad_to=64))
    add("shape string", npy(canonical(shape="('2', 3)"), pad_to=64))
    add("shape huge", npy(canonical(shape="(100000000000000000000, 1)"), pad_to=64))
    add("fortran 0", npy(canonical(fortran="0"), pad_to=64))
    add("fortran lowercase", npy(canonical(fortran="false"), pad_to=64))
    add("fortran string", npy(canonical(fortran="'False'"), pad_to=64))
    add("descr bad", npy(canonical(descr="'xx'"), pad_to=64))
    add("descr i3", npy(canonical(descr="'<i3'"), pad_to=64))
    add("descr F8", npy(canonical(descr="'<F8'"), pad_to=64))
    add("descr int", npy(canonical(descr="8"), pad_to=64))
    add("descr bytes", npy(canonical(descr="b'<f8'"), pad_to=64))
    add("NUL padding", npy(good, pad_to=None) [:-1] + b"\x00" * 10 + b"\n")
    add("leading zero int", npy(canonical(shape="(02, 3)"), pad_to=64))
    add("double sign", npy(canonical(shape="(--2, 3)"), pad_to=64))
    add("unclosed", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,", pad_to=64))
    add("2L in v3", npy(canonical(shape="(2L, 3)"), (3, 0), 64))
    add("lowercase l", npy(canonical(shape="(2l, 3)"), pad_to=64))
    add("latin1 in v1 string", npy(canonical(descr="'<f8\u00e9'"), pad_to=64))
    add("v3 invalid utf8", npy(canonical().encode() + b"\xff", (3, 0), 64))
    add("vertical tab", npy("\x0b" + good, pad_to=64))
    add("empty header", npy(b"", newline=False))
    add("truncated header", npy(good, pad_to=64)[:60])
    add("truncated length", npy(good, pad_to=64)[:9])
    add("truncated magic", npy(good, pad_to=64)[:5])
    # Valid dtypes ndmmap does not map: must be rejected by ndmmap, and are
    # listed here so the Rust test can check it rejects them for the right
    # reason (NumPy accepts them).
    for d in ["'<f16'", "'<c32'", "'|S7'", "'<U3'", "'|V12'", "'|O'", "'<M8[ns]'", "'<m8[s]'",
              "[('a', '<i4'), ('b', '>f8')]", "('<i4', (2,))", "'?'", "'float64'", "'<f+8'",
              "'\\x3cf8'", "'<' 'f8'"]:
        add(f"descr {d}", npy(canonical(descr=d), pad_to=64))
    return c


def verdict(data, limit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fp = io.BytesIO(data)
            version = fmt.read_magic(fp)
            fmt._check_version(version)
            shape, fortran, dtype = fmt._read_array_header(fp, version, max_header_size=limit)
            offset = fp.tell()
            if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
                raise TypeError("np.load would fail on this shape")
            count = 1
            for d in shape:
                count *= d
            if count * dtype.itemsize < 10**6:
                # The real loader, on the file padded with zeroed data.
                full = data[:offset] + b"\x00" * (count * dtype.itemsize)
                np.load(io.BytesIO(full), allow_pickle=False, max_header_size=limit)
        except Exception as e:  # noqa: BLE001 - every failure is a verdict
            return f"ERR\t{type(e).__name__}"
    return f"OK\t{dtype.str}\t{'F' if fortran else 'C'}\t{shape_field(shape)}"


def cmd_read(out):
    for name, data, limit in read_cases():
        out.write(f"R\t{name}\t{limit}\t{hexs(data)}\t{verdict(data, limit)}\n")


def main():
    cmds = {"write": cmd_write, "read": cmd_read}
    if len(sys.argv) != 2 or sys.argv[1] not in cmds:
        raise SystemExit("usage: npy_golden_headers.py write|read")
    cmds[sys.argv[1]](sys.stdout)


if __name__ == "__main__":
    main()
