#!/usr/bin/env bash
# The out-of-core comparison: c = a + b on f64 files, in one run, on the same files, for
# each size given (MiB per array):
#
#   plain      ndmmap, a plain ndarray `Zip` over the maps, then flush (examples/add.rs)
#   in-ram     read a and b into memory, add, write c back and sync (examples/add.rs --in-ram)
#   chunked    ndmmap's out-of-core engine, ndmmap::chunked::Zip (examples/out_of_core.rs)
#   numpy      NumPy memmap: np.add(a, b, out=c); c.flush() (benches/numpy_jobs.py add)
#   chunked-cold  the engine with a and b dropped from the page cache first (read from disk),
#              with the disk's sequential bandwidth measured in the same run
#
# Inputs are cached (written, then reused) for every job but chunked-cold; every job flushes
# c to disk. Each job runs REPEAT times (interleaved); the table shows the fastest run's time
# and the largest peak RSS seen. It prints a table and writes benches/out_of_core.png
# (throughput and peak RSS vs size) and the raw JSON lines to $DIR/results.jsonl.
#
# Usage:  benches/out_of_core.sh [MIB ...]          (default: 64 256 1024 4096)
# Env:    DIR=folder for the files (default /tmp/ndmmap-ooc-bench; needs 3 x the largest
#         size free), REPEAT=runs per job (default 3), RAYON_NUM_THREADS as usual,
#         PYTHON=python with numpy and matplotlib (default /work/main/.venv/bin/python or
#         .venv/bin/python next to Cargo.toml).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(64 256 1024 4096)
dir="${DIR:-/tmp/ndmmap-ooc-bench}"
repeat="${REPEAT:-3}"
python="${PYTHON:-$root/.venv/bin/python}"
numpy_script="$root/benches/numpy_jobs.py"
target="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$dir"

largest=0
for mib in "${sizes[@]}"; do [ "$mib" -gt "$largest" ] && largest=$mib; done
free_mib=$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')
if [ $((3 * largest + 2048)) -gt "$free_mib" ]; then
    echo "error: $dir has $free_mib MiB free; 3 x $largest MiB and a probe do not fit" >&2
    exit 1
fi

(cd "$root" && cargo build --release --features rayon --example add --example out_of_core)
add="$target/release/examples/add"
ooc="$target/release/examples/out_of_core"
results="$dir/results.jsonl"
: > "$results"

# Runs one job and appends its JSON line, tagged with the size and the tool.
run() {
    local tool=$1 mib=$2
    shift 2
    local line
    line=$("$@" 2>/dev/null | tail -n 1)
    echo "{\"tool\": \"$tool\", \"mib\": $mib, \"result\": $line}" >> "$results"
    printf '  %-13s %s\n' "$tool" "$line"
}

for mib in "${sizes[@]}"; do
    n=$((mib << 17))
    echo "== $mib MiB per array ($n f64)"
    # Write the inputs once (a[i] = i, b[i] = 2 i, as both examples expect) and measure the
    # disk with a probe of min(size, 2 GiB).
    run chunked-cold "$mib" "$ooc" --dir "$dir" --mib "$mib" --cold
    for ((r = 1; r <= repeat; r++)); do
        run plain "$mib" "$add" --dir "$dir" --mib "$mib"
        run in-ram "$mib" "$add" --dir "$dir" --mib "$mib" --in-ram
        run chunked "$mib" "$ooc" --dir "$dir" --mib "$mib" --no-probe
        run numpy "$mib" "$python" "$numpy_script" add "$dir" "$n"
        if [ "$r" -gt 1 ]; then
            run chunked-cold "$mib" "$ooc" --dir "$dir" --mib "$mib" --cold
        fi
    done
done

"$python" - "$results" "$root/benches/out_of_core.png" <<'EOF'
import json, sys
from collections import defaultdict

results_path, png_path = sys.argv[1], sys.argv[2]
runs = defaultdict(list)
for line in open(results_path):
    row = json.loads(line)
    runs[(row["mib"], row["tool"])].append(row["result"])

tools = ["plain", "in-ram", "chunked", "numpy", "chunked-cold"]
sizes = sorted({mib for mib, _ in runs})
best = {}
for key, rs in runs.items():
    fastest = min(rs, key=lambda r: r["seconds"])
    best[key] = dict(fastest, peak_rss_mib=max(r["peak_rss_mib"] for r in rs), runs=len(rs))

print()
print(f"{'MiB/array':>9} {'job':<13} {'runs':>4} {'seconds':>8} {'GB/s':>6} "
      f"{'peak RSS MiB':>12} {'x NumPy':>8}  note")
for mib in sizes:
    numpy = best.get((mib, "numpy"))
    for tool in tools:
        r = best.get((mib, tool))
        if r is None:
            continue
        ratio = f"{numpy['seconds'] / r['seconds']:.2f}" if numpy else "-"
        note = ""
        if "disk_write_gb_s" in r:
            disk = 2 * 8 * r["n"] / (r["disk_read_gb_s"] * 1e9) + 8 * r["n"] / (r["disk_write_gb_s"] * 1e9)
            note = (f"disk: write {r['disk_write_gb_s']:.2f} GB/s, read {r['disk_read_gb_s']:.2f} GB/s;"
                    f" {100 * disk / r['seconds']:.0f}% of its bandwidth")
        print(f"{mib:>9} {tool:<13} {r['runs']:>4} {r['seconds']:>8.3f} {r['gb_per_s']:>6.2f} "
              f"{r['peak_rss_mib']:>12.1f} {ratio:>8}  {note}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError:
    sys.exit("matplotlib is missing: pip install matplotlib (no plot written)")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
styles = {"plain": "o-", "in-ram": "s-", "chunked": "D-", "numpy": "^-", "chunked-cold": "D--"}
labels = {"plain": "ndmmap plain Zip", "in-ram": "read into RAM, write back",
          "chunked": "ndmmap chunked engine", "numpy": "NumPy memmap",
          "chunked-cold": "chunked engine, inputs cold"}
for tool in tools:
    xs = [mib for mib in sizes if (mib, tool) in best]
    if not xs:
        continue
    left.plot(xs, [best[(m, tool)]["gb_per_s"] for m in xs], styles[tool], label=labels[tool])
    right.plot(xs, [best[(m, tool)]["peak_rss_mib"] for m in xs], styles[tool], label=labels[tool])
for ax in (left, right):
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [f"{m} MiB" if m < 1024 else f"{m // 1024} GiB" for m in sizes])
    ax.set_xlabel("size of each array (c = a + b, f64, c flushed)")
    ax.grid(True, which="both", alpha=0.3)
left.set_ylabel("throughput, GB/s (3 arrays moved / time)")
left.set_title("Throughput (higher is better)\ninputs cached except the dashed line", fontsize=10)
right.set_yscale("log", base=2)
right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
    lambda v, _: f"{v / 1024:g} GiB" if v >= 1024 else f"{v:g} MiB"))
right.set_ylabel("peak RSS, MiB")
right.set_title("Peak resident set (lower is better)\nplain Zip, in-RAM and NumPy overlap", fontsize=10)
right.legend(loc="upper left", fontsize=8)
fig.suptitle("c = a + b on mapped files: ndmmap (plain Zip, chunked engine) vs NumPy memmap")
fig.tight_layout()
fig.savefig(png_path, dpi=110)
print(f"\nplot: {png_path}\nraw results: {results_path}")
EOF
