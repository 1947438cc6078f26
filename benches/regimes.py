#!/usr/bin/env python3
"""The driver behind benches/regimes.sh: every job, in every memory regime, by every
contender, side by side in one run, with the disk's own limit measured in the same run.

Run it through regimes.sh (which makes the venv and builds the Rust side); `--help` lists
the options. For each round it

1. measures the disk: reads every input with O_DIRECT (16 MiB aligned reads, as
   `dd iflag=direct bs=16M`), evicted through the page cache, and evicted by populating a
   huge-page map of it; writes a probe of the output's size with O_DIRECT (as
   `dd oflag=direct conv=fdatasync`) and with plain writes, each followed by fdatasync;
   once more after the last round. The disk limit takes the best of the ways for each
   direction, median over the probes;
2. for each job, regime and contender (contender order rotated each round), prepares the
   regime, runs the job as its own process, and checks the output's values:
   - cached:        inputs read once through the page cache just before the job;
   - cold:          sync, then POSIX_FADV_DONTNEED on every input;
   - cold+capNNN:   cold, and the job runs in a fresh cgroup v1 memory cgroup (a child of
                    this process's own) with memory.limit_in_bytes = NNN MiB; page cache
                    counts against it. Skipped, with a message, where there is none.

Each job measures its own time and peak RSS and prints them as JSON (examples/regime_job.rs
for ndmmap, benches/numpy_jobs.py for NumPy and Dask); the driver adds the cgroup's
memory.max_usage_in_bytes and the share of each input that was in the page cache when the
job started (fincore). It prints a table of medians, writes every run to a JSON file and
draws a PNG next to it.
"""
import argparse, json, mmap, os, platform, shutil, statistics, subprocess, sys, time
import numpy as np

# Each job: its inputs (file names in DIR), its output, and the bytes it must move as
# multiples of the input size S: (read, written); "rereads": how many of the reads are
# later passes over the same input, which come from the page cache unless a memory cap
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
}
CONTENDERS = ["numpy", "dask", "dask-view", "plain", "engine"]
LABELS = {"numpy": "NumPy memmap", "dask": "Dask from_array(memmap) (copies it)",
          "dask-view": "Dask from_array(map wrapper)", "plain": "ndmmap plain Zip",
          "engine": "ndmmap chunked engine"}
BLOCK = 16 << 20
X_VERSION = 1  # bump when the matrix's contents change


def log(*args):
    print(*args, flush=True)


def mib(n):
    return n / (1 << 20)


# ---------------------------------------------------------------- inputs

