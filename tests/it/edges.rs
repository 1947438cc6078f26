//! The promises at the edges: no abort, no `SIGBUS`, no data loss from safe
//! code, durable saves, locks before replacing, nothing left behind by a failed create,
//! `flush_async` that starts write-back, and `.npy` appends committed in groups.
//!
//! Failures that kill a process (an abort, `SIGBUS`) are tried in child processes: this
//! test binary itself, running an ignored `child_*` test with `NDMMAP_EDGES_CHILD` set.
//! Full-disk cases run on a tmpfs mounted small (root only): without the right to mount,
//! they print a message and skip, except under `CI=true`, where they fail. The system-call
//! checks (syncs, renames, write-back) run the child under `strace`, and skip where it cannot
//! run, through the shared policy (`common::skip`): a message, or a failure under `CI=true`.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Row values are small integers, exact in f64.
#![allow(clippy::float_cmp, clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndmmap::Error;
use ndmmap::npy::NpyOptions;
use ndmmap::prelude::*;

use crate::common;

const CHILD_ENV: &str = "NDMMAP_EDGES_CHILD";

/// This test binary, set to run the ignored test `name` alone with `CHILD_ENV` = `arg`.
fn child(name: &str, arg: &Path) -> Command {
    let mut command = common::rerun(module_path!(), name);
    command.env(CHILD_ENV, arg);
    command
}

/// The argument a child test was started with, or `None` when run as a plain test.
fn child_arg() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A tmpfs of `size_mib` MiB mounted for the test, so that its size is the one asked for;
/// `None` (through the skip policy) where none can be mounted.
fn small_tmpfs(size_mib: u32) -> Option<common::Tmpfs> {
    let fs = common::Tmpfs::new(size_mib)?;
    if fs.mounted() {
        return Some(fs);
    }
    common::skip(format!("cannot mount a tmpfs of {size_mib} MiB (needs root)"));
    None
}

/// Fills the file system of `folder` up but for about `spare` bytes, with a file named
/// `filler` in it.
fn fill_but(folder: &Path, spare: u64) -> PathBuf {
    use std::io::Write;
    let filler = folder.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = [0xAAu8; 4096];
    let mut len = 0u64;
    while file.write_all(&block).is_ok() {
        len += 4096;
    }
    drop(file);
    let len = len.saturating_sub(spare);
    std::fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(len).unwrap();
    filler
}

