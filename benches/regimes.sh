#!/usr/bin/env bash
# Every out-of-core job in every memory regime, side by side in one run: ndmmap's chunked
# engine, plain ndarray on the same maps, NumPy memmap and Dask, with the disk's own limit
# measured in the same run. Prints a table, writes every run to a JSON file and a PNG next
# to it.
#
# usage: [ROUNDS=3] [JOBS=...] [CONTENDERS=...] [REGIMES=...] [CAPS=128,1024] [COLS=32]
#        [DASK_CHUNK_MIB=16] [TIMEOUT=600] [OUT=file.json] benches/regimes.sh SIZE DIR
#   SIZE  bytes of each input: 512M, 512MiB, 1G, 4GiB, ... (MiB or GiB). The seed's add
#         reads two 1-D inputs of SIZE (a.npy, b.npy) and writes c.npy; the other jobs read
#         one C-order matrix x.npy of SIZE, shape (SIZE / (8 * COLS), COLS).
#   DIR   folder for the inputs (written once, reused while their size is right), the
#         outputs (removed after each job) and, by default, the results. Keep it out of
#         the repository; it needs 3 x SIZE free for the add, plus 2 x SIZE for the others.
#   JOBS        comma-separated, of add, standardize, c2f, gram, stats (default: all)
#   CONTENDERS  of numpy, dask, dask-view, plain, engine (default: all; see numpy_jobs.py)
#   REGIMES     of cached, cold, capped (default: all; capped = one regime per CAPS entry)
#   CAPS        memory caps in MiB for the capped regimes (cgroup v1, page cache included)
#   OUT         the JSON file (default DIR/regimes-SIZE-JOBS.json); the PNG goes next to it
#
# The bench's Python (NumPy, Dask, matplotlib) lives in its own venv, benches/.venv (or
# $BENCH_VENV), made here with pip if missing; it is not the tests' .venv. The Rust side is
# examples/regime_job.rs, built --release with the rayon feature. Capped regimes need root
# and cgroup v1 at /sys/fs/cgroup/memory; without them they are skipped with a message.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -eq 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
size_arg=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

case $size_arg in
    *[0-9]M | *[0-9]MiB) size=$(( ${size_arg%%M*} << 20 )) ;;
    *[0-9]G | *[0-9]GiB) size=$(( ${size_arg%%G*} << 30 )) ;;
    *) echo "regimes.sh: SIZE must be a whole number of MiB or GiB (512M, 1G), not $size_arg" >&2
       exit 2 ;;
esac
case $dir/ in
    "$repo"/*) echo "regimes.sh: DIR is inside the repository; use a folder outside it" >&2
               exit 2 ;;
esac

venv=${BENCH_VENV:-$repo/benches/.venv}
if ! "$venv/bin/python" -c 'import numpy, dask.array, matplotlib' 2>/dev/null; then
    echo "making the bench venv in $venv (numpy, dask[array], matplotlib)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'numpy>=2,<3' 'dask[array]' matplotlib
fi

cargo build --quiet --release --features rayon --example regime_job --manifest-path "$repo/Cargo.toml"
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# The command as typed, with the settings that were given, for the record.
command=""
for var in CARGO_TARGET_DIR BENCH_VENV ROUNDS JOBS CONTENDERS REGIMES CAPS COLS DASK_CHUNK_MIB TIMEOUT OUT; do
    if [[ -n ${!var:-} ]]; then command+="$var=${!var} "; fi
done
command+="bash benches/regimes.sh $*"
jobs=${JOBS:-add,standardize,c2f,gram,stats}
out=${OUT:-$dir/regimes-$size_arg-${jobs//,/-}.json}
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), load: $(uptime)"
exec "$venv/bin/python" "$repo/benches/regimes.py" \
    --size "$size" --dir "$dir" --rounds "${ROUNDS:-3}" --jobs "$jobs" \
    --contenders "${CONTENDERS:-numpy,dask,dask-view,plain,engine}" \
    --regimes "${REGIMES:-cached,cold,capped}" --caps "${CAPS:-128,1024}" \
    --cols "${COLS:-32}" --timeout "${TIMEOUT:-600}" \
    --regime-job "$target_dir/release/examples/regime_job" \
    --python "$venv/bin/python" --numpy-jobs "$repo/benches/numpy_jobs.py" \
    --out "$out" --command "$command"