def seed_ok(path, n):
    try:
        a = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    if a.shape != (n,) or a.dtype != np.float64:
        return False
    scale = 1.0 if path.endswith("a.npy") else 2.0
    idx = [0, 1, n // 3, n - 1]
    return all(a[i] == scale * i for i in idx)


def write_seed(path, n, scale):
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
    out.flush()
    del out
    np.savez(ref_path, version=X_VERSION, sum=total, mean=mean, var=m2 / count, gram=gram)
    fsync_and_rename(path + ".part", path)


def ensure_inputs(folder, jobs, size, cols):
    started = time.perf_counter()
    wrote = []
    if "add" in jobs:
        n = size // 8
        for name, scale in (("a.npy", 1.0), ("b.npy", 2.0)):
            path = os.path.join(folder, name)
            if not seed_ok(path, n):
                write_seed(path, n, scale)
                wrote.append(name)
    if any(j != "add" for j in jobs):
        rows = size // (8 * cols)
        path, ref = os.path.join(folder, "x.npy"), os.path.join(folder, "x.ref.npz")
        if not matrix_ok(path, ref, rows, cols):
            write_matrix(path, ref, rows, cols)
            wrote.append("x.npy")
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
    if job == "add":
        n = out.shape[0]
        for i in sample(n):
            if out[i] != 3.0 * i:
                return f"c[{i}] = {out[i]}, expected {3.0 * i}"
        return None
    x = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
    ref = np.load(os.path.join(folder, "x.ref.npz"))
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
    if job == "stats":
        want = np.stack([ref["sum"], ref["mean"], ref["var"]])
        ok = out.shape == want.shape and np.allclose(out, want, rtol=1e-9, atol=1e-9)
        return None if ok else "differs from the reference statistics"
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
    """Writes nbytes (rounded up to 4 KiB) with O_DIRECT, then fdatasync; returns (bytes,
    seconds). The file is removed afterwards."""
    buf = mmap.mmap(-1, BLOCK)
    buf.write(bytes(range(251)) * (BLOCK // 251) + bytes(BLOCK % 251))
    nbytes = (nbytes + 4095) // 4096 * 4096
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
    return [args.python, args.numpy_jobs, contender, job, *paths]


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
    figures["read_gb_s"] = max(figures["read_direct_gb_s"], figures["read_buffered_gb_s"],
                               figures["read_populated_gb_s"])
    figures["write_gb_s"] = max(figures["write_direct_gb_s"], figures["write_buffered_gb_s"])
    return figures


def disk_line(d):
    populated = d.get("read_populated_gb_s")
    populated = f", huge-page populate {populated:.2f}" if populated is not None else ""
    return (f"read {d['read_gb_s']:.2f} GB/s (O_DIRECT {d['read_direct_gb_s']:.2f}, "
            f"cold buffered {d['read_buffered_gb_s']:.2f}{populated}), "
            f"write {d['write_gb_s']:.2f} GB/s "
            f"(O_DIRECT {d['write_direct_gb_s']:.2f}, buffered {d['write_buffered_gb_s']:.2f}; "
            f"both + fdatasync)")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- summary, table, plot

# The memory cap of each capped regime, in bytes (set by main or replot).
CAPS = {}


def disk_bound(job, regime, size, disk):
    """Seconds the disk alone needs for the job: reading its inputs (unless cached) at the
    best read rate measured, writing its output at the best write rate (+ fdatasync). A later
    pass over an input counts as a read only under a cap too small to keep it cached."""
    reads, writes = JOBS[job]["moves"]
    rereads = JOBS[job].get("rereads", 0)
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


def plot(summary, jobs, regimes, contenders, size, disk, png, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        log("matplotlib is missing: no plot")
        return
    cols = len(jobs)
    fig, axes = plt.subplots(2, cols, figsize=(max(8.0, 4.4 * cols), 8.4), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / len(contenders)
    colors = {"numpy": "tab:blue", "dask": "tab:orange", "dask-view": "tab:brown",
              "plain": "tab:green", "engine": "tab:red"}
    for col, job in enumerate(jobs):
        ax, mem = axes[0][col], axes[1][col]
        reads, writes = JOBS[job]["moves"]
        moved = (reads + writes) * size
        for k, c in enumerate(contenders):
            for i, regime in enumerate(regimes):
                r = next((r for r in summary if (r["job"], r["regime"], r["contender"]) ==
                          (job, regime, c)), None)
                if r is None:
                    continue
                xpos = i - 0.4 + width * (k + 0.5)
                label = LABELS[c] if i == 0 else None
                if "gb_s" in r:
                    lo, hi = moved / r["max"] / 1e9, moved / r["min"] / 1e9
                    ax.bar(xpos, r["gb_s"], width, color=colors[c], label=label,
                           yerr=[[r["gb_s"] - lo], [hi - r["gb_s"]]], capsize=2)
                else:
                    note = r["notes"][0].split(":")[0] if r["notes"] else "?"
                    ax.bar(xpos, 0, width, color=colors[c], label=label)
                    ax.text(xpos, 0, note, rotation=90, ha="center", va="bottom", fontsize=7)
                # Memory: the job's peak RSS, and its cgroup's peak (page cache included)
                # as a hollow bar where capped.
                if r.get("ok") and r["peak_rss_mib"]:
                    mem.bar(xpos, r["peak_rss_mib"], width, color=colors[c])
                not_yet = r["notes"] and all(n.startswith("not yet") for n in r["notes"])
                if r["cgroup_peak_mib"] and not not_yet:
                    mem.bar(xpos, r["cgroup_peak_mib"], width, fill=False,
                            edgecolor=colors[c], linestyle=":")
        for i, regime in enumerate(regimes):
            bound = disk_bound(job, regime, size, disk)
            if bound == 0:  # nothing to read or write: no disk limit
                continue
            limit = moved / bound / 1e9
            ax.hlines(limit, i - 0.45, i + 0.45, colors="black", linestyles="dashed",
                      label="disk limit (cached: writing only)" if i == 0 else None)
        for a in (ax, mem):
            a.set_xticks(range(len(regimes)), regimes, fontsize=8)
            a.grid(True, axis="y", alpha=0.3)
        ax.set_title(f"{job}: {JOBS[job]['what']}", fontsize=8, wrap=True)
        ax.set_ylabel("GB/s (bytes the job must move / median)", fontsize=8)
        mem.set_yscale("log", base=2)
        mem.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        mem.set_ylabel("peak RSS, MiB (dotted: cgroup peak)", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    log(f"plot: {png}")


# ---------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replot", metavar="JSON",
                   help="only summarise a results file again: table, JSON summary, PNG")
    p.add_argument("--size", type=int, help="bytes per input")
    p.add_argument("--dir", help="folder for the inputs and outputs")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jobs", default="add,standardize,c2f,gram,stats")
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--regimes", default="cached,cold,capped",
                   help="any of cached, cold, capped (one capped regime per --caps entry)")
    p.add_argument("--caps", default="128,1024", help="memory caps in MiB")
    p.add_argument("--cols", type=int, default=32, help="columns of the 2-D input x")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--regime-job", help="the built examples/regime_job")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--numpy-jobs", default=os.path.join(here, "numpy_jobs.py"))
    p.add_argument("--out", help="JSON of every run; the PNG goes next to it")
    p.add_argument("--command", default=" ".join(sys.argv), help="recorded in the JSON")
    args = p.parse_args()
    if args.replot:
        return replot(args.replot)
    if not (args.size and args.dir and args.regime_job and args.out):
        p.error("--size, --dir, --regime-job and --out are needed")

    jobs = [j for j in args.jobs.split(",") if j]
    contenders = [c for c in args.contenders.split(",") if c]
    for j in jobs:
        if j not in JOBS:
            sys.exit(f"unknown job {j!r}: {', '.join(JOBS)}")
    for c in contenders:
        if c not in CONTENDERS:
            sys.exit(f"unknown contender {c!r}: {', '.join(CONTENDERS)}")
    size = args.size
    if size <= 0 or size % (8 * args.cols):
        sys.exit(f"size {size} is not a positive multiple of a row (8 x {args.cols} bytes)")
    os.makedirs(args.dir, exist_ok=True)

    wanted = args.regimes.split(",")
    regimes = [r for r in ("cached", "cold") if r in wanted]
    caps = {}
    if "capped" in wanted:
        base, why = cgroup_base()
        if base is None:
            log(f"capped regimes skipped: {why}")
        else:
            for cap in (int(c) for c in args.caps.split(",") if c):
                name = f"cold+cap{cap}M" if cap < 1024 else f"cold+cap{cap // 1024}G"
                regimes.append(name)
                caps[name] = cap << 20
    else:
        base = None
    CAPS.update(caps)

    inputs_needed = 3 * size if "add" in jobs else 0
    inputs_needed += size if any(j != "add" for j in jobs) else 0
    free = shutil.disk_usage(args.dir).free
    log(f"{len(jobs)} job(s) x {len(regimes)} regime(s) x {len(contenders)} contender(s) x "
        f"{args.rounds} round(s); inputs of {mib(size):.0f} MiB; {args.dir} has "
        f"{free / (1 << 30):.1f} GiB free")
    if free < inputs_needed + 2 * size:
        sys.exit(f"not enough free space in {args.dir}")
    ensure_inputs(args.dir, jobs, size, args.cols)

    all_inputs = sorted({os.path.join(args.dir, p) for j in jobs for p in JOBS[j]["inputs"]})
    meta = {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": args.command, "size_bytes": size, "cols": args.cols,
            "rounds": args.rounds, "jobs": jobs, "regimes": regimes, "contenders": contenders,
            "caps_mib": {k: v >> 20 for k, v in caps.items()},
            "dask_chunk_mib": int(os.environ.get("DASK_CHUNK_MIB", "16")),
            "cores": os.cpu_count(), "kernel": platform.release(),
            "numpy": np.__version__, "load_before": loadavg()}
    try:
        import dask
        meta["dask"] = dask.__version__
    except ImportError:
        pass
    runs, disks = [], []
    for rnd in range(1, args.rounds + 1):
        disk = measure_disk(args.dir, all_inputs, size)
        disk["round"] = rnd
        disks.append(disk)
        log(f"round {rnd}/{args.rounds} (load {loadavg()}): disk {disk_line(disk)}")
        order = contenders[rnd - 1:] + contenders[:rnd - 1]
        for job in jobs:
            spec = JOBS[job]
            inputs = [os.path.join(args.dir, p) for p in spec["inputs"]]
            output = os.path.join(args.dir, spec["output"])
            for regime in regimes:
                for c in order:
                    cached = prepare(regime, inputs, output)
                    load = loadavg()
                    row = run_job(command(c, job, args.dir, args), caps.get(regime), base,
                                  args.timeout)
                    row.update(job=job, regime=regime, contender=c, round=rnd, load=load,
                               inputs_cached=cached)
                    if row.get("status") == "ok":
                        wrong = check(job, args.dir, output)
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

    disk = measure_disk(args.dir, all_inputs, size)  # once more, after the last job
    disk["round"] = "end"
    disks.append(disk)
    log(f"after the last round (load {loadavg()}): disk {disk_line(disk)}")
    disk = {k: statistics.median(d[k] for d in disks) for k in disks[0] if k.endswith("gb_s")}
    meta["disk_probes"] = len(disks)
    meta["load_after"] = loadavg()
    summary = summarise(runs, jobs, regimes, contenders, size, disk)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "disk": disks, "disk_median": disk, "summary": summary,
                   "runs": runs}, f, indent=1)
    report(meta, disk, summary, args.out)


def replot(path):
    with open(path) as f:
        saved = json.load(f)
    meta = saved["meta"]
    disk = saved["disk_median"]
    CAPS.update({k: v << 20 for k, v in meta["caps_mib"].items()})
    summary = summarise(saved["runs"], meta["jobs"], meta["regimes"], meta["contenders"],
                        meta["size_bytes"], disk)
    saved["summary"] = summary  # as this version of the script computes it
    with open(path, "w") as f:
        json.dump(saved, f, indent=1)
    report(meta, disk, summary, path)


def report(meta, disk, summary, out):
    """Prints the figures and the table, and draws the PNG next to `out`."""
    jobs, regimes, size = meta["jobs"], meta["regimes"], meta["size_bytes"]
    rounds = meta["rounds"]
    log(f"\n{meta['date_utc']}, {meta['cores']} cores, Linux {meta['kernel']}, NumPy "
        f"{meta['numpy']}, Dask {meta.get('dask', '-')}, load {meta['load_before']} before, "
        f"{meta['load_after']} after; median of {rounds} round(s); inputs "
        f"{mib(size):.0f} MiB each")
    log(f"command: {meta['command']}")
    if "read_direct_gb_s" in disk:
        log(f"disk limit (medians of {meta.get('disk_probes', '?')} probes): {disk_line(disk)}")
    else:  # results of the first version, O_DIRECT only
        log(f"disk limit (medians): read {disk['read_gb_s']:.2f} GB/s with O_DIRECT, write "
            f"{disk['write_gb_s']:.2f} GB/s with O_DIRECT + fdatasync")
    if "add" in jobs:
        log(f"seed add disk-bound time: {2 * size / 1e9:.3f} GB / {disk['read_gb_s']:.2f} "
            f"GB/s + {size / 1e9:.3f} GB / {disk['write_gb_s']:.2f} GB/s = "
            f"{disk_bound('add', 'cold', size, disk):.3f} s")
    print_table(summary, jobs, regimes, size, disk)
    log(f"\nresults: {out}")
    png = os.path.splitext(out)[0] + ".png"
    title = (f"inputs of {mib(size):.0f} MiB, {meta['date_utc']}, load {meta['load_before']} "
             f"before, {meta['load_after']} after; median of {rounds} rounds, bars from the "
             f"slowest to the fastest")
    plot(summary, jobs, regimes, meta["contenders"], size, disk, png, title)


if __name__ == "__main__":
    main()
