#!/usr/bin/env bash
# Appending 1 MiB batches of f32 rows (128 wide) to a growing file until it holds TOTAL MiB,
# side by side in one run on the same disk: dd's sequential write bandwidth, ndmmap
# (examples/append.rs: .npy by default, .npy with set_sync_on_grow(false), raw), and NumPy
# (open_memmap on a file preallocated at the final size, and np.save of a growing array,
# which rewrites the whole file per batch). Every job ends with its data on disk (fdatasync,
# msync or fsync). Prints MiB/s, the ratio to dd, and the peak RSS of each job: the median
# of ROUNDS rounds (default 3) that run the jobs in turn, since a shared machine and a
# virtual disk make single runs noisy. After its first timed run, each job's file is checked
# (outside the timing): NumPy loads it and finds every batch it should hold.
#
# usage: [ROUNDS=3] benches/append.sh [TOTAL_MIB [DIR]]
#   TOTAL_MIB  default 4096 (4 GiB); the disk needs that much free (checked)
#   DIR        folder for the files (default: a temporary one, removed at the end)
#   NP_SAVE_MIB  total for the np.save job (default 64): it writes TOTAL^2/2 MiB
# Python (with NumPy) is $NDMMAP_PYTHON, else the repository's .venv/bin/python.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
total=${1:-4096}
np_save_total=${NP_SAVE_MIB:-64}
python=${NDMMAP_PYTHON:-$repo/.venv/bin/python}
"$python" -c 'import numpy' 2>/dev/null || {
    echo "append.sh: no Python with NumPy at $python (set NDMMAP_PYTHON)" >&2
    exit 1
}
if [[ $# -ge 2 ]]; then
    dir=$2
    mkdir -p "$dir"
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ndmmap-append-XXXXXX")
fi
free_mib=$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')
if ((free_mib < total + 1024)); then
    echo "append.sh: $dir has $free_mib MiB free, not enough for $total MiB; pass a smaller TOTAL_MIB" >&2
    exit 1
fi
echo "TOTAL = $total MiB in 1 MiB batches, in $dir ($free_mib MiB free)"

export NDMMAP_APPEND_NO_CHECK=1 # keep Python out of the RSS figures; `verify` checks instead
cargo build --quiet --release --example append --manifest-path "$repo/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
append="$target_dir/release/examples/append"

read -r -d '' open_memmap <<'PY' || true
import os, sys, time
import numpy as np
from numpy.lib.format import open_memmap
path, total = sys.argv[1], int(sys.argv[2])
rows = (1 << 20) // (128 * 4)
batch = np.arange(rows * 128, dtype='<f4').reshape(rows, 128)
start = time.perf_counter()
m = open_memmap(path, mode='w+', dtype='<f4', shape=(total * rows, 128))
for b in range(total):
    batch[:, 0] = b
    m[b * rows:(b + 1) * rows] = batch
m.flush()
del m
fd = os.open(path, os.O_RDONLY); os.fsync(fd); os.close(fd)
print("RESULT mib=%d seconds=%.3f" % (total, time.perf_counter() - start))
PY

read -r -d '' np_save <<'PY' || true
import os, sys, time
import numpy as np
path, total = sys.argv[1], int(sys.argv[2])
rows = (1 << 20) // (128 * 4)
batch = np.arange(rows * 128, dtype='<f4').reshape(rows, 128)
start = time.perf_counter()
a = np.empty((0, 128), dtype='<f4')
for b in range(total):
    batch[:, 0] = b
    a = np.concatenate([a, batch])
    with open(path, 'wb') as f:
        np.save(f, a)
        f.flush(); os.fsync(f.fileno())
print("RESULT mib=%d seconds=%.3f" % (total, time.perf_counter() - start))
PY

# Checks a job's file: the shape and every batch (np.arange(rows * 128) in rows of 128,
# with column 0 set to the batch's number), as every job writes them; dd's only its size.
read -r -d '' verify_py <<'PY' || true
import sys
import numpy as np
path, kind, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = (1 << 20) // (128 * 4)
if kind == "raw":
    a = np.memmap(path, dtype='<f4', mode='r').reshape(-1, 128)
else:
    a = np.load(path, mmap_mode='r')
assert a.shape == (mib * rows, 128) and a.dtype == np.float32, (path, a.shape, a.dtype)
expected = np.arange(rows * 128, dtype='<f4').reshape(rows, 128)
for b in range(mib):
    batch = a[b * rows:(b + 1) * rows]
    assert (batch[:, 0] == b).all(), f"{path}: batch {b}: column 0 is not {b}"
    assert (batch[:, 1:] == expected[:, 1:]).all(), f"{path}: batch {b}: wrong values"
PY
verify() {
    local name=$1 file=$2 kind=$3 mib=$4
    if [[ $kind == dd ]]; then
        [[ $(stat -c %s "$file") -eq $((mib << 20)) ]] || {
            echo "append.sh: $name: $file is not $mib MiB" >&2
            exit 1
        }
    else
        "$python" -c "$verify_py" "$file" "$kind" "$mib" || {
            echo "append.sh: $name: $file does not hold what was appended" >&2
            exit 1
        }
    fi
    printf '    %-38s checked\n' "$name"
}

results=$(mktemp)
trap 'rm -f "$results"; [[ $# -ge 2 ]] || rm -rf "$dir"' EXIT
# Runs one job (after removing its file and syncing); records MiB, seconds and peak RSS.
# In the first round, then checks the file the job wrote (KIND npy, raw or dd; MIB in it).
job() {
    local name=$1 file=$2 kind=$3 expect_mib=$4
    shift 4
    rm -f "$file"
    sync
    local out rss mib seconds mibs
    out=$(/usr/bin/time -f 'RSS %M' "$@" 2>&1)
    rss=$(awk '/^RSS/ { printf "%.0f", $2 / 1024 }' <<<"$out")
    if [[ $name == dd ]]; then
        seconds=$(grep -o '[0-9.]* s,' <<<"$out" | tr -d ' s,')
        mib=$total
    else
        mib=$(grep -o 'mib=[0-9]*' <<<"$out" | cut -d= -f2)
        seconds=$(grep -o 'seconds=[0-9.]*' <<<"$out" | cut -d= -f2)
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$mib" "$seconds" "$rss" >>"$results"
    printf '    %-38s %6s MiB in %8.2f s\n' "$name" "$mib" "$seconds"
    if [[ $round == 1 ]]; then
        verify "$name" "$file" "$kind" "$expect_mib"
    fi
    rm -f "$file"
}

for round in $(seq "${ROUNDS:-3}"); do
    echo "  round $round"
    job dd "$dir/dd.bin" dd "$total" dd if=/dev/zero of="$dir/dd.bin" bs=1M count="$total" conv=fdatasync
    job "ndmmap .npy, default (group commit)" "$dir/a.npy" npy "$total" "$append" "$dir/a.npy" "$total" 1 npy
    job "ndmmap .npy, set_sync_on_grow(false)" "$dir/b.npy" npy "$total" "$append" "$dir/b.npy" "$total" 1 npy-nosync
    job "ndmmap raw" "$dir/c.bin" raw "$total" "$append" "$dir/c.bin" "$total" 1 raw
    job "NumPy open_memmap, preallocated" "$dir/d.npy" npy "$total" "$python" -c "$open_memmap" "$dir/d.npy" "$total"
    job "NumPy np.save of growing array" "$dir/e.npy" npy "$np_save_total" "$python" -c "$np_save" "$dir/e.npy" "$np_save_total"
done

echo "median of ${ROUNDS:-3} rounds (MiB/s from the median time; range in brackets):"
"$python" - "$results" <<'PY'
import statistics, sys
jobs = {}
for line in open(sys.argv[1]):
    name, mib, seconds, rss = line.rstrip("\n").split("\t")
    jobs.setdefault(name, []).append((int(mib), float(seconds), int(rss)))
dd = None
for name, runs in jobs.items():
    mib = runs[0][0]
    times = [s for _, s, _ in runs]
    rate = mib / statistics.median(times)
    dd = dd or rate
    print("  %-38s %5d MiB  %6.0f MiB/s [%.0f-%.0f]  %5.2f x dd  peak RSS %5d MiB" % (
        name, mib, rate, mib / max(times), mib / min(times), rate / dd, max(r for _, _, r in runs)))
PY