/// The lines of an `strace -f -y` log of `command` (a child test) for `calls`; `None`
/// (through [`common::skip`]: a message, or a failure under `CI=true`) where strace cannot
/// run. A child that runs under strace and fails is a failure.
#[track_caller]
fn strace(command: &Command, calls: &str) -> Option<Vec<String>> {
    let log = tempfile::NamedTempFile::new().unwrap();
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> =
        command.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
    let output = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", &format!("trace={calls}"), "-o"])
        .arg(log.path())
        .arg(program)
        .args(args)
        .envs(envs)
        .output();
    match output {
        Err(e) => {
            common::skip(format!("cannot run strace: {e}"));
            None
        }
        Ok(out) if !out.status.success() => {
            let text = describe(&out);
            assert!(!text.contains("test result"), "the child under strace failed:\n{text}");
            common::skip(format!("strace cannot trace here:\n{text}"));
            None
        }
        Ok(_) => {
            Some(std::fs::read_to_string(log.path()).unwrap().lines().map(String::from).collect())
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. flush_view of a broadcast or strided view: memory independent of the element count.

#[test]
#[ignore = "run as a child process by `flush_view_of_a_huge_broadcast_does_not_abort`"]
fn child_flush_broadcast() {
    let Some(path) = child_arg() else { return };
    // SAFETY: this process is the only one that touches the file.
    let mut c = unsafe { Array1::<f64>::create_file(&path, 16) }.unwrap();
    c[0] = 1.5;
    let view = c.slice(s![0..1]);
    // 2^36 elements where an address has 64 bits, 2^30 where it has 32: either way, one
    // byte range per element would need far more memory than there is.
    let many = 1usize << if cfg!(target_pointer_width = "64") { 36 } else { 30 };
    let huge = view.broadcast(many).unwrap();
    c.flush_view(&huge).unwrap();
    // A broadcast of a strided view of a 2-d array too.
    let two = c.view().into_shape_with_order((4, 4)).unwrap();
    let column = two.column(1);
    c.flush_view(&column.broadcast((many / 4, 4)).unwrap()).unwrap();
    println!("flushed");
}

/// `flush_view` of 2^36 elements (2^30 on 32-bit targets) broadcast from one used to build one byte range per
/// element, and died allocating a terabyte ("memory allocation ... failed", SIGABRT).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn flush_view_of_a_huge_broadcast_does_not_abort() {
    let dir = tempfile::tempdir().unwrap();
    let output = child("child_flush_broadcast", &dir.path().join("c.bin")).output().unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("flushed"),
        "the child died: {}",
        describe(&output)
    );
}

// ---------------------------------------------------------------------------------------
// 2. A sparse file on a nearly full disk: Error::NoSpace at map time, never SIGBUS.

#[test]
#[ignore = "run as a child process by `sparse_file_on_a_full_disk_is_no_space_not_sigbus`"]
fn child_write_sparse() {
    let Some(path) = child_arg() else { return };
    let npy = path.extension().is_some_and(|e| e == "npy");
    let mapped = if npy {
        // SAFETY: the parent waits for this process and touches the file only afterwards.
        unsafe { Array1::<u8>::map_npy_mut(&path) }
    } else {
        // SAFETY: as above.
        unsafe { Array1::<u8>::map_file_mut(&path) }
    };
    match mapped {
        Err(Error::NoSpace { path: p, .. }) if p == path => println!("RESULT no space"),
        Err(e) => panic!("unexpected error: {e:?}"),
        Ok(mut a) => {
            // Without reserved blocks, this is where a full disk kills the process.
            a.fill(7);
            println!("RESULT written");
        }
    }
}

/// A file of `len` bytes holding one byte `1` at its end, made as `np.lib.format.open_memmap`
/// makes its files (seek to the end, write one byte): all but its last page is a hole.
fn sparse_file(path: &Path, len: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::File::create(path).unwrap();
    file.seek(SeekFrom::Start(len - 1)).unwrap();
    file.write_all(&[1]).unwrap();
}

fn run_writer(path: &Path) -> String {
    let output = child("child_write_sparse", path).output().unwrap();
    assert!(output.status.success(), "the child died: {}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout.lines().find_map(|l| l.split("RESULT ").nth(1));
    result.unwrap_or_else(|| panic!("no result: {}", describe(&output))).to_string()
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn sparse_file_on_a_full_disk_is_no_space_not_sigbus() {
    let Some(fs) = small_tmpfs(2) else { return };
    let raw = fs.path().join("sparse.bin");
    sparse_file(&raw, 1 << 20);
    let mut files = vec![(raw, 0u64)];
    if let Some(python) = common::numpy_python() {
        let npy = fs.path().join("sparse.npy");
        let status = Command::new(python)
            .args([
                "-c",
                "import sys, numpy as np; m = np.lib.format.open_memmap(sys.argv[1], mode='w+', \
                 dtype='u1', shape=(1 << 19,)); m[-1] = 1; m.flush()",
            ])
            .arg(&npy)
            .status()
            .unwrap();
        assert!(status.success(), "NumPy could not make the sparse file");
        let header = std::fs::metadata(&npy).unwrap().len() - (1 << 19);
        files.push((npy, header));
    } else {
        eprintln!("NumPy not found: the .npy case is skipped");
    }
    let filler = fill_but(fs.path(), 64 << 10);
    for (path, header) in &files {
        let before = std::fs::read(path).unwrap();
        assert_eq!(run_writer(path), "no space", "{}", path.display());
        assert_eq!(std::fs::read(path).unwrap(), before, "{} changed", path.display());
        let _ = header;
    }
    // With room on the disk, the same writes succeed.
    std::fs::remove_file(&filler).unwrap();
    for (path, header) in &files {
        assert_eq!(run_writer(path), "written", "{}", path.display());
        let bytes = std::fs::read(path).unwrap();
        let header = usize::try_from(*header).unwrap();
        assert!(bytes[header..].iter().all(|&b| b == 7), "{}", path.display());
    }
}

// ---------------------------------------------------------------------------------------
// 3. shrink_to_fit gives back only the capacity its guard reserved.

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shrink_to_fit_of_a_partial_map_keeps_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twelve.bin");
    let bytes: Vec<u8> = (0..12 * 1024u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    std::fs::write(&path, &bytes).unwrap();
    // SAFETY: no other process touches files in this fresh temporary folder, and neither
    // map of this test writes.
    let reader = unsafe { Array1::<u8>::map_file(&path) }.unwrap();
    // SAFETY: as above.
    let mut part =
        unsafe { Array1::<u8>::map_file_mut_with(&path, &MapOptions::new().len(4096)) }.unwrap();
    let err = part.shrink_to_fit().unwrap_err();
    assert!(matches!(&err, Error::NotGrowable { path: p, .. } if *p == path), "{err:?}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 12 * 1024);
    assert_eq!(reader[12 * 1024 - 1], bytes[12 * 1024 - 1]);
    // Capacity the guard reserved itself is given back (a raw map of a whole file).
    drop(part);
    // SAFETY: as above.
    let mut whole = unsafe { Array1::<u8>::map_file_mut(&path) }.unwrap();
    whole.reserve(1 << 20).unwrap();
    let reserved = std::fs::metadata(&path).unwrap().len();
    assert!(reserved > 12 * 1024);
    if cfg!(windows) {
        // Windows cuts no file that another live map (`reader`) holds: the cut is refused,
        // the file keeps its capacity, and both maps keep every byte.
        let err = whole.shrink_to_fit().unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, action: "truncate", .. } if *p == path),
            "{err:?}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), reserved);
        assert_eq!(whole.to_vec(), bytes);
        assert_eq!(reader.to_vec(), bytes);
        // Once the other map is gone, the capacity is given back.
        drop(reader);
        whole.shrink_to_fit().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12 * 1024);
        assert_eq!(whole.to_vec(), bytes);
    } else {
        whole.shrink_to_fit().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12 * 1024);
        drop(whole);
        assert_eq!(reader.to_vec(), bytes);
    }
}

