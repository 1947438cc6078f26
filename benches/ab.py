"""Interleaved A/B runs of `regime_job` builds: which of two (or more) builds of the engine
is faster, in rounds whose order is shuffled, so that a slow minute of this noisy machine
hits every variant alike. `regimes.sh` compares ndmmap with NumPy and Dask on one build;
this compares builds (a change against main, say) on one job.

usage: python benches/ab.py ROUNDS REGIMES NAME=BINARY:CONTENDER ...

  ROUNDS     rounds; each runs every variant once per regime, in a new random order
  REGIMES    comma-separated, of: cached, cold (inputs evicted first), twice (cold, then at
             once again with whatever the first run left in the page cache, reported as
             "second"), cap128 and cap1G (cold, in a memory cgroup of that size)
  NAME=BINARY:CONTENDER
             a variant: a `regime_job` binary (copy target/release/examples/regime_job
             aside after building each variant) and its contender, engine or plain

The job and its files come from the environment: JOB (default add), INS (comma-separated
inputs; default a.npy,b.npy in DIR) and OUT (default c.npy in DIR), DIR defaulting to
/work/benchdata; make the seed's inputs first with `regimes.sh`. Prints each run, then per
regime and variant the median time, user and system CPU seconds, minor faults and every
run's time.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regimes as R  # noqa: E402

CAPS = {"cap128": 128 << 20, "cap1G": 1 << 30}


def run(binary, contender, job, ins, out, cap, base):
    cgroup = R.Cgroup(base, cap) if cap else None
    if cgroup:
        cgroup.__enter__()
    try:
        proc = subprocess.Popen(
            [binary, contender, job, *ins, out],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=cgroup.enter if cgroup else None,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        lines = [line for line in proc.stdout.read().splitlines() if line.startswith("{")]
        if status != 0 or not lines:
            sys.exit(f"{binary} {contender} {job} failed ({status}): {proc.stderr.read()}")
    finally:
        if cgroup:
            cgroup.__exit__(None, None, None)
    row = json.loads(lines[-1])
    return row["seconds"], usage.ru_utime, usage.ru_stime, usage.ru_minflt


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, regimes = int(sys.argv[1]), sys.argv[2].split(",")
    variants = dict(arg.split("=", 1) for arg in sys.argv[3:])
    folder = os.environ.get("DIR", "/work/benchdata")
    job = os.environ.get("JOB", "add")
    ins = os.environ.get("INS", f"{folder}/a.npy,{folder}/b.npy").split(",")
    out = os.environ.get("OUT", f"{folder}/c.npy")
    base = R.cgroup_base()[0] if any(r in CAPS for r in regimes) else None
    results = {}
    for _ in range(rounds):
        for regime in regimes:
            names = list(variants)
            random.shuffle(names)
            for name in names:
                binary, contender = variants[name].split(":")
                steps = ["cold", "second"] if regime == "twice" else [regime]
                for step in steps:
                    if step == "second":
                        if os.path.exists(out):
                            os.remove(out)
                    else:
                        R.prepare("cached" if step == "cached" else "cold", ins, out)
                    got = run(binary, contender, job, ins, out, CAPS.get(step), base)
                    results.setdefault((step, name), []).append(got)
                    print(f"{step:7} {name:10} {got[0]:.3f} s  user {got[1]:.2f}  sys {got[2]:.2f}"
                          f"  minflt {got[3]}", flush=True)
    print("load", " ".join(open("/proc/loadavg").read().split()[:3]))
    for (step, name), runs in sorted(results.items()):
        median = [statistics.median(run[i] for run in runs) for i in range(4)]
        every = " ".join(f"{run[0]:.2f}" for run in runs)
        print(f"{step:7} {name:10} median {median[0]:.3f} s  user {median[1]:.2f}"
              f"  sys {median[2]:.2f}  minflt {median[3]:.0f}  all {every}")


if __name__ == "__main__":
    main()
