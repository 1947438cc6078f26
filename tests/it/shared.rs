//! Arrays shared between real processes: atomic counters and compare-and-swap claims across
//! processes, visibility without flush, durability after `SIGKILL`, advisory locks, and
//! anonymous maps inherited across `fork`.
//!
//! Counting children start together at a line in a shared control map and go on until each
//! has seen another's increment land between two of its own: they are shown to overlap, so
//! a non-atomic read-modify-write would lose updates. Whether a killed child's writes were
//! flushed is observed in the page cache's dirty flags (`tests/common/pages.rs`).
//!
//! The other processes are this test binary itself: a test spawns
//! `common::rerun` of `child_entry` with `NDMMAP_SHARED_CHILD` naming the
//! child's task. Children report on stdout in lines containing `@@ndmmap <tag> <value>`
//! and take orders on stdin, so every ordering below is enforced by a message, never by a
//! timer.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

use std::env;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use ndmmap::Error;
use ndmmap::prelude::*;

use crate::common;

#[cfg(unix)]
use common::pages;

const CHILD_ENV: &str = "NDMMAP_SHARED_CHILD";
const MARK: &str = "@@ndmmap ";

// ---------------------------------------------------------------------------------------
// The child side.

/// The entry point of child processes: does nothing unless `NDMMAP_SHARED_CHILD` is set.
#[test]
#[ignore = "run as a child process by the other tests in this file"]
fn child_entry() {
    let Ok(task) = env::var(CHILD_ENV) else { return };
    let path = PathBuf::from(env::var("NDMMAP_PATH").expect("NDMMAP_PATH"));
    match task.as_str() {
        "count_u64" => count_u64(&path),
        "count_u8" => count_u8(&path),
        "claim" => claim(&path),
        "publish" => publish(&path),
        "write_then_hang" => write_then_hang(&path),
        "hold_lock" => hold_lock(&path),
        "wait_for_lock" => wait_for_lock(&path),
        "probe_lock" => probe_lock(&path),
        other => panic!("unknown child task {other}"),
    }
}

fn say(tag: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{tag} {value}").expect("write to the parent");
    out.flush().expect("flush to the parent");
}

fn hear() -> String {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("read from the parent");
    line.trim().to_owned()
}

fn env_usize(name: &str) -> usize {
    env::var(name).expect(name).parse().expect(name)
}

/// The start line of the counting children: cell 0 of the file at `NDMMAP_CONTROL`, which
/// each child increments on arrival and then waits until all `PROCS` have arrived, so
/// that they count at the same time rather than one after another.
fn start_line() -> MmapArrayMut<u64, Ix1> {
    let path = PathBuf::from(env::var("NDMMAP_CONTROL").expect("NDMMAP_CONTROL"));
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut control = unsafe { Array1::<u64>::map_file_mut(&path) }.expect("map the control");
    let arrived = control.atomic_view().expect("atomic view");
    arrived[0].fetch_add(1, AcqRel);
    let mut spins = 0u64;
    while arrived[0].load(Acquire) < PROCS as u64 {
        spins += 1;
        assert!(spins < 1 << 24, "the other children never arrived at the start line");
        std::thread::yield_now();
    }
    control
}

/// Adds 1 to every cell of `cells` (through `add`, which returns the old value) for at
/// least `ROUNDS` rounds, and on until it has seen another process's increment land
/// between two of its own (the old value is not its own last result), which proves that
/// the processes overlapped; reports "done <rounds> <overlaps>".
fn count<T: Copy + PartialEq>(cells: usize, add: impl Fn(usize) -> T, next: impl Fn(T) -> T) {
    let _control = start_line();
    let mut last: Vec<Option<T>> = vec![None; cells];
    let (mut rounds, mut overlaps) = (0, 0u64);
    while rounds < ROUNDS || (overlaps == 0 && rounds < 100 * ROUNDS) {
        for (i, last) in last.iter_mut().enumerate() {
            let old = add(i);
            overlaps += u64::from(last.is_some_and(|mine| old != next(mine)));
            *last = Some(old);
        }
        rounds += 1;
    }
    say("done", format!("{rounds} {overlaps}"));
}