// ---------------------------------------------------------------------------------------
// 4. Durability: a replacing file is synced, renamed, and its folder synced.

#[test]
#[ignore = "run as a child process by `replacing_a_file_syncs_it_and_then_its_folder`"]
fn child_replace() {
    let Some(dir) = child_arg() else { return };
    array![1.0f64, 2.0].save_npy(dir.join("saved.npy")).unwrap();
    let raw = MapOptions::new().overwrite(true);
    // SAFETY: this process is the only one that touches these files.
    let c = unsafe { Array1::<u16>::create_file_with(dir.join("raw.bin"), 8, &raw) }.unwrap();
    drop(c);
    let npy = NpyOptions::new().overwrite(true);
    // SAFETY: as above.
    let c = unsafe { Array2::<f32>::create_npy_with(dir.join("made.npy"), (2, 2), &npy) }.unwrap();
    drop(c);
}

/// The path of a `strace -y` file descriptor argument `3</a/b>` in `line`, after `call(`.
fn fd_path<'a>(line: &'a str, call: &str) -> Option<&'a str> {
    let rest = &line[line.find(&format!("{call}("))? + call.len() + 1..];
    let start = rest.find('<')? + 1;
    Some(&rest[start..start + rest[start..].find('>')?])
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn replacing_a_file_syncs_it_and_then_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().canonicalize().unwrap();
    for name in ["saved.npy", "raw.bin", "made.npy"] {
        std::fs::write(folder.join(name), b"old").unwrap();
    }
    let Some(log) =
        strace(&child("child_replace", &folder), "fsync,fdatasync,rename,renameat,renameat2")
    else {
        return;
    };
    let folder = folder.to_str().unwrap();
    for name in ["saved.npy", "raw.bin", "made.npy"] {
        let target = format!("{folder}/{name}\"");
        let renamed = log
            .iter()
            .position(|l| l.contains("rename") && l.contains(&target) && l.ends_with("= 0"))
            .unwrap_or_else(|| panic!("{name} was not renamed into place:\n{}", log.join("\n")));
        let temp = format!("{folder}/.{name}.ndmmap-");
        let synced_before = log[..renamed].iter().any(|l| {
            ["fsync", "fdatasync"]
                .iter()
                .any(|c| fd_path(l, c).is_some_and(|p| p.starts_with(&temp)))
        });
        assert!(synced_before, "{name}: not synced before the rename:\n{}", log.join("\n"));
        let folder_synced = log[renamed..].iter().any(|l| fd_path(l, "fsync") == Some(folder));
        assert!(
            folder_synced,
            "{name}: the folder not synced after the rename:\n{}",
            log.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// 5. create_npy of a (1, n) shape built with .f() grows.

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_created_one_row_fortran_shape_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("row.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array2::<i32>::create_npy(&path, (1, 3).f()) }.unwrap();
    a.assign(&array![[1, 2, 3]]);
    // The header says C order (NumPy's rule for arrays in both orders): rows are appended.
    a.push(array![4, 5, 6].view()).unwrap();
    a.append(array![[7, 8, 9]].view()).unwrap();
    a.close().unwrap();
    let back: Array2<i32> = ndmmap::npy::read_npy(&path).unwrap();
    assert_eq!(back, array![[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
}

// ---------------------------------------------------------------------------------------
// 6. Locks before replacing; nothing left behind by a failed create.

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn replacing_a_locked_file_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("held.bin");
    std::fs::write(&raw, [9u8; 16]).unwrap();
    let npy = dir.path().join("held.npy");
    array![1u8, 2, 3].save_npy(&npy).unwrap();
    let npy_bytes = std::fs::read(&npy).unwrap();
    let exclusive = MapOptions::new().lock(Lock::Exclusive);
    // SAFETY: no other process touches files in this fresh temporary folder; the maps of
    // this test hold the lock that keeps the creates below from replacing the files.
    let holder = unsafe { Array1::<u8>::map_file_mut_with(&raw, &exclusive) }.unwrap();
    let npy_lock = NpyOptions::new().lock(Lock::Exclusive);
    // SAFETY: as above.
    let npy_holder = unsafe { Array1::<u8>::map_npy_mut_with(&npy, &npy_lock) }.unwrap();

    for lock in [Lock::Exclusive, Lock::Shared] {
        let options = MapOptions::new().overwrite(true).lock(lock);
        // SAFETY: as above.
        let err = unsafe { Array1::<u8>::create_file_with(&raw, 4, &options) }.unwrap_err();
        assert!(matches!(&err, Error::Locked { path, .. } if *path == raw), "{err:?}");
        let options = NpyOptions::new().overwrite(true).lock(lock);
        // SAFETY: as above.
        let err = unsafe { Array1::<u8>::create_npy_with(&npy, 4, &options) }.unwrap_err();
        assert!(matches!(&err, Error::Locked { path, .. } if *path == npy), "{err:?}");
    }
    assert_eq!(std::fs::read(&raw).unwrap(), [9u8; 16]);
    assert_eq!(std::fs::read(&npy).unwrap(), npy_bytes);
    assert_eq!(names(dir.path()), ["held.bin", "held.npy"]);
    drop((holder, npy_holder));

    // Once released, the replacing create takes the lock and holds it on the new file.
    let options = MapOptions::new().overwrite(true).lock(Lock::Exclusive);
    // SAFETY: as above.
    let new = unsafe { Array1::<u8>::create_file_with(&raw, 4, &options) }.unwrap();
    // SAFETY: as above.
    let err = unsafe { Array1::<u8>::map_file_mut_with(&raw, &exclusive) }.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    drop(new);
    assert_eq!(std::fs::read(&raw).unwrap(), [0u8; 4]);
    assert_eq!(names(dir.path()), ["held.bin", "held.npy"]);
}

/// An element aligned to 128 KiB: more than a page (up to 64 KiB on Arm Linux) and more
/// than Windows' allocation granularity (64 KiB), which a map's address is aligned to.
#[derive(Clone, Copy)]
#[repr(C, align(131072))]
struct Aligned128K([u8; 131_072]);

// SAFETY: a plain byte array (no padding: its size is its alignment); all zeros is valid.
unsafe impl bytemuck::Zeroable for Aligned128K {}
// SAFETY: as above: any bytes are a valid value, and it has no padding.
unsafe impl bytemuck::Pod for Aligned128K {}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_create_that_fails_after_making_its_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.bin");
    std::fs::write(&old, b"keep me").unwrap();
    // A map's address is only aligned to a page (on Windows to 64 KiB): most of these miss
    // the element's alignment. Small maps kept in between shift the next map's address by
    // a page (on Windows by 64 KiB).
    let mut kept = Vec::new();
    let mut failures = 0;
    for i in 0..16 {
        let path = dir.path().join(format!("new{i}.bin"));
        let spacer = dir.path().join(format!("spacer{i}.bin"));
        std::fs::write(&spacer, [0u8; 4096]).unwrap();
        // SAFETY: no other process touches files in this fresh temporary folder.
        kept.push(unsafe { Array1::<u8>::map_file(&spacer) }.unwrap());
        let overwrite = MapOptions::new().overwrite(true);
        for (target, options) in [(&path, MapOptions::new()), (&old, overwrite)] {
            // SAFETY: as above.
            match unsafe { Array1::<Aligned128K>::create_file_with(target, 1, &options) } {
                Ok(guard) => {
                    drop(guard);
                    if target == &path {
                        std::fs::remove_file(&path).unwrap();
                    } else {
                        std::fs::write(&old, b"keep me").unwrap();
                    }
                }
                Err(err) => {
                    assert!(matches!(err, Error::Misaligned { .. }), "{err:?}");
                    failures += 1;
                    assert!(!path.exists(), "a failed create left {}", path.display());
                    assert_eq!(std::fs::read(&old).unwrap(), b"keep me");
                }
            }
        }
    }
    assert!(failures > 0, "every map happened to be aligned to 128 KiB; the test could not run");
    let names = names(dir.path());
    assert!(names.iter().all(|n| n == "old.bin" || n.starts_with("spacer")), "{names:?}");
}

// ---------------------------------------------------------------------------------------
// 7. flush_async starts write-back.

#[test]
#[ignore = "run as a child process by `flush_async_starts_write_back`"]
fn child_flush_async() {
    let Some(path) = child_arg() else { return };
    // SAFETY: this process is the only one that touches the file.
    let mut c = unsafe { Array1::<u8>::create_file(&path, 1 << 16) }.unwrap();
    c.fill(3);
    c.flush_async().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn flush_async_starts_write_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap().join("async.bin");
    let Some(log) = strace(&child("child_flush_async", &path), "sync_file_range,msync") else {
        return;
    };
    let path = path.to_str().unwrap();
    assert!(
        log.iter().any(|l| fd_path(l, "sync_file_range") == Some(path)
            && l.contains("SYNC_FILE_RANGE_WRITE")
            && l.ends_with("= 0")),
        "no write-back started for {path}:\n{}",
        log.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The engine's hints for an operand in another memory order: run by run, not whole maps.

/// Rows and columns of the C-order input that `child_c_to_fortran` converts: 8 MiB, each
/// column of the Fortran-order output 512 KiB.
const C2F: (usize, usize) = (65_536, 16);

#[test]
#[ignore = "run as a child process by `c_to_fortran_writes_back_run_by_run`"]
fn child_c_to_fortran() {
    let Some(folder) = child_arg() else { return };
    let x = Array2::from_shape_fn(C2F, |(i, j)| (i * C2F.1 + j) as f64);
    x.save_npy(folder.join("c.npy")).unwrap();
    // SAFETY: only this process touches the files in the parent's temporary folder.
    let c = unsafe { Array2::<f64>::map_npy(folder.join("c.npy")) }.unwrap();
    // SAFETY: as above.
    let mut f = unsafe { Array2::<f64>::create_npy(folder.join("f.npy"), C2F.f()) }.unwrap();
    ndmmap::chunked::Zip::from(&mut f)
        .and(&c)
        .chunk_bytes(1 << 20)
        .for_each(|f, &c| *f = c)
        .unwrap();
    assert_eq!(*f, x);
}

/// Converting C order into Fortran order walks the output across its own order: each chunk
/// of rows is one run per column. Its write-back and eviction follow those runs: every
/// `sync_file_range` and `POSIX_FADV_DONTNEED` on the output covers a part of one chunk's
/// run, never the whole file (the engine used to write back and evict the whole output map
/// every four chunks, which re-read and re-wrote the runs still being filled: 10 s against
/// a plain `Zip`'s 5 s on 1 GiB cold, 92 s under a 256 MiB cap).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn c_to_fortran_writes_back_run_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().canonicalize().unwrap();
    let Some(log) = strace(&child("child_c_to_fortran", &folder), "sync_file_range,fadvise64")
    else {
        return;
    };
    let output = folder.join("f.npy");
    let output = output.to_str().unwrap();
    // The length argument: the third of `sync_file_range(fd, offset, len, flags)` and of
    // `fadvise64(fd, offset, len, advice)`.
    let lengths: Vec<u64> = log
        .iter()
        .filter(|l| {
            ["sync_file_range", "fadvise64"].iter().any(|call| fd_path(l, call) == Some(output))
        })
        .map(|l| l.split(", ").nth(2).and_then(|n| n.parse().ok()).expect("a length"))
        .collect();
    let column = (C2F.0 * 8) as u64;
    assert!(
        lengths.len() >= C2F.1 * 4,
        "write-back and eviction of the output in {} calls:\n{}",
        lengths.len(),
        log.join("\n")
    );
    let longest = lengths.iter().max().copied().unwrap_or(0);
    assert!(
        longest < column,
        "a call covered {longest} bytes of the output, more than a column ({column}):\n{}",
        log.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Inputs larger than the memory available: read ahead through the fault path.

/// Elements of each input of `child_add_in_cgroup`: 12 MiB of `f64`, so that the three
/// operands (36 MiB) do not fit in [`ADD_CGROUP_LIMIT`].
const ADD_LEN: usize = 3 << 19;

/// The memory cgroup limit that `adding_reads_inputs_not_cached_through_the_fault_path_and_keeps_what_fits` runs its child in.
const ADD_CGROUP_LIMIT: u64 = 24 << 20;

/// A fresh cgroup v1 memory cgroup, a child of this process's own, with a memory limit;
/// removed on drop. `None` (through the skip policy) where there is none or it cannot be
/// made (not root).
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    fn new(limit: u64) -> Option<Self> {
        let root = Path::new("/sys/fs/cgroup/memory");
        if !root.join("memory.limit_in_bytes").exists() {
            common::skip(format!("no cgroup v1 memory controller at {}", root.display()));
            return None;
        }
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        // Lines of `/proc/self/cgroup` are `id:controllers:path`.
        let own = cgroups
            .lines()
            .filter_map(|line| line.split_once(':')?.1.split_once(':'))
            .find(|(controllers, _)| controllers.split(',').any(|c| c == "memory"))
            .map_or("/", |(_, path)| path);
        let dir = root
            .join(own.trim_start_matches('/'))
            .join(format!("ndmmap-edges-add-{}", std::process::id()));
        let made = std::fs::create_dir(&dir)
            .and_then(|()| std::fs::write(dir.join("memory.limit_in_bytes"), limit.to_string()));
        match made {
            Ok(()) => Some(Self(dir)),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                common::skip(format!("cannot make a memory cgroup at {}: {e}", dir.display()));
                None
            }
        }
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The child has exited: no task is left, and its page cache moves to the parent.
        if let Err(e) = std::fs::remove_dir(&self.0) {
            eprintln!("warning: memory cgroup {} left behind: {e}", self.0.display());
        }
    }
}

#[test]
#[ignore = "run as a child process by `adding_reads_inputs_not_cached_through_the_fault_path_and_keeps_what_fits`"]
fn child_add_in_cgroup() {
    let Some(folder) = child_arg() else { return };
    if let Some(cgroup) = std::env::var_os("NDMMAP_EDGES_CGROUP") {
        let procs = Path::new(&cgroup).join("cgroup.procs");
        std::fs::write(procs, std::process::id().to_string()).unwrap();
    }
    // SAFETY: only this process touches the files in the parent's temporary folder.
    let a = unsafe { Array1::<f64>::map_npy(folder.join("a.npy")) }.unwrap();
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_npy(folder.join("b.npy")) }.unwrap();
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_npy(folder.join("c.npy"), ADD_LEN) }.unwrap();
    let mut add = ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b);
    if std::env::var_os("NDMMAP_EDGES_KEEP").is_some() {
        add = add.evict_after_read(false);
    }
    // On every core where rayon is there, as the README's add runs.
    #[cfg(feature = "rayon")]
    add.par_for_each(|c, &a, &b| *c = a + b).unwrap();
    #[cfg(not(feature = "rayon"))]
    add.for_each(|c, &a, &b| *c = a + b).unwrap();
    assert!(c.iter().enumerate().all(|(i, &c)| c == 3.0 * i as f64));
}

/// The engine reads inputs in order through the fault path of a short-lived map of its own
/// (`MADV_HUGEPAGE`, then `MADV_POPULATE_READ`: large folios) when the mapped operands do
/// not fit in the memory available, here a 24 MiB memory cgroup, and evicts them after
/// use. Where they fit, it does so only for the pages not in the page cache as the walk
/// begins, and evicts only those, unless asked to keep them for the next pass; inputs
/// already cached are asked for with `MADV_WILLNEED` and stay cached. The sum is right
/// every time.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn adding_reads_inputs_not_cached_through_the_fault_path_and_keeps_what_fits() {
    let Some(dir) = common::disk_tempdir() else { return };
    let folder = dir.path().canonicalize().unwrap();
    Array1::from_shape_fn(ADD_LEN, |i| i as f64).save_npy(folder.join("a.npy")).unwrap();
    Array1::from_shape_fn(ADD_LEN, |i| 2.0 * i as f64).save_npy(folder.join("b.npy")).unwrap();
    let Some(cgroup) = MemoryCgroup::new(ADD_CGROUP_LIMIT) else { return };
    // A 32-bit x86 process maps with mmap2 and advises with fadvise64_64.
    let (mmap, fadvise) =
        if cfg!(target_arch = "x86") { ("mmap2", "fadvise64_64") } else { ("mmap", "fadvise64") };
    let calls = &format!("{mmap},madvise,{fadvise}");
    // The short-lived maps of an input: read-only, shared, of at most one 2 MiB step (plus
    // the page the step starts in), on that input's file.
    let maps_of = |log: &[String], name: &str| -> Vec<u64> {
        let file = folder.join(name);
        let file = file.to_str().unwrap();
        log.iter()
            .filter(|l| l.contains("MAP_SHARED") && fd_path(l, mmap) == Some(file))
            .map(|l| l.split(", ").nth(1).and_then(|n| n.parse().ok()).expect("a length"))
            .filter(|&len| len <= (2 << 20) + 4096)
            .collect()
    };
    let succeeded = |log: &[String], advice: &str| {
        log.iter().filter(|l| l.contains(advice) && l.trim_end().ends_with("= 0")).count()
    };

    let mut capped = child("child_add_in_cgroup", &folder);
    capped.env("NDMMAP_EDGES_CGROUP", &cgroup.0);
    let Some(log) = strace(&capped, calls) else { return };
    let (a_maps, b_maps) = (maps_of(&log, "a.npy"), maps_of(&log, "b.npy"));
    // Each input is 12 MiB: six steps, unless the computation overtook read-ahead.
    let described = || format!("a: {a_maps:?}, b: {b_maps:?}\n{}", log.join("\n"));
    assert!(
        a_maps.len() >= 3 && b_maps.len() >= 3,
        "short-lived maps of the inputs: {}",
        described()
    );
    assert!(succeeded(&log, "MADV_POPULATE_READ") >= 6, "populated: {}", described());
    let evicted = log.iter().filter(|l| {
        l.contains("POSIX_FADV_DONTNEED")
            && ["a.npy", "b.npy"].iter().any(|n| fd_path(l, fadvise) == folder.join(n).to_str())
    });
    assert!(evicted.count() >= 2, "inputs never evicted after use: {}", described());
    // And they left the page cache: all but the last few chunks (four of 2 MiB in flight).
    let size = std::fs::metadata(folder.join("a.npy")).unwrap().len();
    for name in ["a.npy", "b.npy"] {
        let Some(cached) = cached_bytes(&folder.join(name)) else { return };
        assert!(cached <= size - (3 << 20), "{name}: {cached} of {size} bytes still cached");
    }

    // Without a cap, inputs in the page cache are asked for with `MADV_WILLNEED` and stay
    // cached: no short-lived map, no eviction.
    let evictions = |log: &[String], name: &str| {
        let file = folder.join(name);
        let file = file.to_str();
        let dropped = log.iter().filter(|l| l.contains("POSIX_FADV_DONTNEED"));
        dropped.filter(|l| fd_path(l, fadvise) == file).count()
    };
    for name in ["a.npy", "b.npy"] {
        std::fs::read(folder.join(name)).unwrap();
    }
    std::fs::remove_file(folder.join("c.npy")).unwrap();
    let Some(log) = strace(&child("child_add_in_cgroup", &folder), calls) else { return };
    let huge_pages = log.iter().filter(|l| l.contains("MADV_HUGEPAGE")).count();
    let will_need = succeeded(&log, "MADV_WILLNEED");
    let dropped = evictions(&log, "a.npy") + evictions(&log, "b.npy");
    assert!(
        huge_pages == 0 && will_need > 0 && maps_of(&log, "a.npy").is_empty() && dropped == 0,
        "cached, without a cap: {huge_pages} maps asked for huge pages, {will_need} \
         MADV_WILLNEED, {dropped} evictions of the inputs:\n{}",
        log.join("\n")
    );

    // Without a cap, an input not in the page cache is read through the fault path and
    // dropped after use, while the cached one is left alone.
    let Some(()) = drop_from_page_cache(&folder.join("b.npy")) else { return };
    std::fs::remove_file(folder.join("c.npy")).unwrap();
    let Some(log) = strace(&child("child_add_in_cgroup", &folder), calls) else { return };
    let (a_maps, b_maps) = (maps_of(&log, "a.npy"), maps_of(&log, "b.npy"));
    let (a_dropped, b_dropped) = (evictions(&log, "a.npy"), evictions(&log, "b.npy"));
    assert!(
        a_maps.is_empty() && a_dropped == 0 && b_maps.len() >= 3 && b_dropped >= 2,
        "b cold, a cached, without a cap: maps a {a_maps:?} b {b_maps:?}, evictions a \
         {a_dropped} b {b_dropped}:\n{}",
        log.join("\n")
    );
    let (Some(a), Some(b)) =
        (cached_bytes(&folder.join("a.npy")), cached_bytes(&folder.join("b.npy")))
    else {
        return;
    };
    assert!(a >= size && b <= size - (3 << 20), "cached after: a {a}, b {b} of {size} bytes");

    // Asked to keep what it reads (`evict_after_read(false)`), it reads b the same way,
    // evicts nothing, and b stays cached for a second pass, as it fits.
    let Some(()) = drop_from_page_cache(&folder.join("b.npy")) else { return };
    std::fs::remove_file(folder.join("c.npy")).unwrap();
    let mut keeping = child("child_add_in_cgroup", &folder);
    keeping.env("NDMMAP_EDGES_KEEP", "1");
    let Some(log) = strace(&keeping, calls) else { return };
    let (a_dropped, b_dropped) = (evictions(&log, "a.npy"), evictions(&log, "b.npy"));
    assert!(
        maps_of(&log, "b.npy").len() >= 3 && a_dropped == 0 && b_dropped == 0,
        "b cold, evict_after_read(false): evictions a {a_dropped} b {b_dropped}:\n{}",
        log.join("\n")
    );
    let (Some(a), Some(b)) =
        (cached_bytes(&folder.join("a.npy")), cached_bytes(&folder.join("b.npy")))
    else {
        return;
    };
    assert!(a >= size && b >= size, "kept: a {a}, b {b} of {size} bytes cached after");
}

