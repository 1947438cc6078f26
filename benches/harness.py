#!/usr/bin/env python3
"""ndmmap's benchmark harness: whole-file jobs by ndmmap and by NumPy and Dask, side by side
in one run on the same files, with the disk's own limit measured in the same run.

  python3 benches/harness.py regimes SIZE [options]   every job in every memory regime
  python3 benches/harness.py append TOTAL_MIB [options]  appending 1 MiB batches to a file
  python3 benches/harness.py --help | regimes --help | append --help

`regimes` builds ndmmap's side (`regime_job`, the `ndmmap-benches` package, --release) and
runs each job, in each memory regime, by each contender, as its own process:

  regimes    cached       inputs read once through the page cache just before the job
             cold         sync, then POSIX_FADV_DONTNEED on every input
             cold+capNNN  cold, and the job runs in a fresh cgroup v1 memory cgroup (a child
                          of this process's own, under /sys/fs/cgroup/memory) limited to NNN
                          MiB, page cache included; skipped, with a message, where there is
                          none or it is not writable (it needs root)
  contenders engine       ndmmap's out-of-core engine, ndmmap::chunked::Zip
             plain        plain ndarray (Zip::par_for_each, mean_axis, dot, ...) on ndmmap's maps
             numpy        np.load(mmap_mode='r') inputs, open_memmap outputs
             dask         dask.array.from_array(np.load(p, mmap_mode='r')), da.store into an
                          open_memmap (threaded scheduler). Since Dask 2024.12 (dask#11850)
                          from_array copies any array that has .copy(), a memmap included:
                          the inputs are read into RAM first
             dask-view    the same, with the map behind a wrapper that has no .copy() (as an
                          h5py or zarr array), so each chunk is a view of the map
  jobs       add          c = a + b, 1-D f64 inputs a.npy and b.npy of SIZE, c.npy created, flushed
             standardize  z = (x - mean) / std per column of x.npy, a C-order (SIZE / 8 / COLS,
                          COLS) f64 matrix: two passes, z created and flushed
             c2f          x copied into a new Fortran-order .npy, flushed
             gram         G = x^T x (COLS x COLS), saved
             stats        [sum; mean; var] along axis 0, saved
             matmul       x @ w into a new .npy (x: the matrix above; w: COLS x COLS, in
                          memory), flushed; --cols 64 for the 64-wide product
             cumsum       cumulative sums along axis 0 into a new .npy, flushed
             histogram    np.histogram of every element (1000 bins over (-300, 400)), saved
             gather       nanoGPT's batches: 20 batches of 64 windows of 1024 tokens at
                          hashed starts in t.npy, a uint16 token file of SIZE (NumPy: fancy
                          indexing, data[ix[:, None] + arange(1024)]; Dask: x[idx]); the time
                          is the gathers' alone. Its disk limit is 64 random reads at once:
                          O_DIRECT preads of the pages of one batch's windows on 64 threads
             filter       x[mask] of x.npy by the bool mask.npy (about half the rows) into a
                          new .npy (NumPy: np.save(y, x[mask]); Dask: da.store of x[mask])
             concat       a.npy, b.npy, a.npy, b.npy (the add's inputs) concatenated into a
                          new .npy of 4 x SIZE: ndmmap's chunked::concatenate of the files
                          (copy_file_range), plain ndarray assigning the maps into a
                          create_npy output, NumPy's np.concatenate(out=open_memmap), Dask's
                          da.concatenate stored into an open_memmap
             collect      c = a + b as `add`, but the engine writes c with par_map_collect_npy
                          (the file built from the results) where `add` runs par_for_each
                          into a create_npy output; the other contenders as in `add`

Before each round (and once after the last) it measures the disk: reads of the inputs with
O_DIRECT, through the page cache, and by populating a huge-page map of them (the engine's
own way to read out of core); writes of an output-sized probe with O_DIRECT and with plain
writes, each + fdatasync. The disk limit is the best way in each direction, median over the
probes, and each job's "disk-bound time" is what the disk alone needs for its reads (none
when cached) and writes. Each job times itself (not the interpreter's start or imports) and
reports its peak RSS; the harness adds its cgroup's peak (page cache included) and the share
of the inputs that was cached when it started (fincore), checks the output's values, and
prints a table of medians with ratios to NumPy, Dask and a plain Zip.

`append` times appending 1 MiB batches of 128-wide f32 rows until the file holds TOTAL_MIB:
dd's sequential write rate, ndmmap (examples/append.rs: .npy, .npy with
set_sync_on_grow(false), raw) and NumPy (open_memmap preallocated at the final size); every
job ends with its data on disk; the first round's files are checked with NumPy.

Paths come from arguments or the environment, never from this file: --dir (or
NDMMAP_BENCH_DIR) for the data, default a temporary folder removed at the end; --python (or
NDMMAP_PYTHON) for the Python with NumPy and Dask, default the repository's .venv (the one
`bash .ci/run` makes), which the harness re-runs itself under; the Cargo target folder is
cargo's (CARGO_TARGET_DIR). Linux only (O_DIRECT, posix_fadvise, fincore, cgroup v1).
Run it on a quiet machine and compare the ratios within one run, not absolute times.
"""
import argparse, json, mmap, os, platform, shutil, statistics, subprocess, sys, tempfile, time

if len(sys.argv) > 1 and sys.argv[1] == "job":
    # One BLAS thread for the NumPy and Dask jobs unless told otherwise: on 2 cores under
    # load, OpenBLAS's two threads took 30-100 s for the Gram matrix of a 1 GiB (n x 32)
    # matrix where one took 0.65 s, and Dask runs its own threads on top (its docs advise
    # one BLAS thread with the threaded scheduler).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

try:
    import numpy as np
except ImportError:
    np = None

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each job: its inputs (file names in the data folder), its output, and the bytes it must
# move as multiples of the input size S: (read, written); "rereads": how many of the reads
# are later passes over the same input, which come from the page cache unless a memory cap
# is too small to hold the input and the output.
JOBS = {
    "add": {"inputs": ["a.npy", "b.npy"], "output": "c.npy", "moves": (2, 1),
            "what": "c = a + b (1-D f64), c created and flushed"},
    "standardize": {"inputs": ["x.npy"], "output": "z.npy", "moves": (2, 1), "rereads": 1,
                    "what": "z = (x - mean) / std per column, two passes, z created and flushed"},
    "c2f": {"inputs": ["x.npy"], "output": "f.npy", "moves": (1, 1),
            "what": "C-order x copied into a new Fortran-order .npy, flushed"},
    "gram": {"inputs": ["x.npy"], "output": "g.npy", "moves": (1, 0),
             "what": "G = x^T x (cols x cols)"},
    "stats": {"inputs": ["x.npy"], "output": "s.npy", "moves": (1, 0),
              "what": "sum, mean, var along axis 0"},
    "matmul": {"inputs": ["x.npy"], "output": "xw.npy", "moves": (1, 1),
               "what": "x @ w (w: cols x cols, in memory) into a new .npy, flushed"},
    "cumsum": {"inputs": ["x.npy"], "output": "cs.npy", "moves": (1, 1),
               "what": "cumulative sums along axis 0 into a new .npy, flushed"},
    "histogram": {"inputs": ["x.npy"], "output": "h.npy", "moves": (1, 0),
                  "what": "np.histogram of every element, 1000 bins over (-300, 400)"},
    "gather": {"inputs": ["t.npy"], "output": "gb.npy", "moves": (0, 0), "random": True,
               "what": "20 batches of 64 random 1024-token windows of a uint16 token file"},
    "filter": {"inputs": ["x.npy", "mask.npy"], "output": "xf.npy", "moves": (1, 0.5),
               "what": "x[mask] (about half the rows) into a new .npy"},
    "concat": {"inputs": ["a.npy", "b.npy"], "output": "ab.npy", "moves": (4, 4), "rereads": 2,
               "what": "[a, b, a, b] concatenated into a new .npy"},
    "collect": {"inputs": ["a.npy", "b.npy"], "output": "c.npy", "moves": (2, 1),
                "what": "c = a + b (1-D f64) into a new file built from the results"},
}
HIST_BINS, HIST_RANGE = 1000, (-300.0, 400.0)
# The gather job's batches (as benches/regime_job.rs's BATCHES, BATCH, BLOCK).
BATCHES, BATCH, WINDOW = 20, 64, 1024
# The jobs that read the matrix x.npy.
X_JOBS = ("standardize", "c2f", "gram", "stats", "matmul", "cumsum", "histogram", "filter")
# The jobs that read the 1-D inputs a.npy and b.npy (the others read the matrix x.npy).
VECTOR_JOBS = {"add", "concat", "collect"}
CONTENDERS = ["numpy", "dask", "dask-view", "plain", "engine"]
BLOCK = 16 << 20
X_VERSION = 2  # bump when the matrix's contents or its reference figures change


