#!/usr/bin/env python3
"""NumPy (and Dask) doing the same jobs as ndmmap's benchmarks, for side-by-side ratios.

The repository's own copy of the team's numpy_baseline.py, extended for benches/regimes.sh.
Two ways to call it:

1. The original interface (benches/compare.sh, benches/out_of_core.sh), on raw files:

     numpy_jobs.py JOB DIR N
       JOB  add   c = a + b over three float64 files of N elements (a.bin, b.bin read-only,
                  c.bin created), then c.flush()          -- the seed's Numeric.add(a, b, c)
            sum   sum of a.bin (read-only)
            open  time to map a.bin and read its first and last element
       DIR  folder holding a.bin and b.bin (float64, N elements each; made if missing)

   Prints one JSON line: job, n, seconds, bytes_moved, gb_per_s, peak_rss_mib.

2. The regime jobs (benches/regimes.sh), on .npy files that the Rust side
   (examples/regime_job.rs) reads too:

     numpy_jobs.py CONTENDER JOB INPUT... OUTPUT
       CONTENDER  numpy      np.load(mmap_mode='r') inputs, np.lib.format.open_memmap outputs
                  dask       dask.array.from_array(np.load(p, mmap_mode='r'), chunks=...),
                             da.store into an open_memmap output (threaded scheduler). Since
                             Dask 2024.12 (dask/dask#11850, open) from_array copies any array
                             that has .copy(), a memmap included: the inputs are read into
                             RAM first, and a memory cap smaller than them kills the job.
                  dask-view  the same, but from_array gets the map behind a thin wrapper with
                             shape, dtype and slicing only (as an h5py or zarr array), so it
                             is not copied: each chunk is a view of the map, read when used
       JOB        add          A B C  c = a + b (1-D f64), c created and flushed
                  standardize  X Z    z = (x - mean) / std per column (2-D f64), two passes:
                                      the column statistics, then z, created and flushed
                  c2f          X F    F = X copied into a new Fortran-order .npy, flushed
                  gram         X G    G = X^T X (cols x cols), saved with np.save
                  stats        X S    S = [sum; mean; var] along axis 0 (3 x cols, ddof 0),
                                      saved with np.save

   The time covers opening the inputs, creating the output, the work and the flush of the
   output (not the interpreter's start or imports). Prints one JSON line: contender, job,
   seconds, peak_rss_mib, threads, status. The caller checks the output's values afterwards.

   DASK_CHUNK_MIB (default 16) sets Dask's chunk size: slabs of whole rows of about that
   many MiB. Small enough to run under a 128 MiB memory cap with two threads.
   OPENBLAS_NUM_THREADS defaults to 1 here (see below); Dask uses one thread per core.

Run it in the same benchmark run as the Rust side and report the ratio, not the absolute time.
"""
import json, os, resource, sys, time

if len(sys.argv) > 1 and sys.argv[1] in ("numpy", "dask", "dask-view"):
    # One BLAS thread unless told otherwise (set OPENBLAS_NUM_THREADS). On the 2-core build
    # machine under load, OpenBLAS's two threads took 30-100 s for the Gram matrix of a
    # 1 GiB (n x 32) matrix, one thread 0.65 s; and Dask runs its own threads on top (its
    # docs advise one BLAS thread with the threaded scheduler).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

import numpy as np


# ---------------------------------------------------------------- the original interface

def ensure(path, n):
    if not os.path.exists(path) or os.path.getsize(path) != 8 * n:
        step = 1 << 24
        with open(path, "wb") as f:
            for start in range(0, n, step):
                np.arange(start, min(n, start + step), dtype="<f8").tofile(f)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(job, folder, n):
    a_path, b_path, c_path = (os.path.join(folder, x) for x in ("a.bin", "b.bin", "c.bin"))
    ensure(a_path, n)
    t0 = time.perf_counter()
    if job == "add":
        ensure(b_path, n)
        t0 = time.perf_counter()
        a = np.memmap(a_path, dtype="<f8", mode="r")
        b = np.memmap(b_path, dtype="<f8", mode="r")
        c = np.memmap(c_path, dtype="<f8", mode="w+", shape=(n,))
        np.add(a, b, out=c)
        c.flush()
        moved = 3 * 8 * n
    elif job == "sum":
        a = np.memmap(a_path, dtype="<f8", mode="r")
        float(a.sum())
        moved = 8 * n
    elif job == "open":
        a = np.memmap(a_path, dtype="<f8", mode="r")
        float(a[0] + a[-1])
        moved = 16
    else:
        sys.exit(f"unknown job {job!r}")
    dt = time.perf_counter() - t0
    print(json.dumps({"job": job, "n": n, "seconds": dt, "bytes_moved": moved,
                      "gb_per_s": moved / dt / 1e9, "peak_rss_mib": round(peak_rss_mib(), 1)}))


# ---------------------------------------------------------------- the regime jobs

def open_in(path):
    return np.load(path, mmap_mode="r")


def create_out(path, shape, fortran_order=False):
    return np.lib.format.open_memmap(path, mode="w+", dtype="<f8", shape=shape,
                                     fortran_order=fortran_order)


def numpy_job(job, paths):
    """The jobs as a NumPy user writes them on memmaps (no manual chunking)."""
    if job == "add":
        a, b = open_in(paths[0]), open_in(paths[1])
        c = create_out(paths[2], a.shape)
        np.add(a, b, out=c)
        c.flush()
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
    else:
        sys.exit(f"unknown job {job!r}")


def dask_chunks(shape):
    """Slabs of whole rows of about DASK_CHUNK_MIB MiB."""
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
    if job == "add":
        a, b = load(paths[0]), load(paths[1])
        c = create_out(paths[2], a.shape)
        da.store(a + b, c, lock=False)
        c.flush()
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
    else:
        sys.exit(f"unknown job {job!r}")


def threads(contender, job):
    if contender.startswith("dask"):
        import dask.system
        return dask.system.CPU_COUNT
    # NumPy itself runs on one thread; only BLAS (the Gram matrix) may use more.
    return int(os.environ["OPENBLAS_NUM_THREADS"]) if job == "gram" else 1


def regime(contender, job, paths):
    if contender.startswith("dask"):
        import dask.array  # noqa: F401  -- imported before the clock starts
    t0 = time.perf_counter()
    if contender == "numpy":
        numpy_job(job, paths)
    else:
        dask_job(job, paths, view=contender == "dask-view")
    dt = time.perf_counter() - t0
    print(json.dumps({"contender": contender, "job": job, "seconds": dt,
                      "peak_rss_mib": round(peak_rss_mib(), 1),
                      "threads": threads(contender, job), "status": "ok"}))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] in ("numpy", "dask", "dask-view"):
        if len(sys.argv) < 5:
            sys.exit(__doc__)
        regime(sys.argv[1], sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4:
        baseline(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