/// How many bytes of `path` are in the page cache, by util-linux's `fincore`; `None`
/// (through the skip policy) without it.
fn cached_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output();
    let bytes = out
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok());
    if bytes.is_none() {
        common::skip(format!("fincore could not tell what of {} is cached", path.display()));
    }
    bytes
}

/// Writes `path`'s pages to disk and drops them from the page cache, with GNU `dd`
/// (`iflag=nocache count=0`: the whole file); `None` (through the skip policy) without it.
fn drop_from_page_cache(path: &Path) -> Option<()> {
    std::fs::File::open(path).unwrap().sync_all().unwrap();
    let status = Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status();
    match status {
        Ok(status) if status.success() => Some(()),
        other => {
            common::skip(format!(
                "GNU dd could not drop {} from the page cache: {other:?}",
                path.display()
            ));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Appends: committed in groups, a valid prefix at every moment.

const PUSHES: usize = 10_000;

#[test]
#[ignore = "run as a child process by `pushes_sync_a_few_times_and_readers_see_a_prefix`"]
fn child_push() {
    let Some(path) = child_arg() else { return };
    // SAFETY: the parent reads the file only after this process ends.
    let mut log = unsafe { Array2::<f64>::create_npy(&path, (0, 8)) }.unwrap();
    for i in 0..PUSHES {
        log.push(Array1::from_elem(8, i as f64).view()).unwrap();
    }
    log.close().unwrap();
}

/// Ten thousand single-row pushes to a `.npy` file used to `fdatasync` once each; committed
/// in groups they sync once per reservation of capacity.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn pushes_sync_a_few_times_and_readers_see_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap().join("log.npy");
    if let Some(log) = strace(&child("child_push", &path), "fsync,fdatasync,msync") {
        let syncs = log.iter().filter(|l| !l.contains("MS_ASYNC")).count();
        assert!(syncs < 40, "{syncs} syncs for {PUSHES} pushes:\n{}", log.join("\n"));
        let back: Array2<f64> = ndmmap::npy::read_npy(&path).unwrap();
        assert_eq!(back.nrows(), PUSHES);
        assert!(back.rows().into_iter().enumerate().all(|(i, r)| r.iter().all(|&x| x == i as f64)));
    }

    // In process: rows not yet committed are not in the header, but a valid prefix is;
    // flush commits them, and so does drop.
    let path = dir.path().join("prefix.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut log = unsafe { Array2::<u32>::create_npy(&path, (0, 4)) }.unwrap();
    for i in 0..1000u32 {
        log.push(Array1::from_elem(4, i).view()).unwrap();
        if i % 97 == 0 {
            let seen: Array2<u32> = ndmmap::npy::read_npy(&path).unwrap();
            assert!(seen.nrows() <= i as usize + 1);
            let prefix = log.slice(s![..seen.nrows(), ..]);
            assert_eq!(seen, prefix);
        }
    }
    log.flush().unwrap();
    assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [1000, 4]);
    log.push(Array1::from_elem(4, 1000).view()).unwrap();
    drop(log);
    let back: Array2<u32> = ndmmap::npy::read_npy(&path).unwrap();
    assert_eq!(back.nrows(), 1001);
    assert_eq!(back.row(1000), Array1::from_elem(4, 1000));
}

/// Committed in groups, a header is only built when the growth axis's length gains a
/// digit; a header with room for two digits takes the 99th row and refuses the 100th, and
/// every commit in between states the rows exactly.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn group_commit_headers_fit_digit_by_digit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tight.npy");
    // A version 1.0 header for shape (1,) with one space of padding: room for (99,).
    let dict = b"{'descr': '|u1', 'fortran_order': False, 'shape': (1,), } \n";
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
    file.extend_from_slice(dict);
    file.push(0);
    std::fs::write(&path, &file).unwrap();

    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array1::<u8>::map_npy_mut(&path) }.unwrap();
    for i in 1..99u8 {
        a.push(ndarray::arr0(i).view()).unwrap();
        if i % 7 == 0 {
            a.flush().unwrap();
            assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [usize::from(i) + 1]);
        }
    }
    let err = a.push(ndarray::arr0(99).view()).unwrap_err();
    assert!(matches!(&err, Error::NpyHeaderFull { shape, .. } if shape == &[100]), "{err:?}");
    assert_eq!(a.len(), 99);
    drop(a);
    let back: Array1<u8> = ndmmap::npy::read_npy(&path).unwrap();
    assert_eq!(back, Array1::from_iter(0..99u8));
}