/// Counts on every `u64` cell of the file, after the parent says "go".
fn count_u64(path: &Path) {
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut counts = unsafe { Array1::<u64>::map_file_mut(path) }.expect("map");
    let atomic = counts.atomic_view().expect("atomic view");
    say("ready", 0);
    assert_eq!(hear(), "go");
    count(atomic.len(), |i| atomic[i].fetch_add(1, Relaxed), |x| x + 1);
}

/// As `count_u64`, on a 2-D array of adjacent bytes.
fn count_u8(path: &Path) {
    let options = MapOptions::new().shape((3, 5).f());
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut counts = unsafe { Array2::<u8>::map_file_mut_with(path, &options) }.expect("map");
    let atomic = counts.atomic_view().expect("atomic view");
    let cells: Vec<&std::sync::atomic::AtomicU8> = atomic.iter().collect();
    say("ready", 0);
    assert_eq!(hear(), "go");
    count(cells.len(), |i| cells[i].fetch_add(1, Relaxed), |x: u8| x.wrapping_add(1));
}

/// Tries to claim every slot with `compare_exchange(0, id)`, starting at its own place,
/// and reports how many it won.
fn claim(path: &Path) {
    let id = u32::try_from(env_usize("NDMMAP_ID")).expect("id");
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut slots = unsafe { Array1::<u32>::map_file_mut(path) }.expect("map");
    let atomic = slots.atomic_view().expect("atomic view");
    let n = atomic.len();
    say("ready", 0);
    assert_eq!(hear(), "go");
    let start = id as usize * 7919 % n;
    let mut won = 0;
    for k in 0..n {
        if atomic[(start + k) % n].compare_exchange(0, id, AcqRel, Acquire).is_ok() {
            won += 1;
        }
    }
    say("claimed", won);
}

/// Writes a payload with relaxed stores, then publishes it with a release store to cell 0,
/// without flushing; stays alive until the parent says "exit".
fn publish(path: &Path) {
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut cells = unsafe { Array1::<u64>::map_file_mut(path) }.expect("map");
    let atomic = cells.atomic_view().expect("atomic view");
    for (i, cell) in atomic.iter().enumerate().skip(1) {
        cell.store(i as u64 * 1000 + 7, Relaxed);
    }
    atomic[0].store(1, Release);
    say("published", 0);
    assert_eq!(hear(), "exit");
}

/// Writes `i * 3 + 1` to every cell, flushes if `NDMMAP_FLUSH` is 1, reports, and then
/// waits for a line that never comes: the parent kills it with `SIGKILL`.
fn write_then_hang(path: &Path) {
    // SAFETY: only this process maps the file until it is killed.
    let mut cells = unsafe { Array1::<u32>::map_file_mut(path) }.expect("map");
    for (i, cell) in cells.iter_mut().enumerate() {
        *cell = u32::try_from(i).expect("small") * 3 + 1;
    }
    if env_usize("NDMMAP_FLUSH") == 1 {
        cells.flush().expect("flush");
    }
    say("written", cells.len());
    let _ = hear();
    unreachable!("the parent kills this process");
}

fn lock_kind() -> Lock {
    match env::var("NDMMAP_LOCK").expect("NDMMAP_LOCK").as_str() {
        "shared" => Lock::Shared,
        "exclusive" => Lock::Exclusive,
        other => panic!("unknown lock {other}"),
    }
}

/// Maps the file holding `NDMMAP_LOCK`; on "release", writes 1 to cell 0 (if exclusive)
/// and drops the guard, which releases the lock.
fn hold_lock(path: &Path) {
    let lock = lock_kind();
    let options = MapOptions::new().lock(lock);
    if lock == Lock::Exclusive {
        // SAFETY: every process that maps this file takes a lock first.
        let mut cells = unsafe { Array1::<u64>::map_file_mut_with(path, &options) }.expect("map");
        say("locked", "exclusive");
        assert_eq!(hear(), "release");
        cells[0] = 1;
        drop(cells);
    } else {
        // SAFETY: every process that maps this file takes a lock first.
        let cells = unsafe { Array1::<u64>::map_file_with(path, &options) }.expect("map");
        say("locked", "shared");
        assert_eq!(hear(), "release");
        drop(cells);
    }
    say("released", 0);
}

