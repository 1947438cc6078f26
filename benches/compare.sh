#!/usr/bin/env bash
# The seed's job, c = a + b over three f64 files, done side by side in one run on the same
# files: ndmmap (examples/add.rs: plain Zip parallel and serial, and the chunked engine), a
# read-into-RAM baseline, and NumPy's
# memmap (benches/numpy_jobs.py add). Prints one table with ratios to NumPy.
#
# usage: [ROUNDS=3] [VERBOSE=1] benches/compare.sh [N [DIR]]
#   N    elements per array (default 67108864: 512 MiB of f64 each, 1.5 GiB of files)
#   DIR  folder for a.bin, b.bin, c.bin; kept and reused if given, else a temporary one
#        that is removed at the end
# Python (with NumPy) is $NDMMAP_PYTHON, else the repository's .venv/bin/python.
# ROUNDS rounds run the five jobs in turn; the table gives each job's median (and range),
# which a busy machine disturbs less than a single run. VERBOSE=1 shows each job's report.
#
# Each job's time covers mapping (or reading) a and b, creating c, the add, and the flush
# (or write + fsync) of c to disk; preparing the inputs is not timed. An untimed warm-up run
# comes first, so every job finds a and b in the page cache; c.bin is removed before each.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-67108864}
rounds=${ROUNDS:-3}
baseline="$repo/benches/numpy_jobs.py"
python=${NDMMAP_PYTHON:-$repo/.venv/bin/python}

[[ -f $baseline ]] || { echo "compare.sh: no NumPy baseline at $baseline" >&2; exit 1; }
"$python" -c 'import numpy' 2>/dev/null || {
    echo "compare.sh: no Python with NumPy at $python (set NDMMAP_PYTHON)" >&2
    exit 1
}

results=$(mktemp)
if [[ $# -ge 2 ]]; then
    dir=$2
    mkdir -p "$dir"
    trap 'rm -f "$results"' EXIT
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ndmmap-compare-XXXXXX")
    trap 'rm -f "$results"; rm -rf "$dir"' EXIT
fi
need_mib=$((3 * 8 * n / 1048576))
echo "N = $n f64 per array ($((8 * n / 1048576)) MiB each, ${need_mib} MiB of files) in $dir"
df -h "$dir" | tail -1

cargo build --quiet --release --features rayon --example add --manifest-path "$repo/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
add="$target_dir/release/examples/add"

# Runs one job with no c.bin left over; keeps its JSON line.
run() {
    rm -f "$dir/c.bin"
    local out
    out=$("$@")
    if [[ ${VERBOSE:-} == 1 ]]; then grep -v '^{' <<<"$out" | sed 's/^/    /' || true; fi
    grep '^{' <<<"$out" | tee -a "$results" |
        "$python" -c 'import json; r = json.loads(input()); print("  %-18s %.3f s" % (r["job"], r["seconds"]))'
}

echo "warm-up (untimed): writes or checks the inputs, loads them into the page cache"
"$add" --dir "$dir" --n "$n" >/dev/null
rm -f "$dir/c.bin"

for ((round = 1; round <= rounds; round++)); do
    echo "round $round of $rounds"
    run "$python" "$baseline" add "$dir" "$n"
    run "$add" --dir "$dir" --n "$n"
    run "$add" --dir "$dir" --n "$n" --serial
    run "$add" --dir "$dir" --n "$n" --engine
    run "$add" --dir "$dir" --n "$n" --in-ram
done
rm -f "$dir/c.bin"

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr)," \
    "NumPy $("$python" -c 'import numpy; print(numpy.__version__)'), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg), median of $rounds rounds"
"$python" - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
jobs = {}
for r in rows:
    jobs.setdefault(r["job"], []).append(r)
names = {"add": "numpy memmap add", "ndmmap-add": "ndmmap add (rayon)",
         "ndmmap-add-serial": "ndmmap add (1 thread)", "ndmmap-add-engine": "ndmmap chunked engine",
         "ndmmap-add-in-ram": "read, add, write (RAM)"}
median = {job: statistics.median(r["seconds"] for r in rs) for job, rs in jobs.items()}
print(f"{'job':<24} {'seconds':>8} {'range':>13} {'GB/s':>6} {'peak RSS MiB':>13} {'time / NumPy':>13}")
for job, rs in jobs.items():
    secs = [r["seconds"] for r in rs]
    print(f"{names.get(job, job):<24} {median[job]:>8.3f} {min(secs):>6.3f}-{max(secs):<6.3f} "
          f"{rs[0]['bytes_moved'] / median[job] / 1e9:>6.2f} "
          f"{max(r['peak_rss_mib'] for r in rs):>13.1f} {median[job] / median['add']:>13.2f}")
print("GB/s counts 3 * 8 * N bytes (read a, read b, write c) over the median time;")
print("time / NumPy is the ratio of medians, below 1 is faster.")
EOF