def log(*args):
    print(*args, flush=True)


def mib(n):
    return n / (1 << 20)


# ---------------------------------------------------------------- inputs

def vector_ok(path, n):
    try:
        a = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    if a.shape != (n,) or a.dtype != np.float64:
        return False
    scale = 1.0 if path.endswith("a.npy") else 2.0
    idx = [0, 1, n // 3, n - 1]
    return all(a[i] == scale * i for i in idx)


def write_vector(path, n, scale):
    out = np.lib.format.open_memmap(path + ".part", mode="w+", dtype="<f8", shape=(n,))
    step = 1 << 23
    for start in range(0, n, step):
        stop = min(n, start + step)
        out[start:stop] = scale * np.arange(start, stop, dtype=np.float64)
    out.flush()
    del out
    fsync_and_rename(path + ".part", path)


def fsync_and_rename(part, path):
    fd = os.open(part, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    os.replace(part, path)


def matrix_ok(path, ref_path, rows, cols):
    try:
        x = np.load(path, mmap_mode="r")
        ref = np.load(ref_path)
    except (OSError, ValueError):
        return False
    return (x.shape == (rows, cols) and x.dtype == np.float64 and not np.isfortran(x)
            and int(ref["version"]) == X_VERSION)


def write_matrix(path, ref_path, rows, cols):
    """A tall C-order matrix of normal noise, column j with mean 10 j - 100 and std j + 1,
    and its reference statistics (float64, merged slab by slab)."""
    rng = np.random.default_rng(10)
    scale = 1.0 + np.arange(cols)
    offset = 10.0 * np.arange(cols) - 100.0
    out = np.lib.format.open_memmap(path + ".part", mode="w+", dtype="<f8", shape=(rows, cols))
    step = max(1, (64 << 20) // (8 * cols))
    count, total = 0, np.zeros(cols)
    mean, m2, gram = np.zeros(cols), np.zeros(cols), np.zeros((cols, cols))
    hist = np.zeros(HIST_BINS, np.int64)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        slab = rng.standard_normal((stop - start, cols)) * scale + offset
        out[start:stop] = slab
        k = stop - start
        s_mean = slab.mean(axis=0)
        s_m2 = ((slab - s_mean) ** 2).sum(axis=0)
        delta = s_mean - mean
        new = count + k
        mean = mean + delta * (k / new)
        m2 = m2 + s_m2 + delta * delta * (count * k / new)
        count = new
        total += slab.sum(axis=0)
        gram += slab.T @ slab
        hist += np.histogram(slab, bins=HIST_BINS, range=HIST_RANGE)[0]
    out.flush()
    del out
    np.savez(ref_path, version=X_VERSION, sum=total, mean=mean, var=m2 / count, gram=gram,
             hist=hist)
    fsync_and_rename(path + ".part", path)


def matmul_w(cols):
    """The matmul job's right factor: small integers, the same on every side."""
    return ((np.arange(cols)[:, None] + 2 * np.arange(cols)[None, :]) % 5) - 2.0
def token(i):
    """Token i of t.npy (an array of indices gives an array of tokens)."""
    return (((np.asarray(i, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(1 << 32))
            >> np.uint64(16)) % np.uint64(50257)


def window_starts(batch, n):
    """The starts of the gather job's batch `batch` in a file of n tokens, as
    regime_job.rs's window_start."""
    ks = range(batch * BATCH + 1, (batch + 1) * BATCH + 1)
    return np.array([((k * 0x9E3779B97F4A7C15) % (1 << 64) >> 20) % (n - WINDOW) for k in ks],
                    dtype=np.int64)


def mask_of(rows):
    """The filter job's mask: row i kept when the top bit of a 32-bit hash of i is clear."""
    i = np.arange(rows, dtype=np.uint64)
    return ((i * np.uint64(2654435761)) % np.uint64(1 << 32)) < np.uint64(1 << 31)


def write_tokens(path, n):
    out = np.lib.format.open_memmap(path + ".part", mode="w+", dtype="<u2", shape=(n,))
    step = 1 << 24
    for start in range(0, n, step):
        stop = min(n, start + step)
        out[start:stop] = token(np.arange(start, stop, dtype=np.uint64))
    out.flush()
    del out
    fsync_and_rename(path + ".part", path)


def tokens_ok(path, n):
    try:
        t = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    idx = [0, 1, n // 3, n - 1]
    return t.shape == (n,) and t.dtype == np.uint16 and all(t[i] == token(i) for i in idx)


def ensure_inputs(folder, jobs, size, cols):
    started = time.perf_counter()
    wrote = []
    if VECTOR_JOBS & set(jobs):
        n = size // 8
        for name, scale in (("a.npy", 1.0), ("b.npy", 2.0)):
            path = os.path.join(folder, name)
            if not vector_ok(path, n):
                write_vector(path, n, scale)
                wrote.append(name)
    if any(j in X_JOBS for j in jobs):
        rows = size // (8 * cols)
        path, ref = os.path.join(folder, "x.npy"), os.path.join(folder, "x.ref.npz")
        if not matrix_ok(path, ref, rows, cols):
            write_matrix(path, ref, rows, cols)
            wrote.append("x.npy")
    if "filter" in jobs:
        rows = size // (8 * cols)
        path = os.path.join(folder, "mask.npy")
        try:
            ok = np.array_equal(np.load(path), mask_of(rows))
        except (OSError, ValueError):
            ok = False
        if not ok:
            np.save(path, mask_of(rows))
            wrote.append("mask.npy")
    if "gather" in jobs:
        path = os.path.join(folder, "t.npy")
        if not tokens_ok(path, size // 2):
            write_tokens(path, size // 2)
            wrote.append("t.npy")
    log(f"inputs in {folder}: {'written: ' + ', '.join(wrote) if wrote else 'reused'}"
        f" ({time.perf_counter() - started:.1f} s)")


# ---------------------------------------------------------------- checks of the outputs

def sample(n, k=64):
    return sorted({0, n - 1, *np.linspace(0, n - 1, k).astype(np.int64).tolist()})


def check(job, folder, out_path):
    """None if the output holds the right values (at sampled places for the big ones)."""
    try:
        out = np.load(out_path, mmap_mode="r")
    except (OSError, ValueError) as e:
        return f"cannot read the output: {e}"
    if job in ("add", "collect"):
        n = out.shape[0]
        for i in sample(n):
            if out[i] != 3.0 * i:
                return f"c[{i}] = {out[i]}, expected {3.0 * i}"
        return None
    if job == "gather":
        n = np.load(os.path.join(folder, "t.npy"), mmap_mode="r").shape[0]
        if out.shape != (BATCHES * BATCH, WINDOW):
            return f"shape {out.shape}, expected {(BATCHES * BATCH, WINDOW)}"
        for b in (0, BATCHES - 1):
            for k, start in enumerate(window_starts(b, n)):
                want = token(np.arange(start, start + WINDOW, dtype=np.uint64))
                if not np.array_equal(out[b * BATCH + k], want):
                    return f"window {k} of batch {b} (at {start}) differs"
        return None
    if job == "concat":
        n = np.load(os.path.join(folder, "a.npy"), mmap_mode="r").shape[0]
        if out.shape != (4 * n,):
            return f"shape {out.shape}, expected {(4 * n,)}"
        for i in sample(4 * n, 256):
            want = (1.0 if (i // n) % 2 == 0 else 2.0) * (i % n)
            if out[i] != want:
                return f"ab[{i}] = {out[i]}, expected {want}"
        return None
    x = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
    ref = np.load(os.path.join(folder, "x.ref.npz"))
    if job == "filter":
        kept = np.flatnonzero(np.load(os.path.join(folder, "mask.npy")))
        if out.shape != (len(kept), x.shape[1]):
            return f"shape {out.shape}, expected {(len(kept), x.shape[1])}"
        for k in sample(len(kept), 32) if len(kept) else []:
            if not np.array_equal(out[k], x[kept[k]]):
                return f"row {k} is not x[{kept[k]}]"
        return None
    if job == "standardize":
        if out.shape != x.shape:
            return f"shape {out.shape}, expected {x.shape}"
        std = np.sqrt(ref["var"])
        for i in sample(x.shape[0], 16):
            want = (np.asarray(x[i]) - ref["mean"]) / std
            if not np.allclose(out[i], want, rtol=1e-9, atol=1e-12):
                return f"row {i} differs: {out[i][:3]} vs {want[:3]}"
        return None
    if job == "c2f":
        if out.shape != x.shape or not np.isfortran(out):
            return f"shape {out.shape}, Fortran {np.isfortran(out)}; expected {x.shape}, Fortran"
        for i in sample(x.shape[0], 16):
            for j in (0, x.shape[1] - 1):
                if out[i, j] != x[i, j]:
                    return f"f[{i}, {j}] = {out[i, j]}, expected {x[i, j]}"
        return None
    if job == "gram":
        ok = out.shape == ref["gram"].shape and np.allclose(out, ref["gram"], rtol=1e-9)
        return None if ok else "differs from the reference Gram matrix"
    if job == "matmul":
        if out.shape != x.shape:
            return f"shape {out.shape}, expected {x.shape}"
        w = matmul_w(x.shape[1])
        for i in sample(x.shape[0], 16):
            want = np.asarray(x[i]) @ w
            if not np.allclose(out[i], want, rtol=1e-9, atol=1e-9):
                return f"row {i} differs: {out[i][:3]} vs {want[:3]}"
        return None
    if job == "stats":
        want = np.stack([ref["sum"], ref["mean"], ref["var"]])
        ok = out.shape == want.shape and np.allclose(out, want, rtol=1e-9, atol=1e-9)
        return None if ok else "differs from the reference statistics"
    if job == "cumsum":
        if out.shape != x.shape:
            return f"shape {out.shape}, expected {x.shape}"
        if not np.allclose(out[-1], ref["sum"], rtol=1e-9, atol=1e-6):
            return f"last row {out[-1][:3]} differs from the column sums {ref['sum'][:3]}"
        for i in sample(min(x.shape[0], 4096), 16):
            want = np.asarray(x[:i + 1]).sum(axis=0)
            if not np.allclose(out[i], want, rtol=1e-12, atol=1e-9):
                return f"row {i} differs: {out[i][:3]} vs {want[:3]}"
        return None
    if job == "histogram":
        ok = out.shape == ref["hist"].shape and (out == ref["hist"]).all()
        return None if ok else "differs from the reference histogram"
    return f"no check for {job}"


# ---------------------------------------------------------------- page cache and disk

def resident_fraction(paths):
    """Share of the files' bytes in the page cache (fincore), or None without fincore."""
    if not shutil.which("fincore"):
        return None
    total = resident = 0
    for p in paths:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", p],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return None
        resident += int(out.stdout.split()[0])
        total += os.path.getsize(p)
    return resident / total if total else None


def read_through_cache(paths):
    buf = bytearray(BLOCK)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def evict(paths):
    os.sync()
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def direct_read(paths):
    """Reads the files with O_DIRECT; returns (bytes, seconds)."""
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT needs
    total = 0
    t0 = time.perf_counter()
    for p in paths:
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
        try:
            offset = 0
            while True:
                n = os.preadv(fd, [buf], offset)
                offset += n
                if n < BLOCK:
                    break
        finally:
            os.close(fd)
        total += offset
    return total, time.perf_counter() - t0


def direct_write(path, nbytes):
    """Writes nbytes (rounded up to the page size) with O_DIRECT, then fdatasync; returns (bytes,
    seconds). The file is removed afterwards."""
    buf = mmap.mmap(-1, BLOCK)
    buf.write(bytes(range(251)) * (BLOCK // 251) + bytes(BLOCK % 251))
    nbytes = -(-nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    try:
        offset = 0
        while offset < nbytes:
            n = min(BLOCK, nbytes - offset)
            offset += os.pwritev(fd, [memoryview(buf)[:n]], offset)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    os.remove(path)
    return nbytes, seconds


def read_each(paths, read, done):
    """Runs read(path) for every path, one thread each, timed; then evicts the files.
    Returns (the sum of what the reads appended to done, seconds)."""
    import threading
    threads = [threading.Thread(target=read, args=(p,)) for p in paths]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    evict(paths)
    return sum(done), seconds


def buffered_read(paths):
    """Reads the files, evicted first, through the page cache, one thread per file (as a
    job reads its inputs); returns (bytes, seconds). Evicts them again afterwards."""
    evict(paths)
    done = []

    def read(path):
        buf = bytearray(BLOCK)
        total = 0
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
        done.append(total)

    return read_each(paths, read, done)


def populated_read(paths):
    """Reads the files, evicted first, through the page cache's fault path: one thread per
    file maps it with MADV_HUGEPAGE and populates it (MADV_POPULATE_READ), 64 MiB at a
    time, which reads 2 MiB folios in requests of up to the device's max_sectors_kb (the
    engine's own way to read out of core, and the fastest of the three on the build
    machine's virtual disk); returns (bytes, seconds). Evicts them again afterwards."""
    evict(paths)
    done = []
    step = 64 << 20

    def read(path):
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
        try:
            m.madvise(mmap.MADV_HUGEPAGE)
            m.madvise(mmap.MADV_SEQUENTIAL)
            for start in range(0, size, step):
                m.madvise(MADV_POPULATE_READ, start, min(step, size - start))
        finally:
            m.close()
        done.append(size)

    return read_each(paths, read, done)


# Linux's MADV_POPULATE_READ (5.14), which Python's mmap module does not name.
MADV_POPULATE_READ = 22


def buffered_write(path, nbytes):
    """Writes nbytes with plain 16 MiB writes, then fdatasync; returns (bytes, seconds).
    The file is removed afterwards."""
    block = bytes(range(251)) * (BLOCK // 251) + bytes(BLOCK % 251)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        offset = 0
        while offset < nbytes:
            offset += os.write(fd, block[:min(BLOCK, nbytes - offset)])
        os.fdatasync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    os.remove(path)
    return nbytes, seconds


def random_batch_bytes():
    """The bytes of one random batch probe: two pages per window (a window of WINDOW
    uint16 tokens spans at most two)."""
    return BATCH * 2 * os.sysconf("SC_PAGE_SIZE")


def random_batch_read(paths):
    """The disk's limit for one gather batch: the pages of BATCH random windows of the token
    file (t.npy among `paths`) read with O_DIRECT preads on BATCH threads at once (queue
    depth BATCH); returns (bytes, seconds), the median over BATCHES batches at other places
    than the gather job reads."""
    from concurrent.futures import ThreadPoolExecutor
    tokens = [p for p in paths if p.endswith("t.npy")]
    if not tokens:
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    size = os.path.getsize(tokens[0])
    span = random_batch_bytes() // BATCH  # a window's pages, at most
    fd = os.open(tokens[0], os.O_RDONLY | os.O_DIRECT)
    bufs = [mmap.mmap(-1, span + page) for _ in range(BATCH)]
    rng = np.random.default_rng(int(time.time()))
    times, nbytes = [], 0
    try:
        with ThreadPoolExecutor(BATCH) as pool:
            for _ in range(BATCHES):
                starts = rng.integers(0, size - span, BATCH) // page * page
                t0 = time.perf_counter()
                done = list(pool.map(lambda a: os.preadv(fd, [memoryview(a[1])[:span]], int(a[0])),
                                     zip(starts, bufs)))
                times.append(time.perf_counter() - t0)
                nbytes = sum(done)
    finally:
        os.close(fd)
    return nbytes, statistics.median(times)


def measure_disk(folder, inputs, out_bytes):
    """The disk's rates, each the best of the ways tried: O_DIRECT (the dd way), through
    the page cache (cold reads, writes + fdatasync), which on the build machine's virtual
    disk was up to twice as fast for reads (1.4-1.6 against 0.65-0.9 GB/s), and, for
    reads, populating a huge-page map (large folios in large requests), with which the
    engine outran the other two: none of them alone is the disk's limit."""
    probe = os.path.join(folder, "probe.bin")
    figures = {}
    for name, (nbytes, seconds) in (
            ("read_direct", direct_read(inputs)),
            ("read_buffered", buffered_read(inputs)),
            ("read_populated", populated_read(inputs)),
            ("write_direct", direct_write(probe, out_bytes)),
            ("write_buffered", buffered_write(probe, out_bytes))):
        figures[f"{name}_bytes"] = nbytes
        figures[f"{name}_seconds"] = seconds
        figures[f"{name}_gb_s"] = nbytes / seconds / 1e9
    random = random_batch_read(inputs)
    if random:
        figures["random_batch_bytes"], figures["random_batch_seconds"] = random
        # As a rate, so that the medians over the probes take it (they keep *_gb_s).
        figures["random_batch_gb_s"] = random[0] / random[1] / 1e9
    figures["read_gb_s"] = max(figures["read_direct_gb_s"], figures["read_buffered_gb_s"],
                               figures["read_populated_gb_s"])
    figures["write_gb_s"] = max(figures["write_direct_gb_s"], figures["write_buffered_gb_s"])
    return figures


def disk_line(d):
    populated = d.get("read_populated_gb_s")
    populated = f", huge-page populate {populated:.2f}" if populated is not None else ""
    batch = d.get("random_batch_gb_s")
    populated += (f"; {BATCH} random windows at once: {random_batch_bytes() / 1024:.0f} KiB "
                  f"in {1e3 * random_batch_bytes() / batch / 1e9:.2f} ms" if batch else "")
    return (f"read {d['read_gb_s']:.2f} GB/s (O_DIRECT {d['read_direct_gb_s']:.2f}, "
            f"cold buffered {d['read_buffered_gb_s']:.2f}{populated}), "
            f"write {d['write_gb_s']:.2f} GB/s "
            f"(O_DIRECT {d['write_direct_gb_s']:.2f}, buffered {d['write_buffered_gb_s']:.2f}; "
            f"both + fdatasync)")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- memory cgroups

def cgroup_base():
    """This process's cgroup v1 memory cgroup, if it exists and we may make children."""
    root = "/sys/fs/cgroup/memory"
    if not os.path.isfile(os.path.join(root, "memory.limit_in_bytes")):
        return None, f"no cgroup v1 memory controller at {root}"
    own = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                own = path
    base = root + (own or "/")
    if not os.access(base, os.W_OK):
        return None, f"{base} is not writable (run as root)"
    return base, None


class Cgroup:
    """A fresh child memory cgroup with a limit, removed on exit."""
    count = 0

    def __init__(self, base, limit):
        Cgroup.count += 1
        self.path = os.path.join(base, f"ndmmap-regimes-{os.getpid()}-{Cgroup.count}")
        self.limit = limit

    def __enter__(self):
        os.mkdir(self.path)
        self.write("memory.limit_in_bytes", self.limit)
        return self

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))

    def read(self, name):
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def enter(self):
        """For preexec_fn: moves the calling (child) process into the cgroup."""
        self.write("cgroup.procs", os.getpid())

    def figures(self):
        oom = dict(line.split() for line in self.read("memory.oom_control").splitlines())
        return {"cgroup_peak_mib": round(mib(int(self.read("memory.max_usage_in_bytes"))), 1),
                "cgroup_failcnt": int(self.read("memory.failcnt")),
                "cgroup_oom_kills": int(oom.get("oom_kill", 0))}

    def __exit__(self, *exc):
        try:
            self.write("memory.force_empty", 0)  # uncharge its page cache before removal
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                break
            except OSError:
                time.sleep(0.1)


# ---------------------------------------------------------------- running jobs

def command(contender, job, folder, args):
    spec = JOBS[job]
    paths = [os.path.join(folder, p) for p in spec["inputs"]]
    paths.append(os.path.join(folder, spec["output"]))
    if contender in ("engine", "plain"):
        return [args.regime_job, contender, job, *paths]
    return [sys.executable, os.path.abspath(__file__), "job", contender, job, *paths]


def run_job(cmd, cap, cg_base, timeout):
    row = {}
    cg = Cgroup(cg_base, cap) if cap else None
    if cg:
        cg.__enter__()
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=cg.enter if cg else None)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            row["status"] = f"timeout after {timeout} s"
        row["wall_seconds"] = time.perf_counter() - t0
        if cg:
            row.update(cg.figures())
    finally:
        if cg:
            cg.__exit__(None, None, None)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if p.returncode == 0 and lines:
        row.update(json.loads(lines[-1]))
    elif "status" not in row:
        killed = p.returncode == -9 or row.get("cgroup_oom_kills", 0) > 0
        tail = (err.strip().splitlines() or ["(no message)"])[-1][:160]
        row["status"] = "OOM-killed" if killed else f"failed (exit {p.returncode}): {tail}"
    return row


def prepare(regime, inputs, output):
    if os.path.exists(output):
        os.remove(output)
    if regime == "cached":
        read_through_cache(inputs)
    else:
        evict(inputs)
    return resident_fraction(inputs)


# ---------------------------------------------------------------- summary and table

# The memory cap of each capped regime, in bytes (set by main or replot).
CAPS = {}


def disk_bound(job, regime, size, disk):
    """Seconds the disk alone needs for the job: reading its inputs (unless cached) at the
    best read rate measured, writing its output at the best write rate (+ fdatasync). A later
    pass over an input counts as a read only under a cap too small to keep it cached."""
    reads, writes = JOBS[job]["moves"]
    rereads = JOBS[job].get("rereads", 0)
    if JOBS[job].get("random"):
        # BATCHES batches, each BATCH random reads at once.
        if regime == "cached" or "random_batch_gb_s" not in disk:
            return 0.0
        return BATCHES * random_batch_bytes() / (disk["random_batch_gb_s"] * 1e9)
    if regime == "cached":
        reads = 0
    elif regime not in CAPS or CAPS[regime] >= (reads - rereads + writes) * size:
        reads -= rereads
    return reads * size / (disk["read_gb_s"] * 1e9) + writes * size / (disk["write_gb_s"] * 1e9)


def summarise(runs, jobs, regimes, contenders, size, disk):
    out = []
    for job in jobs:
        reads, writes = JOBS[job]["moves"]
        moved = (reads + writes) * size
        for regime in regimes:
            medians = {}
            for c in contenders:
                ok = [r["seconds"] for r in runs if (r["job"], r["regime"], r["contender"]) ==
                      (job, regime, c) and r.get("status") == "ok"]
                if ok:
                    medians[c] = statistics.median(ok)
            bound = disk_bound(job, regime, size, disk)
            for c in contenders:
                rs = [r for r in runs if (r["job"], r["regime"], r["contender"]) ==
                      (job, regime, c)]
                if not rs:
                    continue
                secs = [r["seconds"] for r in rs if r.get("status") == "ok"]
                bad = sorted({r["status"] for r in rs if r.get("status") != "ok"})
                row = {"job": job, "regime": regime, "contender": c, "runs": len(rs),
                       "ok": len(secs), "notes": bad, "bytes_moved": moved,
                       "disk_bound_seconds": bound}
                # Peak memory: the median over the rounds (one odd round, e.g. pages charged
                # to another cgroup, does not make the figure), and the largest seen.
                rss = [r["peak_rss_mib"] for r in rs if "peak_rss_mib" in r]
                row["peak_rss_mib"] = statistics.median(rss) if rss else None
                row["peak_rss_mib_max"] = max(rss) if rss else None
                cgp = [r["cgroup_peak_mib"] for r in rs if "cgroup_peak_mib" in r]
                row["cgroup_peak_mib"] = statistics.median(cgp) if cgp else None
                row["cgroup_peak_mib_max"] = max(cgp) if cgp else None
                if secs:
                    m = medians[c]
                    row.update(seconds=m, min=min(secs), max=max(secs), gb_s=moved / m / 1e9,
                               disk_share=bound / m)
                    for ref in ("numpy", "plain"):
                        if ref in medians:
                            row[f"x_{ref}"] = medians[ref] / m
                    # Against Dask: the faster of its two ways in this regime.
                    dask = [medians[d] for d in ("dask", "dask-view") if d in medians]
                    if dask:
                        row["x_dask"] = min(dask) / m
                out.append(row)
    return out


def print_table(summary, jobs, regimes, size, disk):
    fmt = "{:<22} {:>5} {:>8} {:>13} {:>6} {:>7} {:>6} {:>6} {:>8} {:>8} {:>6}  {}"
    for job in jobs:
        reads, writes = JOBS[job]["moves"]
        log(f"\n== {job}: {JOBS[job]['what']}; moves {reads + writes} x {mib(size):.0f} MiB")
        log(fmt.format("regime / contender", "ok", "median s", "range", "GB/s", "xNumPy",
                       "xDask", "xplain", "RSS MiB", "cg MiB", "disk%", "notes"))
        for regime in regimes:
            rows = [r for r in summary if r["job"] == job and r["regime"] == regime]
            if not rows:
                continue
            log(f"{regime}  (disk-bound time {disk_bound(job, regime, size, disk):.3f} s)")
            for r in rows:
                x = lambda k: f"{r[k]:.2f}" if k in r else "-"
                rng = f"{r['min']:.3f}-{r['max']:.3f}" if "seconds" in r else "-"
                log(fmt.format(
                    "  " + r["contender"], f"{r['ok']}/{r['runs']}",
                    f"{r['seconds']:.3f}" if "seconds" in r else "-", rng,
                    f"{r['gb_s']:.2f}" if "gb_s" in r else "-", x("x_numpy"), x("x_dask"),
                    x("x_plain"),
                    f"{r['peak_rss_mib']:.0f}" if r["peak_rss_mib"] is not None else "-",
                    f"{r['cgroup_peak_mib']:.0f}" if r["cgroup_peak_mib"] is not None else "-",
                    f"{100 * r['disk_share']:.0f}" if "disk_share" in r else "-",
                    "; ".join(n if len(n) <= 60 else n[:57] + "..." for n in r["notes"])))
    log("\nmedian s: median of the rounds that succeeded; GB/s: bytes the job must move "
        "(reads + writes) / median; xNumPy, xDask, xplain: that contender's median time / "
        "this one's (above 1 is faster; xDask against the faster of dask and dask-view); "
        "RSS: median over the rounds of the job's peak RSS; cg: median of its cgroup's "
        "memory.max_usage_in_bytes (page cache included); disk%: disk-bound time / median.")


# ---------------------------------------------------------------- the NumPy and Dask side

def open_in(path):
    return np.load(path, mmap_mode="r")


def create_out(path, shape, fortran_order=False):
    return np.lib.format.open_memmap(path, mode="w+", dtype="<f8", shape=shape,
                                     fortran_order=fortran_order)


def numpy_job(job, paths):
    """The jobs as a NumPy user writes them on memmaps (no manual chunking)."""
    if job in ("add", "collect"):
        a, b = open_in(paths[0]), open_in(paths[1])
        c = create_out(paths[2], a.shape)
        np.add(a, b, out=c)
        c.flush()
    elif job == "concat":
        a, b = open_in(paths[0]), open_in(paths[1])
        out = create_out(paths[2], (2 * a.shape[0] + 2 * b.shape[0],))
        np.concatenate([a, b, a, b], out=out)
        out.flush()
    elif job == "standardize":
        x = open_in(paths[0])
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        z = create_out(paths[1], x.shape)
        np.subtract(x, mean, out=z)  # no full-size temporary: in place into the output
        np.divide(z, std, out=z)
        z.flush()
    elif job == "c2f":
        x = open_in(paths[0])
        f = create_out(paths[1], x.shape, fortran_order=True)
        f[...] = x
        f.flush()
    elif job == "gram":
        x = open_in(paths[0])
        np.save(paths[1], x.T @ x)
    elif job == "stats":
        x = open_in(paths[0])
        np.save(paths[1], np.stack([x.sum(axis=0), x.mean(axis=0), x.var(axis=0)]))
    elif job == "matmul":
        x = open_in(paths[0])
        out = create_out(paths[1], x.shape)
        np.matmul(x, matmul_w(x.shape[1]), out=out)
        out.flush()
    elif job == "cumsum":
        x = open_in(paths[0])
        c = create_out(paths[1], x.shape)
        np.cumsum(x, axis=0, out=c)
        c.flush()
    elif job == "histogram":
        x = open_in(paths[0])
        np.save(paths[1], np.histogram(x, bins=HIST_BINS, range=HIST_RANGE)[0])
    elif job == "gather":
        return gather_job(paths, lambda data, ix: data[ix[:, None] + np.arange(WINDOW)])
    elif job == "filter":
        x, mask = open_in(paths[0]), np.load(paths[1])
        np.save(paths[2], x[mask])
    else:
        sys.exit(f"unknown job {job!r}")


def gather_job(paths, take, load=open_in):
    """The gather job with `take(data, starts)` giving one batch; returns the seconds the
    gathers took, then saves the batches (untimed)."""
    t0 = time.perf_counter()
    data = load(paths[0])
    n = data.shape[0]
    batches = [take(data, window_starts(b, n)) for b in range(BATCHES)]
    seconds = time.perf_counter() - t0
    np.save(paths[1], np.concatenate(batches))
    return seconds


def dask_chunks(shape):
    """Slabs of whole rows of about DASK_CHUNK_MIB MiB (default 16: small enough to run
    under a 128 MiB memory cap with two threads)."""
    chunk_bytes = int(os.environ.get("DASK_CHUNK_MIB", "16")) << 20
    row_bytes = 8 * int(np.prod(shape[1:], dtype=np.int64))
    rows = max(1, chunk_bytes // max(1, row_bytes))
    return (rows,) + tuple(shape[1:])


class MappedNpy:
    """A read-only map of a .npy file as Dask sees an h5py or zarr array: shape, dtype and
    slicing, and no .copy(), so that dask.array.from_array keeps it mapped."""

    def __init__(self, path):
        self.path = path
        self.map = open_in(path)
        self.shape, self.dtype, self.ndim = self.map.shape, self.map.dtype, self.map.ndim

    def __getitem__(self, index):
        return self.map[index]

    def __dask_tokenize__(self):
        # Without it, tokenize would pickle the object, and with it the whole map.
        return ("MappedNpy", self.path, os.stat(self.path).st_mtime_ns, self.shape)


def dask_job(job, paths, view):
    """The jobs as a Dask user writes them: from_array over the maps, store into a memmap."""
    import dask
    import dask.array as da

    def load(path):
        m = MappedNpy(path) if view else open_in(path)
        return da.from_array(m, chunks=dask_chunks(m.shape))

    # Writes into a memmap touch disjoint slabs, so they need no lock.
    if job in ("add", "collect"):
        a, b = load(paths[0]), load(paths[1])
        c = create_out(paths[2], a.shape)
        da.store(a + b, c, lock=False)
        c.flush()
    elif job == "concat":
        a, b = load(paths[0]), load(paths[1])
        out = create_out(paths[2], (2 * a.shape[0] + 2 * b.shape[0],))
        da.store(da.concatenate([a, b, a, b]), out, lock=False)
        out.flush()
    elif job == "standardize":
        x = load(paths[0])
        mean, std = dask.compute(x.mean(axis=0), x.std(axis=0))  # pass 1: one read of x
        z = create_out(paths[1], x.shape)
        da.store((x - mean) / std, z, lock=False)  # pass 2
        z.flush()
    elif job == "c2f":
        x = load(paths[0])
        f = create_out(paths[1], x.shape, fortran_order=True)
        da.store(x, f, lock=False)
        f.flush()
    elif job == "gram":
        x = load(paths[0])
        np.save(paths[1], (x.T @ x).compute())
    elif job == "stats":
        x = load(paths[0])
        s, m, v = dask.compute(x.sum(axis=0), x.mean(axis=0), x.var(axis=0))
        np.save(paths[1], np.stack([s, m, v]))
    elif job == "matmul":
        x = load(paths[0])
        out = create_out(paths[1], x.shape)
        da.store(x @ matmul_w(x.shape[1]), out, lock=False)
        out.flush()
    elif job == "cumsum":
        x = load(paths[0])
        c = create_out(paths[1], x.shape)
        da.store(da.cumsum(x, axis=0), c, lock=False)
        c.flush()
    elif job == "histogram":
        x = load(paths[0])
        np.save(paths[1], da.histogram(x, bins=HIST_BINS, range=HIST_RANGE)[0].compute())
    elif job == "gather":
        def take(x, ix):
            return x[(ix[:, None] + np.arange(WINDOW)).ravel()].compute().reshape(len(ix), WINDOW)
        return gather_job(paths, take, load)
    elif job == "filter":
        x, mask = load(paths[0]), np.load(paths[1])
        y = x[mask]  # a NumPy mask: Dask knows the result's chunks without reading x
        out = create_out(paths[2], y.shape)
        da.store(y, out, lock=False)
        out.flush()
    else:
        sys.exit(f"unknown job {job!r}")


def append_job(path, total_mib):
    """NumPy's way to a growing file: open_memmap preallocated at the final size, filled
    batch by batch, flushed and synced."""
    rows = (1 << 20) // (128 * 4)
    batch = np.arange(rows * 128, dtype="<f4").reshape(rows, 128)
    m = np.lib.format.open_memmap(path, mode="w+", dtype="<f4", shape=(total_mib * rows, 128))
    for b in range(total_mib):
        batch[:, 0] = b
        m[b * rows:(b + 1) * rows] = batch
    m.flush()
    del m
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def peak_rss_mib():
    """The process's peak resident set (VmHWM), in MiB. Not getrusage's ru_maxrss, which
    keeps the peak of the process that forked this one (the harness) across exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def job_main(argv):
    """`harness.py job CONTENDER JOB PATH...`: one NumPy or Dask job, timed; prints one JSON
    line (contender, job, seconds, peak_rss_mib, threads, status). The harness runs it."""
    if len(argv) < 3:
        sys.exit("usage: harness.py job numpy|dask|dask-view JOB INPUT... OUTPUT\n"
                 "       harness.py job numpy append PATH TOTAL_MIB")
    contender, job, paths = argv[0], argv[1], argv[2:]
    if contender not in ("numpy", "dask", "dask-view"):
        sys.exit(f"unknown contender {contender!r}: numpy, dask or dask-view")
    if contender.startswith("dask"):
        import dask.array  # noqa: F401  -- imported before the clock starts
        import dask.system
        threads = dask.system.CPU_COUNT
    else:
        # NumPy itself runs on one thread; only BLAS (the Gram matrix) may use more.
        threads = int(os.environ["OPENBLAS_NUM_THREADS"]) if job in ("gram", "matmul") else 1
    t0 = time.perf_counter()
    if job == "append":
        timed = append_job(paths[0], int(paths[1]))
    elif contender == "numpy":
        timed = numpy_job(job, paths)
    else:
        timed = dask_job(job, paths, view=contender == "dask-view")
    # A job that times only part of itself (gather) returns that time.
    seconds = timed if timed is not None else time.perf_counter() - t0
    print(json.dumps({"contender": contender, "job": job, "seconds": seconds,
                      "peak_rss_mib": round(peak_rss_mib(), 1), "threads": threads,
                      "status": "ok"}))


# ---------------------------------------------------------------- paths, builds, sizes

def parse_size(text):
    """Bytes from 512M, 512MiB, 1G, 4GiB or a plain number of bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    try:
        return int(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (512M, 1G, ...)")


def with_numpy(python):
    """Re-runs the harness under `python` if this interpreter has no NumPy."""
    if np is not None:
        return
    python = python or os.environ.get("NDMMAP_PYTHON") or os.path.join(REPO, ".venv/bin/python")
    # Not the venv's real path: a venv's python is a link to the base interpreter, and only
    # the link's own path makes it the venv's. Once only, should that one lack NumPy too.
    if not os.environ.get("NDMMAP_HARNESS_RERUN") and os.access(python, os.X_OK):
        os.environ["NDMMAP_HARNESS_RERUN"] = python
        os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit(f"the harness needs NumPy (and Dask for its contenders), and {sys.executable} "
             f"has none: run it with a Python that has them, or make the repository's venv "
             f"(`python3 -m venv .venv && .venv/bin/pip install 'numpy>=2,<3' 'dask[array]'`, "
             f"as `bash .ci/run` does), or set NDMMAP_PYTHON or --python")


def cargo_build(*args):
    """Builds with cargo (--release) in the repository; returns cargo's target folder."""
    subprocess.run(["cargo", "build", "--quiet", "--release", *args], cwd=REPO, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO,
                          check=True, capture_output=True, text=True)
    return json.loads(meta.stdout)["target_directory"]


class DataDir:
    """The data folder: the one given (kept), or a temporary one (removed at the end)."""

    def __init__(self, given):
        given = given or os.environ.get("NDMMAP_BENCH_DIR")
        self.temporary = not given
        self.path = tempfile.mkdtemp(prefix="ndmmap-bench-") if self.temporary else given
        os.makedirs(self.path, exist_ok=True)
        self.path = os.path.abspath(self.path)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def common_options(p):
    p.add_argument("--dir", help="folder for the data (default: $NDMMAP_BENCH_DIR, else a "
                   "temporary folder, removed at the end); inputs there are reused while right")
    p.add_argument("--rounds", type=int, default=3, help="rounds, the contenders in turn")
    p.add_argument("--python", help="Python with NumPy and Dask (default: $NDMMAP_PYTHON, "
                   "else .venv/bin/python in the repository)")
    p.add_argument("--out", help="write every run, the settings and the summary to this JSON file")


# ---------------------------------------------------------------- regimes

def regimes_main(argv):
    p = argparse.ArgumentParser(prog="harness.py regimes",
                                description="Every job in every memory regime, side by side.")
    p.add_argument("size", type=parse_size, help="bytes of each input: 512M, 1G, 4G, ...")
    common_options(p)
    p.add_argument("--jobs", default="add,standardize,c2f,gram,stats,matmul,cumsum,histogram,gather,filter,concat,collect",
                   help="comma-separated (default: all)")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated (default: all)")
    p.add_argument("--regimes", default="cached,cold,capped",
                   help="of cached, cold, capped (one capped regime per --caps entry)")
    p.add_argument("--caps", default="128,1024", help="memory caps in MiB (cgroup v1)")
    p.add_argument("--cols", type=int, default=32, help="columns of the 2-D input x")
    p.add_argument("--timeout", type=float, default=600, help="seconds per job")
    p.add_argument("--dask-chunk-mib", type=int, default=16, help="Dask's chunk size")
    p.add_argument("--regime-job", help="a regime_job binary to use instead of building one "
                   "(to compare two builds of ndmmap, run the harness once with each)")
    args = p.parse_args(argv)
    with_numpy(args.python)

    jobs = [j for j in args.jobs.split(",") if j]
    contenders = [c for c in args.contenders.split(",") if c]
    for j in jobs:
        if j not in JOBS:
            p.error(f"unknown job {j!r}: {', '.join(JOBS)}")
    for c in contenders:
        if c not in CONTENDERS:
            p.error(f"unknown contender {c!r}: {', '.join(CONTENDERS)}")
    size = args.size
    if size <= 0 or size % (8 * args.cols):
        p.error(f"size {size} is not a positive multiple of a row (8 x {args.cols} bytes)")
    if not args.regime_job and {"engine", "plain"} & set(contenders):
        target = cargo_build("-p", "ndmmap-benches", "--bin", "regime_job")
        args.regime_job = os.path.join(target, "release", "regime_job")
    os.environ["DASK_CHUNK_MIB"] = str(args.dask_chunk_mib)

    wanted = args.regimes.split(",")
    regimes = [r for r in ("cached", "cold") if r in wanted]
    caps, base = {}, None
    if "capped" in wanted:
        base, why = cgroup_base()
        if base is None:
            log(f"capped regimes skipped: {why}")
        else:
            for cap in (int(c) for c in args.caps.split(",") if c):
                name = f"cold+cap{cap}M" if cap < 1024 else f"cold+cap{cap // 1024}G"
                regimes.append(name)
                caps[name] = cap << 20
    CAPS.update(caps)

    with DataDir(args.dir) as folder:
        inputs_needed = 2 * size if VECTOR_JOBS & set(jobs) else 0
        inputs_needed += size if any(j in X_JOBS for j in jobs) else 0
        inputs_needed += size if "gather" in jobs else 0
        free = shutil.disk_usage(folder).free
        log(f"{len(jobs)} job(s) x {len(regimes)} regime(s) x {len(contenders)} contender(s) "
            f"x {args.rounds} round(s); inputs of {mib(size):.0f} MiB in {folder} "
            f"({free / (1 << 30):.1f} GiB free)")
        # Inputs already there are reused; gather's output is small.
        present = sum(os.path.getsize(os.path.join(folder, p))
                      for p in {p for j in jobs for p in JOBS[j]["inputs"]}
                      if os.path.exists(os.path.join(folder, p)))
        if "concat" in jobs:
            outputs_needed = 4 * size
        else:
            outputs_needed = 2 * size if any(j != "gather" for j in jobs) else 64 << 20
        needed = max(0, inputs_needed - present) + outputs_needed
        if free < needed:
            sys.exit(f"not enough free space in {folder}: {mib(needed):.0f} MiB needed")
        ensure_inputs(folder, jobs, size, args.cols)
        meta = {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "command": " ".join(["python3 benches/harness.py regimes", *argv]),
                "size_bytes": size, "cols": args.cols, "rounds": args.rounds, "jobs": jobs,
                "regimes": regimes, "contenders": contenders,
                "caps_mib": {k: v >> 20 for k, v in caps.items()},
                "dask_chunk_mib": args.dask_chunk_mib, "cores": os.cpu_count(),
                "kernel": platform.release(), "numpy": np.__version__,
                "load_before": loadavg()}
        try:
            import dask
            meta["dask"] = dask.__version__
        except ImportError:
            if any(c.startswith("dask") for c in contenders):
                sys.exit("the Dask contenders need Dask: pip install 'dask[array]' (or leave "
                         "them out with --contenders)")
        runs, disks = run_rounds(args, folder, jobs, regimes, contenders, caps, base, size)
    disk = {k: statistics.median(d[k] for d in disks) for k in disks[0] if k.endswith("gb_s")}
    meta["disk_probes"] = len(disks)
    meta["load_after"] = loadavg()
    summary = summarise(runs, jobs, regimes, contenders, size, disk)
    report(meta, disk, summary)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "disk": disks, "disk_median": disk, "summary": summary,
                       "runs": runs}, f, indent=1)
        log(f"every run: {args.out}")


def run_rounds(args, folder, jobs, regimes, contenders, caps, base, size):
    all_inputs = sorted({os.path.join(folder, p) for j in jobs for p in JOBS[j]["inputs"]})
    # The write probe is output-sized; gather's output is small.
    out_bytes = size if any(j != "gather" for j in jobs) else 64 << 20
    runs, disks = [], []
    for rnd in range(1, args.rounds + 1):
        disk = measure_disk(folder, all_inputs, out_bytes)
        disk["round"] = rnd
        disks.append(disk)
        log(f"round {rnd}/{args.rounds} (load {loadavg()}): disk {disk_line(disk)}")
        # The contenders' order turns each round, so a slow minute hits each in turn.
        order = contenders[(rnd - 1) % len(contenders):] + contenders[:(rnd - 1) % len(contenders)]
        for job in jobs:
            spec = JOBS[job]
            inputs = [os.path.join(folder, p) for p in spec["inputs"]]
            output = os.path.join(folder, spec["output"])
            for regime in regimes:
                for c in order:
                    cached = prepare(regime, inputs, output)
                    load = loadavg()
                    row = run_job(command(c, job, folder, args), caps.get(regime), base,
                                  args.timeout)
                    row.update(job=job, regime=regime, contender=c, round=rnd, load=load,
                               inputs_cached=cached)
                    if row.get("status") == "ok":
                        wrong = check(job, folder, output)
                        if wrong:
                            row["status"] = f"WRONG: {wrong}"
                    runs.append(row)
                    secs = f"{row['seconds']:.3f} s" if "seconds" in row else "-"
                    extra = (f", cgroup peak {row['cgroup_peak_mib']:.0f} MiB"
                             if "cgroup_peak_mib" in row else "")
                    cached_s = f"{100 * cached:.0f}%" if cached is not None else "?"
                    log(f"  {job:<11} {regime:<14} {c:<9} {secs:>9}  RSS "
                        f"{row.get('peak_rss_mib', 0):.0f} MiB{extra}; inputs cached "
                        f"{cached_s}; {row.get('status')}")
                    if os.path.exists(output):
                        os.remove(output)
    disk = measure_disk(folder, all_inputs, out_bytes)  # once more, after the last job
    disk["round"] = "end"
    disks.append(disk)
    log(f"after the last round (load {loadavg()}): disk {disk_line(disk)}")
    return runs, disks


def report(meta, disk, summary):
    """Prints the settings, the disk's limit and the table."""
    jobs, regimes, size = meta["jobs"], meta["regimes"], meta["size_bytes"]
    log(f"\n{meta['date_utc']}, {meta['cores']} cores, Linux {meta['kernel']}, NumPy "
        f"{meta['numpy']}, Dask {meta.get('dask', '-')}, load {meta['load_before']} before, "
        f"{meta['load_after']} after; median of {meta['rounds']} round(s); inputs "
        f"{mib(size):.0f} MiB each")
    log(f"command: {meta['command']}")
    log(f"disk limit (medians of {meta['disk_probes']} probes): {disk_line(disk)}")
    if "add" in jobs:
        log(f"add's disk-bound time, cold: {2 * size / 1e9:.3f} GB / {disk['read_gb_s']:.2f} "
            f"GB/s + {size / 1e9:.3f} GB / {disk['write_gb_s']:.2f} GB/s = "
            f"{disk_bound('add', 'cold', size, disk):.3f} s")
    print_table(summary, jobs, regimes, size, disk)


# ---------------------------------------------------------------- append

def append_main(argv):
    p = argparse.ArgumentParser(prog="harness.py append",
                                description="Appending 1 MiB batches: dd, ndmmap, NumPy.")
    p.add_argument("total_mib", type=int, help="MiB each job appends (4096 for 4 GiB)")
    common_options(p)
    args = p.parse_args(argv)
    with_numpy(args.python)
    total = args.total_mib
    target = cargo_build("--example", "append")
    append = os.path.join(target, "release", "examples", "append")
    env = dict(os.environ, NDMMAP_APPEND_NO_CHECK="1")  # the harness checks, outside the RSS

    def ndmmap(kind):
        return lambda path: [append, path, str(total), "1", kind]

    jobs = [("dd (conv=fdatasync)", "dd.bin", "dd",
             lambda path: ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={total}",
                           "conv=fdatasync", "status=none"]),
            ("ndmmap .npy, default", "a.npy", "npy", ndmmap("npy")),
            ("ndmmap .npy, set_sync_on_grow(false)", "b.npy", "npy", ndmmap("npy-nosync")),
            ("ndmmap raw", "c.bin", "raw", ndmmap("raw")),
            ("NumPy open_memmap, preallocated", "d.npy", "npy",
             lambda path: [sys.executable, os.path.abspath(__file__), "job", "numpy", "append",
                           path, str(total)])]
    with DataDir(args.dir) as folder:
        free = shutil.disk_usage(folder).free
        if free < (total + 1024) << 20:
            sys.exit(f"{folder} has {free >> 20} MiB free, not enough for {total} MiB")
        log(f"{total} MiB in 1 MiB batches, in {folder}; load {loadavg()}")
        runs = []
        for rnd in range(1, args.rounds + 1):
            log(f"round {rnd}/{args.rounds}")
            for name, file, kind, cmd in jobs:
                path = os.path.join(folder, file)
                if os.path.exists(path):
                    os.remove(path)
                os.sync()
                t0 = time.perf_counter()
                done = subprocess.run(cmd(path), stdout=subprocess.PIPE, text=True, env=env)
                wall = time.perf_counter() - t0
                if done.returncode != 0:
                    sys.exit(f"{name} failed (exit {done.returncode}):\n{done.stdout}")
                seconds, rss = own_figures(done.stdout)
                runs.append({"job": name, "round": rnd, "seconds": seconds or wall,
                             "peak_rss_mib": rss})
                log(f"  {name:<38} {seconds or wall:8.2f} s")
                if rnd == 1:
                    wrong = check_appended(path, kind, total)
                    if wrong:
                        sys.exit(f"{name}: {wrong}")
                os.remove(path)
    log(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Linux {platform.release()}, load {loadavg()}; median of {args.rounds} round(s)")
    log(f"command: python3 benches/harness.py append {' '.join(argv)}")
    dd = None
    summary = []
    for name, *_ in jobs:
        times = [r["seconds"] for r in runs if r["job"] == name]
        rate = total / statistics.median(times)
        dd = dd or rate
        rss = [r["peak_rss_mib"] for r in runs if r["job"] == name and r["peak_rss_mib"]]
        rss = max(rss) if rss else None
        summary.append({"job": name, "mib_s": rate, "x_dd": rate / dd, "peak_rss_mib": rss})
        rss_s = f"{rss:5.0f} MiB" if rss is not None else "    -"
        log(f"  {name:<38} {rate:6.0f} MiB/s [{total / max(times):.0f}-{total / min(times):.0f}]"
            f"  {rate / dd:5.2f} x dd  peak RSS {rss_s}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"total_mib": total, "summary": summary, "runs": runs}, f, indent=1)


def own_figures(out):
    """(seconds, peak RSS in MiB) as a job measured them itself: examples/append's `RESULT
    ... seconds=` and `peak RSS N kB` lines, or the NumPy job's JSON line; None for what it
    did not say (dd says neither: it is timed from outside, and its RSS is not of interest)."""
    seconds = rss = None
    for line in out.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            seconds, rss = row["seconds"], row["peak_rss_mib"]
        elif line.startswith("RESULT "):
            seconds = float(line.split("seconds=")[1].split()[0])
        elif "peak RSS " in line and " kB" in line:
            rss = int(line.split("peak RSS ")[1].split()[0]) / 1024
    return seconds, rss


def check_appended(path, kind, total):
    """None if the file holds every batch (np.arange(rows * 128) in rows of 128, column 0
    set to the batch's number), as every job but dd writes them; dd's only its size."""
    rows = (1 << 20) // (128 * 4)
    if kind == "dd":
        return None if os.path.getsize(path) == total << 20 else f"{path} is not {total} MiB"
    a = (np.memmap(path, dtype="<f4", mode="r").reshape(-1, 128) if kind == "raw"
         else np.load(path, mmap_mode="r"))
    if a.shape != (total * rows, 128) or a.dtype != np.float32:
        return f"{path}: shape {a.shape}, dtype {a.dtype}"
    expected = np.arange(rows * 128, dtype="<f4").reshape(rows, 128)
    for b in range(total):
        batch = a[b * rows:(b + 1) * rows]
        if not (batch[:, 0] == b).all() or not (batch[:, 1:] == expected[:, 1:]).all():
            return f"{path}: batch {b} does not hold what was appended"
    return None


# ---------------------------------------------------------------- main

def main():
    modes = {"regimes": regimes_main, "append": append_main, "job": job_main}
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    if sys.argv[1] not in modes:
        sys.exit(f"unknown mode {sys.argv[1]!r}: regimes, append (or --help)")
    if sys.argv[1] == "job" and np is None:
        sys.exit(f"{sys.executable} has no NumPy")
    modes[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