/// Shows that the lock is taken (a failing try), then waits for it and reports cell 0.
fn wait_for_lock(path: &Path) {
    let fail = MapOptions::new().lock(Lock::Exclusive);
    // SAFETY: every process that maps this file takes a lock first.
    match unsafe { Array1::<u64>::map_file_mut_with(path, &fail) } {
        Err(Error::Locked { lock: Lock::Exclusive, .. }) => say("blocked", 0),
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    let wait = fail.wait_for_lock(true);
    // SAFETY: every process that maps this file takes a lock first.
    let cells = unsafe { Array1::<u64>::map_file_mut_with(path, &wait) }.expect("map");
    say("saw", cells[0]);
}

/// On each "probe" line, tries an exclusive lock and reports "free" or "locked";
/// exits on "exit".
fn probe_lock(path: &Path) {
    // SAFETY: every process that maps this file takes a lock first.
    let cells = unsafe { Array1::<u64>::map_file(path) }.expect("map");
    say("ready", 0);
    loop {
        match hear().as_str() {
            "probe" => match cells.try_lock(Lock::Exclusive) {
                Ok(()) => {
                    cells.unlock().expect("unlock");
                    say("probe", "free");
                }
                Err(Error::Locked { .. }) => say("probe", "locked"),
                Err(e) => panic!("unexpected error {e}"),
            },
            "exit" => return,
            other => panic!("unknown order {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent side.

/// A child process running `task`, with pipes for orders and reports.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(task: &str, path: &Path, env: &[(&str, String)]) -> Proc {
        let mut child = common::rerun(module_path!(), "child_entry")
            .env(CHILD_ENV, task)
            .env("NDMMAP_PATH", path)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the test binary as a child");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Proc { child, stdin, lines }
    }

    /// Waits for the child's next report tagged `tag` and returns its value.
    fn expect(&mut self, tag: &str) -> String {
        for line in &mut self.lines {
            let line = line.expect("read the child's stdout");
            if let Some(at) = line.find(MARK) {
                let report = &line[at + MARK.len()..];
                let (got, value) = report.split_once(' ').unwrap_or((report, ""));
                assert_eq!(got, tag, "the child reported {report:?}");
                return value.to_owned();
            }
        }
        let status = self.child.wait().expect("wait");
        panic!("the child ended ({status}) before reporting {tag:?}");
    }

    fn tell(&mut self, order: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{order}").expect("write to the child");
        stdin.flush().expect("flush to the child");
    }

    /// Closes the pipes and waits for the child to exit successfully.
    fn finish(mut self) {
        drop(self.stdin.take());
        for line in &mut self.lines {
            line.expect("read the child's stdout");
        }
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "child failed: {status}");
    }

    /// Kills the child with `SIGKILL` (on Unix) and returns how it ended.
    #[cfg(unix)]
    fn kill(mut self) -> std::process::ExitStatus {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait")
    }
}

fn temp_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let path = dir.path().join(name);
    (dir, path)
}

const PROCS: usize = 4;
const ROUNDS: usize = 20_000;

/// Runs `PROCS` counting children on `path`, which start together at a line in a control
/// file beside it; checks that each saw another's increment between two of its own (they
/// overlapped: a non-atomic read-modify-write would have lost updates) and returns the
/// rounds they made in all, which every cell must hold.
fn run_counters(task: &str, path: &Path) -> usize {
    let control = path.with_extension("control");
    std::fs::write(&control, [0u8; 8]).expect("write the control file");
    let env = [("NDMMAP_CONTROL", control.display().to_string())];
    let mut procs: Vec<Proc> = (0..PROCS).map(|_| Proc::spawn(task, path, &env)).collect();
    for p in &mut procs {
        p.expect("ready");
    }
    for p in &mut procs {
        p.tell("go");
    }
    let mut total = 0;
    for (i, mut p) in procs.into_iter().enumerate() {
        let report = p.expect("done");
        let (rounds, overlaps) = report.split_once(' ').expect("rounds and overlaps");
        let (rounds, overlaps): (usize, u64) = (rounds.parse().unwrap(), overlaps.parse().unwrap());
        assert!(rounds >= ROUNDS, "child {i} made {rounds} rounds");
        assert!(
            overlaps > 0,
            "child {i} never saw another child's increment between two of its own in \
             {rounds} rounds: the children did not overlap, so lost updates could not show"
        );
        total += rounds;
        p.finish();
    }
    total
}

fn check_u64_totals(path: &Path, cells: usize, expected: usize) {
    // SAFETY: the children have exited; nothing else maps this file.
    let counts = unsafe { Array1::<u64>::map_file(path) }.expect("map");
    assert_eq!(counts.len(), cells);
    let expected = expected as u64;
    assert!(counts.iter().all(|&c| c == expected), "{} != {expected} everywhere", counts.view());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn fetch_add_from_many_processes_loses_nothing() {
    let (_dir, path) = temp_file("counts.bin");
    // SAFETY: the file is fresh; the children touch it only through atomic views.
    drop(unsafe { Array1::<u64>::create_file(&path, 8) }.expect("create"));
    let total = run_counters("count_u64", &path);
    check_u64_totals(&path, 8, total);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn byte_counters_from_many_processes_do_not_disturb_their_neighbours() {
    let (_dir, path) = temp_file("bytes.bin");
    std::fs::write(&path, [0u8; 15]).expect("write");
    let total = run_counters("count_u8", &path);
    let bytes = std::fs::read(&path).expect("read");
    #[allow(clippy::cast_possible_truncation, reason = "u8 counters wrap by design")]
    let expected = total as u8;
    assert_eq!(bytes, [expected; 15]);
}

/// The same counters on a tmpfs (mounted for the test, else `/dev/shm`), where shared
/// memory between processes usually lives.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn counters_on_tmpfs() {
    let Some(tmpfs) = common::Tmpfs::new(16) else { return };
    let path = tmpfs.path().join("hist");
    // SAFETY: the file is fresh; the children touch it only through atomic views.
    drop(unsafe { Array1::<u64>::create_file(&path, 16) }.expect("create"));
    let total = run_counters("count_u64", &path);
    check_u64_totals(&path, 16, total);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn compare_exchange_claims_every_slot_exactly_once() {
    const SLOTS: usize = 4096;
    let (_dir, path) = temp_file("slots.bin");
    // SAFETY: the file is fresh; the children touch it only through atomic views.
    drop(unsafe { Array1::<u32>::create_file(&path, SLOTS) }.expect("create"));
    let mut procs: Vec<Proc> = (1..=PROCS)
        .map(|id| Proc::spawn("claim", &path, &[("NDMMAP_ID", id.to_string())]))
        .collect();
    for p in &mut procs {
        p.expect("ready");
    }
    for p in &mut procs {
        p.tell("go");
    }
    let mut reported = Vec::new();
    for mut p in procs {
        reported.push(p.expect("claimed").parse::<usize>().expect("a count"));
        p.finish();
    }
    assert_eq!(reported.iter().sum::<usize>(), SLOTS);
    // SAFETY: the children have exited; nothing else maps this file.
    let slots = unsafe { Array1::<u32>::map_file(&path) }.expect("map");
    for (id, &count) in (1..=PROCS).zip(&reported) {
        let owned = slots.iter().filter(|&&s| s as usize == id).count();
        assert_eq!(owned, count, "process {id} reported {count} claims but owns {owned}");
    }
    assert!(slots.iter().all(|&s| (1..=PROCS).contains(&(s as usize))), "unclaimed slot");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn writes_are_visible_to_another_process_without_flush() {
    const CELLS: usize = 1000;
    let (_dir, path) = temp_file("published.bin");
    // The parent maps the file before the child writes, and never remaps it.
    // SAFETY: both processes touch the file only through atomic views.
    let mut mine = unsafe { Array1::<u64>::create_file(&path, CELLS) }.expect("create");
    let atomic = mine.atomic_view().expect("atomic view");
    assert_eq!(atomic[0].load(Acquire), 0);
    let mut child = Proc::spawn("publish", &path, &[]);
    child.expect("published");
    // The child is alive and has neither flushed nor unmapped: the pages are shared.
    assert_eq!(atomic[0].load(Acquire), 1);
    for (i, cell) in atomic.iter().enumerate().skip(1) {
        assert_eq!(cell.load(Relaxed), i as u64 * 1000 + 7, "cell {i}");
    }
    child.tell("exit");
    child.finish();
}

/// A child writes every cell (and flushes, or not) and is killed with `SIGKILL`; its
/// writes are in the file. Whether they were written back when it died is observed, not
/// assumed: the file's pages in the page cache are clean after the child's flush, and
/// dirty without it (`tests/common/pages.rs`), so the unflushed writes survive in the page
/// cache alone. The kernel may write pages back on its own before they are observed; an
/// unflushed run that finds them clean is repeated.
#[cfg(unix)]
fn killed_child_leaves_its_writes(flush: bool) {
    const CELLS: usize = 50_000;
    let Some(dir) = common::disk_tempdir() else { return };
    let path = dir.path().join("killed.bin");
    let what = if flush { "a flushed child" } else { "an unflushed child" };
    pages::retry(what, || {
        let _ = std::fs::remove_file(&path);
        // SAFETY: the file is fresh; only the child maps it until the child is dead.
        let created = unsafe { Array1::<u32>::create_file(&path, CELLS) }.expect("create");
        created.close().expect("close: the new file is on disk, clean");
        let flag = if flush { "1" } else { "0" };
        let mut child = Proc::spawn("write_then_hang", &path, &[("NDMMAP_FLUSH", flag.into())]);
        assert_eq!(child.expect("written"), CELLS.to_string());
        let dirty = pages::file_dirty_pages(&path);
        let status = child.kill();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "the child must die by SIGKILL, not exit");
        }
        #[cfg(not(unix))]
        assert!(!status.success());
        let expected: Vec<u32> =
            (0..u32::try_from(CELLS).expect("small")).map(|i| i * 3 + 1).collect();
        // SAFETY: the child is dead; nothing else maps this file.
        let fresh = unsafe { Array1::<u32>::map_file(&path) }.expect("map");
        assert_eq!(fresh.to_vec(), expected);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytemuck::cast_slice::<u8, u32>(&bytes), expected);
        let Some(dirty) = dirty else { return Ok(()) };
        if flush {
            assert_eq!(dirty, 0, "{dirty} pages were still dirty after the child's flush");
        } else if dirty == 0 {
            return Err("the kernel wrote the child's pages back before it was killed".into());
        }
        Ok(())
    });
}

#[test]
#[cfg(unix)]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn flushed_writes_survive_sigkill() {
    killed_child_leaves_its_writes(true);
}

