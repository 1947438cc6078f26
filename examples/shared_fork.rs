//! An anonymous shared map inherited across `fork`: the parent makes the array and its
//! atomic view, forks worker processes that claim work items with `compare_exchange` and
//! count what they did with `fetch_add`, and reads the results when they have exited.
//!
//! ```text
//! cargo run --release --example shared_fork -- 4
//! ```
//!
//! No file is involved: [`MmapArrayMut::anonymous`] is safe, and `fork` gives every child
//! the same shared pages (not a copy-on-write copy, as a private map would).

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

    use ndmmap::prelude::*;

    const ITEMS: usize = 100_000;
    let workers: u32 = std::env::args().nth(1).map_or(Ok(4), |n| n.parse())?;

    // Who claimed each item (0 = nobody yet); per-worker counts, after a start gate.
    let mut owner = MmapArrayMut::<u32, Ix1>::anonymous(ITEMS)?;
    let mut done = MmapArrayMut::<u64, Ix1>::anonymous(workers as usize + 1)?;
    let owner_atomic = owner.atomic_view()?;
    let done_atomic = done.atomic_view()?;

    let mut pids = Vec::new();
    for id in 1..=workers {
        // SAFETY: the child only runs the loop below (atomic operations on memory mapped
        // before the fork, no allocation, no locks) and then `_exit`s; this program has a
        // single thread, so nothing else is left half-done in the child.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        if pid == 0 {
            // Wait until every worker exists, so that they race.
            done_atomic[0].fetch_add(1, AcqRel);
            while done_atomic[0].load(Acquire) < u64::from(workers) {
                std::hint::spin_loop();
            }
            for item in &owner_atomic {
                if item.compare_exchange(0, id, AcqRel, Acquire).is_ok() {
                    done_atomic[id as usize].fetch_add(1, Relaxed);
                }
            }
            // SAFETY: ends the child at once, running no destructors or exit handlers.
            unsafe { libc::_exit(0) };
        }
        pids.push(pid);
    }
    for pid in pids {
        let mut status = 0;
        // SAFETY: `pid` is a child of this process that has not been waited for.
        if unsafe { libc::waitpid(pid, &raw mut status, 0) } != pid || status != 0 {
            return Err(format!("worker {pid} failed (status {status})").into());
        }
    }

    let per_worker: Vec<u64> = done.iter().skip(1).copied().collect();
    let claimed = owner.iter().filter(|&&o| o != 0).count();
    println!("{workers} forked workers claimed {claimed} of {ITEMS} items: {per_worker:?}");
    for id in 1..=workers {
        let claims = owner.iter().filter(|&&o| o == id).count() as u64;
        assert_eq!(claims, per_worker[id as usize - 1], "worker {id}'s count matches its claims");
    }
    assert_eq!(claimed, ITEMS, "every item claimed exactly once");
    assert_eq!(per_worker.iter().sum::<u64>(), ITEMS as u64);
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn main() {
    eprintln!("anonymous shared maps need memfd_create (Linux, Android, FreeBSD)");
}