#[test]
#[cfg(unix)]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn unflushed_writes_survive_sigkill_in_the_page_cache() {
    killed_child_leaves_its_writes(false);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn exclusive_writer_blocks_a_second_writer_until_released() {
    let (_dir, path) = temp_file("locked.bin");
    // SAFETY: the file is fresh; every process that maps it takes a lock first.
    drop(unsafe { Array1::<u64>::create_file(&path, 4) }.expect("create"));
    let mut holder = Proc::spawn("hold_lock", &path, &[("NDMMAP_LOCK", "exclusive".into())]);
    assert_eq!(holder.expect("locked"), "exclusive");

    for lock in [Lock::Exclusive, Lock::Shared] {
        let options = MapOptions::new().lock(lock);
        // SAFETY: as above.
        let err = unsafe { Array1::<u64>::map_file_mut_with(&path, &options) }.unwrap_err();
        assert!(
            matches!(&err, Error::Locked { path: p, lock: l } if p == &path && *l == lock),
            "{err:?}"
        );
        // SAFETY: as above.
        let err = unsafe { Array1::<u64>::map_file_with(&path, &options) }.unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    }

    // A second writer that waits: it first proves the lock is taken, then waits, and must
    // see the holder's last write, which the holder makes after being told to release.
    let mut waiter = Proc::spawn("wait_for_lock", &path, &[]);
    waiter.expect("blocked");
    // Give the waiter time to reach its blocking call (not needed for correctness).
    std::thread::sleep(std::time::Duration::from_millis(100));
    holder.tell("release");
    holder.expect("released");
    assert_eq!(waiter.expect("saw"), "1");
    waiter.finish();
    holder.finish();

    // SAFETY: as above; every child has exited.
    let free = unsafe {
        Array1::<u64>::map_file_mut_with(&path, &MapOptions::new().lock(Lock::Exclusive))
    };
    assert_eq!(free.expect("the lock is free").to_vec(), [1, 0, 0, 0]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn shared_readers_coexist_and_exclude_writers() {
    let (_dir, path) = temp_file("readers.bin");
    std::fs::write(&path, [5u8; 32]).expect("write");
    let mut reader = Proc::spawn("hold_lock", &path, &[("NDMMAP_LOCK", "shared".into())]);
    assert_eq!(reader.expect("locked"), "shared");

    let shared = MapOptions::new().lock(Lock::Shared);
    // SAFETY: every process that maps this file takes a lock first.
    let mine = unsafe { Array1::<u64>::map_file_with(&path, &shared) }.expect("readers coexist");
    assert_eq!(mine.len(), 4);
    let exclusive = MapOptions::new().lock(Lock::Exclusive);
    // SAFETY: as above.
    let err = unsafe { Array1::<u64>::map_file_mut_with(&path, &exclusive) }.unwrap_err();
    assert!(matches!(err, Error::Locked { lock: Lock::Exclusive, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("readers.bin") && text.contains("exclusive"), "{text}");

    reader.tell("release");
    reader.expect("released");
    reader.finish();
    // SAFETY: as above.
    let err = unsafe { Array1::<u64>::map_file_mut_with(&path, &exclusive) }.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "this process's reader still holds its lock");
    drop(mine);
    // A child process that another test's thread forks shares this process's open files
    // (and so the lock `mine` held) until it starts its program, which under qemu-user
    // takes a while: wait for such a child to be gone, as a writer waiting for readers
    // would.
    let mut writer;
    let mut tries = 0;
    loop {
        // SAFETY: as above.
        writer = unsafe { Array1::<u64>::map_file_mut_with(&path, &exclusive) };
        tries += 1;
        if !matches!(writer, Err(Error::Locked { .. })) || tries == 100 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(writer.is_ok(), "{writer:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files or spawn processes")]
fn explicit_lock_and_unlock_are_seen_by_another_process() {
    let (_dir, path) = temp_file("explicit.bin");
    // SAFETY: the file is fresh; every process that maps it takes a lock first.
    let mut guard = unsafe { Array1::<u64>::create_file(&path, 2) }.expect("create");
    // Releasing no lock is no error (std's `unlock` alone fails on Windows then).
    guard.unlock().expect("unlock with no lock held");
    let mut probe = Proc::spawn("probe_lock", &path, &[]);
    probe.expect("ready");
    probe.tell("probe");
    assert_eq!(probe.expect("probe"), "free");

    guard.lock(Lock::Exclusive).expect("lock");
    guard[0] = 9;
    probe.tell("probe");
    assert_eq!(probe.expect("probe"), "locked");

    guard.unlock().expect("unlock");
    probe.tell("probe");
    assert_eq!(probe.expect("probe"), "free");

    guard.try_lock(Lock::Shared).expect("try_lock");
    probe.tell("probe");
    assert_eq!(probe.expect("probe"), "locked");
    probe.tell("exit");
    probe.finish();
}

// ---------------------------------------------------------------------------------------
// Atomic views in one process; anonymous maps.

#[test]
fn atomic_views_keep_shape_and_strides() {
    let mut data: Vec<i32> = (0..12).collect();
    let view = ArrayViewMut2::from_shape((3, 4).f(), &mut data[..]).expect("view");
    let reversed = view.slice_move(ndarray::s![..;-1, 1..]);
    let expected = reversed.to_owned();
    let atomic = reversed.into_atomic().expect("atomic view");
    assert_eq!(atomic.shape(), expected.shape());
    assert_eq!(atomic.strides(), expected.strides());
    let loaded = atomic.map(|x| x.load(Relaxed));
    assert_eq!(loaded, expected);
    atomic[[0, 0]].fetch_sub(100, Relaxed);
    assert_eq!(data[2 + 3], 5 - 100);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn copy_on_write_atomics_stay_in_this_process() {
    let (_dir, path) = temp_file("cow.bin");
    std::fs::write(&path, [0u8; 16]).expect("write");
    // SAFETY: nothing else maps this file.
    let mut cow = unsafe { Array1::<u64>::map_file_copy(&path) }.expect("map");
    cow.atomic_view().expect("atomic view")[1].fetch_add(5, Relaxed);
    assert_eq!(cow.to_vec(), [0, 5]);
    assert_eq!(std::fs::read(&path).expect("read"), [0u8; 16]);
}

/// On 32-bit x86 `u64` is 4-byte aligned but `AtomicU64` needs 8: a file offset of 4 maps
/// as `u64` and must be refused as atomic.
#[test]
#[cfg(target_arch = "x86")]
fn atomic_views_need_the_atomic_alignment() {
    let (_dir, path) = temp_file("offset.bin");
    std::fs::write(&path, [0u8; 20]).expect("write");
    // SAFETY: nothing else maps this file.
    let mut a = unsafe { Array1::<u64>::map_file_mut_with(&path, &MapOptions::new().offset(4)) }
        .expect("map");
    let err = a.atomic_view().unwrap_err();
    assert!(matches!(err, Error::Misaligned { offset: 4, align: 8, path: Some(_) }), "{err:?}");
}

/// Tests of anonymous maps, which exist where `memfd_create` does.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod anonymous {
    use super::*;

    #[test]
    fn anonymous_maps_have_no_file_to_lock() {
        let a = MmapArrayMut::<u32, Ix1>::anonymous(4).expect("anonymous");
        for result in [a.lock(Lock::Shared), a.try_lock(Lock::Exclusive), a.unlock()] {
            assert!(
                matches!(&result, Err(Error::InvalidOption { path: Some(p), .. })
                    if p == Path::new("<anonymous>")),
                "{result:?}"
            );
        }
    }

    #[test]
    fn anonymous_maps_are_zeroed_writable_and_flush_as_a_no_op() {
        let mut a = MmapArrayMut::<i16, Ix2>::anonymous((3, 4).f()).expect("anonymous");
        assert_eq!(a.path(), Path::new("<anonymous>"));
        assert_eq!((a.mode(), a.offset()), (Mode::ReadWrite, 0));
        assert_eq!(a.strides(), &[1, 3]);
        assert!(a.iter().all(|&x| x == 0));
        a[[2, 1]] = -5;
        a.flush().expect("flush");
        a.flush_async().expect("flush_async");
        assert_eq!(a.sum(), -5);
        assert!(format!("{a:?}").contains("<anonymous>"));
        a.close().expect("close");
    }

    #[test]
    fn anonymous_maps_check_their_shape() {
        let err = MmapArrayMut::<u64, Ix2>::anonymous((usize::MAX / 4, 4)).unwrap_err();
        assert!(matches!(err, Error::Overflow { elem_size: 8, .. }), "{err:?}");
        let err = MmapArrayMut::<u8, Ix2>::anonymous((2, 2).strides((1, 1))).unwrap_err();
        assert!(matches!(err, Error::OverlappingStrides { .. }), "{err:?}");
        let empty = MmapArrayMut::<u64, Ix2>::anonymous((0, 3)).expect("empty");
        assert_eq!(empty.shape(), &[0, 3]);
    }

    #[test]
    fn atomic_views_of_empty_arrays_are_empty() {
        let mut empty = MmapArrayMut::<u64, Ix2>::anonymous((0, 3)).expect("empty");
        let atomic = empty.atomic_view().expect("atomic view");
        assert_eq!(atomic.shape(), &[0, 3]);
        let mut none: [i8; 0] = [];
        let v = ArrayViewMut1::from(&mut none[..]).into_atomic().expect("atomic view");
        assert!(v.is_empty());
    }

    #[test]
    fn every_integer_type_has_an_atomic_view() {
        fn check<A: AtomicElement + From<u8> + PartialEq + std::fmt::Debug>() {
            let mut a = MmapArrayMut::<A, Ix1>::anonymous(3).expect("anonymous");
            let atomic = a.atomic_view().expect("atomic view");
            assert_eq!(atomic.len(), 3);
            assert_eq!(size_of_val(&atomic[0]), size_of::<A>());
            assert_eq!(a[2], A::from(0));
        }
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<u64>();
        check::<i16>();
        check::<i32>();
        check::<i64>();
        check::<usize>();
        // i8 and isize have no `From<u8>`.
        let mut a = MmapArrayMut::<i8, Ix1>::anonymous(2).expect("anonymous");
        a.atomic_view().expect("atomic view")[1].store(-3, Relaxed);
        assert_eq!(a.to_vec(), [0, -3]);
        let mut b = MmapArrayMut::<isize, Ix1>::anonymous(2).expect("anonymous");
        b.atomic_view().expect("atomic view")[0].store(isize::MIN, Relaxed);
        assert_eq!(b.to_vec(), [isize::MIN, 0]);
    }

    /// An anonymous map inherited across `fork`: the children (real processes) count on the
    /// parent's atomic view, starting together at a line in a second anonymous map and
    /// going on until each has seen another's increment land between two of its own (they
    /// overlapped), which each records there with its number of rounds. Between `fork` and
    /// `_exit` a child of this multi-threaded test binary only performs atomic operations
    /// and arithmetic on its stack, which are async-signal-safe: no allocation, no locks, no
    /// panics.
    #[test]
    #[cfg(unix)]
    #[cfg_attr(miri, ignore = "miri cannot fork")]
    fn anonymous_maps_are_shared_across_fork() {
        const CELLS: usize = 8;
        let mut counts = MmapArrayMut::<u64, Ix1>::anonymous(CELLS).expect("anonymous");
        let atomic = counts.atomic_view().expect("atomic view");
        // Cell 0: arrivals at the start line; then each child's rounds and overlaps.
        let mut control = MmapArrayMut::<u64, Ix1>::anonymous(1 + 2 * PROCS).expect("anonymous");
        let shared = control.atomic_view().expect("atomic view");
        let mut pids = Vec::with_capacity(PROCS);
        for child in 0..PROCS {
            // SAFETY: the child runs only the loops below (atomic operations on memory mapped
            // before the fork, and arithmetic on its stack) and `_exit`, all
            // async-signal-safe; it never returns into the harness.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                shared[0].fetch_add(1, AcqRel);
                while shared[0].load(Acquire) < PROCS as u64 {
                    std::hint::spin_loop();
                }
                let mut last = [u64::MAX; CELLS];
                let (mut rounds, mut overlaps) = (0, 0);
                while rounds < ROUNDS || (overlaps == 0 && rounds < 100 * ROUNDS) {
                    for (cell, last) in atomic.iter().zip(&mut last) {
                        let old = cell.fetch_add(1, Relaxed);
                        overlaps += u64::from(*last != u64::MAX && old != *last + 1);
                        *last = old;
                    }
                    rounds += 1;
                }
                shared[1 + 2 * child].store(rounds as u64, Relaxed);
                shared[2 + 2 * child].store(overlaps, Relaxed);
                // SAFETY: `_exit` ends the child at once, running no destructors or handlers.
                unsafe { libc::_exit(0) };
            }
            pids.push(pid);
        }
        for pid in pids {
            let mut status = 0;
            // SAFETY: `pid` is a child of this process that has not been waited for.
            let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
            assert_eq!(waited, pid);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status}");
        }
        let mut expected = 0;
        for child in 0..PROCS {
            let (rounds, overlaps) =
                (shared[1 + 2 * child].load(Relaxed), shared[2 + 2 * child].load(Relaxed));
            assert!(overlaps > 0, "child {child} never overlapped another in {rounds} rounds");
            expected += rounds;
        }
        assert!(atomic.iter().all(|c| c.load(Relaxed) == expected), "{atomic:?} != {expected}");
    }
}
