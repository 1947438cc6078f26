//! An `.npz` archive, and every guard over one of its members, holds the file it opened,
//! on real files: an archive replaced at its path (by `save_npz`, `NpzWriter` or
//! `save_npy`, which write a new file and rename it into place) is a different file, which
//! nothing of the old archive reads or writes; the old archive goes on reading its own
//! members, as NumPy's `NpzFile` does. The read-write guard reports what its drop would
//! swallow; a member stating a huge size is an error, not an abort.
//!
//! Cases whose symptom would kill the process (an abort on allocation failure, a signal on
//! a file-size limit) run in a child: this test binary itself, running an ignored
//! `child_*` test with `NDMMAP_NPZ_CHILD` set, under `ulimit` through `sh`. The NumPy checks
//! use the Python of `common::numpy_python` (the skip policy of `tests/common`).
#![cfg(feature = "npz")]
// Test helpers take owned values built per case; clarity over borrowing. Values compared
// exactly were written exactly.
#![allow(clippy::needless_pass_by_value, clippy::float_cmp)]

use std::path::{Path, PathBuf};
use std::process::Command;
#[cfg(unix)]
use std::process::Output;

use crate::common::{self, describe};

use ndmmap::Error;
use ndmmap::npy::{self, NpyOptions};
use ndmmap::npz::{NpzArchive, NpzError, NpzOptions, NpzWriter, save_npz};
use ndmmap::prelude::*;

// ---------------------------------------------------------------------------------------
// What the archive holds at first, and what replaces it
// ---------------------------------------------------------------------------------------

/// The archive's first members: `a` (16 `f64`s) then `b` (8 `i32`s), a few hundred bytes.
fn old_a() -> Array1<f64> {
    Array1::from_iter((0..16).map(f64::from))
}

fn old_b() -> Array1<i32> {
    Array1::from_iter(100..108)
}

fn save_old(path: &Path) {
    save_npz(path, &[("a", &old_a()), ("b", &old_b())]).unwrap();
}

/// The new file's arrays: larger than the old archive, so that every offset recorded in
/// the old one falls inside the new file's data.
fn new_f64() -> Array1<f64> {
    Array1::from_iter((0..1000).map(|i| f64::from(i) * 0.5 + 1000.0))
}

fn new_i32() -> Array1<i32> {
    Array1::from_iter(-300..0)
}

/// The three writers that put a new file at a path by renaming it into place.
#[derive(Clone, Copy, Debug)]
enum Writer {
    SaveNpz,
    Streaming,
    SaveNpy,
}

impl Writer {
    /// `save_npz`, `NpzWriter`, `save_npy`.
    const ALL: [Writer; 3] = [Writer::SaveNpz, Writer::Streaming, Writer::SaveNpy];

    /// Writes this writer's new file at `path`.
    fn write(self, path: &Path) {
        self.try_write(path).unwrap();
    }

    fn try_write(self, path: &Path) -> Result<(), Error> {
        match self {
            // The old names, in the other order and with other dtypes.
            Writer::SaveNpz => save_npz(path, &[("b", &new_f64()), ("a", &new_i32())]),
            Writer::Streaming => {
                let mut writer = NpzWriter::create(path)?;
                writer.add("b", &new_f64())?;
                writer.add_compressed("a", &new_i32())?;
                writer.finish()
            }
            Writer::SaveNpy => new_f64().save_npy(path),
        }
    }

    /// Writes while a guard maps the file at `path`: on Windows, refused (see
    /// `common::replace_under_a_map`).
    fn write_under_a_map(self, path: &Path) {
        common::replace_under_a_map(path, || self.try_write(path));
    }

    /// Asks NumPy whether the file at `path` holds exactly what [`write`](Self::write)
    /// wrote (values built here, not read back by ndmmap).
    fn numpy_agrees(self, path: &Path) {
        // NumPy is the host's Python, which a Windows program under Wine cannot start: the
        // host's run of this test asks it.
        if cfg!(windows) {
            return;
        }
        let Some(python) = common::numpy_python() else { return };
        let check = match self {
            Writer::SaveNpy => {
                "x = np.load(p); assert x.dtype == '<f8' and x.tolist() == [i * 0.5 + 1000 for i \
                 in range(1000)], x"
            }
            Writer::SaveNpz | Writer::Streaming => {
                "f = np.load(p); assert f.files == ['b', 'a'], f.files; \
                 b, a = f['b'], f['a']; \
                 assert b.dtype == '<f8' and b.tolist() == [i * 0.5 + 1000 for i in range(1000)]; \
                 assert a.dtype == '<i4' and a.tolist() == list(range(-300, 0))"
            }
        };
        let script = format!("import sys, numpy as np; p = sys.argv[1]; {check}; print('ok')");
        let output = Command::new(python).args(["-c", &script]).arg(path).output().unwrap();
        assert!(output.status.success(), "NumPy: {self:?} {}", describe(&output));
    }
}

/// The kinds of guard over a member.
#[derive(Clone, Copy, Debug)]
enum Guard {
    ReadOnly,
    CopyOnWrite,
    /// Read-write, dropped without `close`.
    ReadWriteDropped,
    /// Read-write, flushed while replaced, then closed.
    ReadWriteClosed,
}

impl Guard {
    const ALL: [Guard; 4] =
        [Guard::ReadOnly, Guard::CopyOnWrite, Guard::ReadWriteDropped, Guard::ReadWriteClosed];
}

/// Maps member `a` of the archive at `path` as `kind`, writes through the guard if it can
/// (`a * 10 + 1`), replaces the archive with `writer`'s file, and checks: the guard still
/// shows the old member (with its own writes) while it lives; once it is gone the new file
/// is byte for byte what the writer writes elsewhere; the old archive reads `a` as the guard
/// left it, its checksum true; NumPy loads the new file as written. On Windows the replace
/// under the guard is refused; once the guard and the archive are gone it goes through.
fn replace_under(kind: Guard, writer: Writer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.npz");
    let reference = dir.path().join("reference");
    writer.write(&reference);
    save_old(&path);
    let archive = NpzArchive::open(&path).unwrap();
    let written = old_a().mapv(|x| x * 10.0 + 1.0);
    let case = format!("{kind:?} under {writer:?}");
    match kind {
        Guard::ReadOnly => {
            // SAFETY: a fresh temporary folder; the file this archive opened is written by
            // nothing but its guards (the new file is another file).
            let a = unsafe { archive.map::<f64, Ix1>("a") }.unwrap();
            writer.write_under_a_map(&path);
            assert_eq!(*a, old_a(), "{case}");
            drop(a);
        }
        Guard::CopyOnWrite => {
            // SAFETY: as above.
            let mut a = unsafe { archive.map_copy::<f64, Ix1>("a") }.unwrap();
            a.mapv_inplace(|x| x * 10.0 + 1.0);
            writer.write_under_a_map(&path);
            assert_eq!(*a, written, "{case}");
            drop(a);
        }
        Guard::ReadWriteDropped | Guard::ReadWriteClosed => {
            // SAFETY: as above.
            let mut a = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap();
            assert_eq!(a.name(), "a");
            a.mapv_inplace(|x| x * 10.0 + 1.0);
            writer.write_under_a_map(&path);
            assert_eq!(*a, written, "{case}");
            if let Guard::ReadWriteClosed = kind {
                a.flush().unwrap();
                let now = std::fs::read(&path).unwrap();
                assert!(
                    cfg!(windows) || now == std::fs::read(&reference).unwrap(),
                    "{case}: flush wrote the new file"
                );
                a.close().unwrap();
            } else {
                drop(a);
            }
        }
    }
    // The old archive reads its own `a`: as the guard left it, writes and checksum in the
    // file the guard mapped.
    let left = match kind {
        Guard::ReadOnly | Guard::CopyOnWrite => old_a(),
        Guard::ReadWriteDropped | Guard::ReadWriteClosed => written,
    };
    #[cfg(windows)]
    {
        // The file was not replaced: the archive reads it, then goes, and the replace goes
        // through (Wine and Windows before 10 1607 rename over no open file).
        assert_eq!(archive.read::<f64, Ix1>("a").unwrap(), left, "{case}");
        drop(archive);
        writer.write(&path);
    }
    let (now, want) = (std::fs::read(&path).unwrap(), std::fs::read(&reference).unwrap());
    assert!(now == want, "{case}: the new file differs from what its writer wrote");
    writer.numpy_agrees(&path);
    #[cfg(not(windows))]
    assert_eq!(archive.read::<f64, Ix1>("a").unwrap(), left, "{case}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn replacing_the_archive_under_any_member_guard_leaves_the_new_file_as_written() {
    for writer in Writer::ALL {
        for kind in Guard::ALL {
            replace_under(kind, writer);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_bool_npy_saved_over_an_archive_keeps_only_zeros_and_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.npz");
    save_old(&path);
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: a fresh temporary folder; the new file is written only by `save_npy`, before
    // it is mapped.
    let mut a = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap();
    a.fill(2.0);
    let mask = Array1::from_iter((0..8192).map(|i| i % 3 == 0));
    common::replace_under_a_map(&path, || mask.save_npy(&path));
    #[cfg(windows)]
    {
        // Refused while `a` mapped the archive: the save goes through once it is gone.
        drop((a, archive));
        mask.save_npy(&path).unwrap();
    }
    // SAFETY: as above.
    let bools = unsafe { npy::map_bool::<Ix1>(&path, &NpyOptions::new()) }.unwrap();
    // The old guard rewrites its member's checksum as it goes: into the file it mapped.
    #[cfg(not(windows))]
    drop(a);
    let bytes: &[u8] = bytemuck::cast_slice(bools.as_slice().unwrap());
    assert!(bytes.iter().all(|&b| b <= 1), "a bool byte other than 0 or 1");
    let trues = bools.iter().filter(|&&b| b).count();
    assert_eq!(trues + bools.iter().filter(|&&b| !b).count(), bools.len());
    assert_eq!(trues, mask.iter().filter(|&&b| b).count());
    assert_eq!(*bools, mask);
}

// ---------------------------------------------------------------------------------------
// An old archive reads its own members
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn an_archive_replaced_with_its_members_swapped_still_reads_and_maps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swap.npz");
    let (a, b) =
        (Array1::from_iter((0..8).map(f64::from)), Array1::from_iter((100..108).map(f64::from)));
    save_npz(&path, &[("a", &a), ("b", &b)]).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    // The same sizes in the other order: the old offsets of `a` are the new `b`'s.
    let (new_a, new_b) = (
        Array1::from_iter((300..308).map(f64::from)),
        Array1::from_iter((200..208).map(f64::from)),
    );
    let save = || save_npz(&path, &[("b", &new_b), ("a", &new_a)]);
    if common::replace_while_open(&path, save).is_none() {
        // Refused (Wine, Windows before 10 1607: no rename over an open file): the archive
        // still reads and maps its members.
        assert_eq!(archive.read::<f64, Ix1>("b").unwrap(), b);
        // SAFETY: a fresh temporary folder; the file this archive opened is written by
        // nothing.
        assert_eq!(*unsafe { archive.map::<f64, Ix1>("a") }.unwrap(), a);
        return;
    }
    let replaced = std::fs::read(&path).unwrap();

    assert_eq!(archive.read::<f64, Ix1>("a").unwrap(), a);
    assert_eq!(archive.read::<f64, Ix1>("b").unwrap(), b);
    // SAFETY: a fresh temporary folder; the file this archive opened is written by nothing.
    let mapped = unsafe { archive.map::<f64, Ix1>("a") }.unwrap();
    assert_eq!(*mapped, a);
    // SAFETY: as above.
    let copied = unsafe { archive.map_copy::<f64, Ix1>("b") }.unwrap();
    assert_eq!(*copied, b);
    // A read-write map would open the path again, which names another file now: refused,
    // the new file untouched.
    // SAFETY: as above.
    let err = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap_err();
    assert!(matches!(&err, Error::FileReplaced { path: p } if *p == path), "{err:?}");
    assert!(err.to_string().contains("was replaced since it was opened"), "{err}");
    // So is a map that takes a lock, which needs an open file of its own.
    let locking = NpzArchive::open_with(&path, &NpzOptions::new().lock(Lock::Shared)).unwrap();
    save_npz(&path, &[("b", &new_b), ("a", &new_a)]).unwrap();
    // SAFETY: as above.
    let err = unsafe { locking.map::<f64, Ix1>("a") }.unwrap_err();
    assert!(matches!(&err, Error::FileReplaced { .. }), "{err:?}");
    assert_eq!(locking.read::<f64, Ix1>("a").unwrap(), new_a);
    drop((mapped, copied));
    // The same writer writes the same bytes: the last save is all the file holds.
    assert!(std::fs::read(&path).unwrap() == replaced, "the new file was changed");
    // A new archive opens the new file.
    let new = NpzArchive::open(&path).unwrap();
    assert_eq!(new.read::<f64, Ix1>("a").unwrap(), new_a);
    assert_eq!(new.read::<f64, Ix1>("b").unwrap(), new_b);

    // NumPy's NpzFile, replaced the same way (a new file renamed into place), returns the
    // old `a` too.
    let Some(python) = common::numpy_python() else { return };
    let script = "import os, sys, numpy as np; p = sys.argv[1]
np.savez(p, a=np.arange(8.0), b=np.arange(100.0, 108.0))
with np.load(p) as f:
    np.savez(p + '.new.npz', b=np.arange(200.0, 208.0), a=np.arange(300.0, 308.0))
    os.replace(p + '.new.npz', p)
    print(*f['a'].tolist())";
    let numpy = dir.path().join("numpy.npz");
    let output = Command::new(python).args(["-c", script]).arg(&numpy).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let printed: Vec<f64> = String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(printed, a.to_vec());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_lock_belongs_to_the_guard_that_took_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.npz");
    save_old(&path);
    let options = NpzOptions::new().lock(Lock::Exclusive);
    let archive = NpzArchive::open_with(&path, &options).unwrap();
    // SAFETY: a fresh temporary folder that nothing else writes.
    let first = unsafe { archive.map::<f64, Ix1>("a") }.unwrap();
    // A second guard's lock conflicts with the first's, from the same archive too.
    // SAFETY: as above.
    let err = unsafe { archive.map::<f64, Ix1>("a") }.unwrap_err();
    assert!(matches!(&err, Error::Locked { lock: Lock::Exclusive, .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { archive.map_mut::<i32, Ix1>("b") }.unwrap_err();
    assert!(matches!(&err, Error::Locked { .. }), "{err:?}");
    // The lock goes with the guard, not with the archive.
    drop(first);
    // SAFETY: as above.
    let mut b = unsafe { archive.map_mut::<i32, Ix1>("b") }.unwrap();
    b[0] = -1;
    b.close().unwrap();
    assert_eq!(archive.read::<i32, Ix1>("b").unwrap()[0], -1);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reads_from_many_threads_share_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.npz");
    let members: Vec<(String, Array1<i64>)> = (0..8)
        .map(|k| (format!("m{k}"), Array1::from_iter((0..4096).map(|i| i * 8 + k))))
        .collect();
    let mut writer = NpzWriter::create(&path).unwrap();
    for (i, (name, array)) in members.iter().enumerate() {
        if i % 2 == 0 {
            writer.add(name, array).unwrap();
        } else {
            writer.add_compressed(name, array).unwrap();
        }
    }
    writer.finish().unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    // One open file, read from 8 threads at once, 20 times each: every read gets its own
    // member (a shared cursor would interleave the seeks and reads).
    std::thread::scope(|scope| {
        for (name, array) in &members {
            let archive = &archive;
            scope.spawn(move || {
                for _ in 0..20 {
                    assert_eq!(&archive.read::<i64, Ix1>(name).unwrap(), array, "{name}");
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// Children: an allocation limit, a file-size limit
// ---------------------------------------------------------------------------------------

const CHILD_ENV: &str = "NDMMAP_NPZ_CHILD";

/// This test binary, run through `sh` with `limit` (shell commands: `ulimit ...`) applied,
/// set to run the ignored test `name` alone with [`CHILD_ENV`] = `arg`.
#[cfg(unix)]
fn child(limit: &str, name: &str, arg: &Path) -> Output {
    Command::new("sh")
        .args(["-c", &format!("{limit} && exec \"$0\" \"$@\"")])
        .arg(std::env::current_exe().unwrap())
        .args([&common::test_name(module_path!(), name), "--exact", "--ignored", "--nocapture"])
        .arg("--test-threads=1")
        .env(CHILD_ENV, arg)
        .output()
        .unwrap()
}

fn child_arg() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

/// The `RESULT ...` line a child printed, after checking it exited normally.
#[cfg(unix)]
fn result_of(output: &Output) -> String {
    assert!(output.status.success(), "the child died: {}", describe(output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.split("RESULT ").nth(1).map(str::to_owned));
    line.unwrap_or_else(|| panic!("no result: {}", describe(output)))
}

/// A `.npy` header for `len` bytes (`'|u1'`), 128 bytes long.
fn npy_header(len: u64) -> Vec<u8> {
    let dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({len},), }}");
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&118u16.to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(127, b' ');
    header.push(b'\n');
    header
}

/// Writes a one-member zip archive by hand: member `x.npy` whose local data is `data`
/// followed by `gap` zero bytes (a hole: the file stays small on disk), compressed with
/// `method` (0 stored, 8 deflate), stating `size` bytes uncompressed and checksum `crc`.
fn one_member_zip(path: &Path, method: u16, data: &[u8], gap: u64, size: u64, crc: u32) {
    use std::io::{Seek, SeekFrom, Write};
    let name = b"x.npy";
    let compressed = data.len() as u64 + gap;
    let u32_of = |n: u64| u32::try_from(n).unwrap().to_le_bytes();
    let fields = |out: &mut Vec<u8>| {
        out.extend_from_slice(&[20, 0, 0, 0]); // version needed, flags
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&u32_of(compressed));
        out.extend_from_slice(&u32_of(size));
        out.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    let mut local = 0x0403_4b50u32.to_le_bytes().to_vec();
    fields(&mut local);
    local.extend_from_slice(name);
    let directory_at = local.len() as u64 + compressed;
    let mut central = 0x0201_4b50u32.to_le_bytes().to_vec();
    central.extend_from_slice(&[20, 0]); // version made by
    fields(&mut central);
    central.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
    central.extend_from_slice(&0u32.to_le_bytes()); // the local header's offset
    central.extend_from_slice(name);
    let mut end = 0x0605_4b50u32.to_le_bytes().to_vec();
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&u32_of(central.len() as u64));
    end.extend_from_slice(&u32_of(directory_at));
    end.extend_from_slice(&[0, 0]);
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(&local).unwrap();
    file.write_all(data).unwrap();
    file.seek(SeekFrom::Start(directory_at)).unwrap();
    file.write_all(&central).unwrap();
    file.write_all(&end).unwrap();
}

/// About 3.75 GiB: under the 4 GiB read limit, over the child's 2.9 GB address space.
#[cfg(all(unix, target_pointer_width = "64"))]
const HUGE: u64 = 0xF000_0000;

/// Reads member `x` of the archive at [`CHILD_ENV`] and prints what happened.
#[test]
#[cfg(target_pointer_width = "64")]
#[ignore = "a child of a_member_stating_a_huge_size_is_an_error_not_an_abort"]
fn child_read_huge() {
    let Some(path) = child_arg() else { return };
    let archive = NpzArchive::open(&path).unwrap();
    match archive.read::<u8, Ix1>("x") {
        Ok(x) => println!("RESULT read {}", x.len()),
        Err(Error::Npz { detail: NpzError::SizeMismatch { needed, available }, .. }) => {
            println!("RESULT size mismatch {needed} {available}");
        }
        Err(Error::Io { error, .. }) => println!("RESULT io {:?}", error.kind()),
        Err(e) => println!("RESULT other {e:?}"),
    }
}

// 64-bit only: its sizes (3.75 GiB stated, a 3 GB address-space limit) are a 64-bit
// process's; a 32-bit one cannot address the member at all.
#[test]
#[cfg(all(unix, target_pointer_width = "64"))]
#[cfg_attr(miri, ignore = "miri cannot run processes")]
fn a_member_stating_a_huge_size_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    // A deflated member that inflates to its 128-byte .npy header and states 3.75 GiB: a
    // file of under 200 bytes that must not make a read reserve what it states.
    let header = npy_header(HUGE - 128);
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut deflated, &header).unwrap();
    let deflated = deflated.finish().unwrap();
    let small = dir.path().join("states_huge.npz");
    one_member_zip(&small, 8, &deflated, 0, HUGE, 0);
    let len = std::fs::metadata(&small).unwrap().len();
    assert!(len < 200, "{len} bytes");
    let limit = "ulimit -v 3000000";
    let result = result_of(&child(limit, "child_read_huge", &small));
    assert_eq!(result, format!("size mismatch {HUGE} 128"));

    // A stored member really that large (a hole, on disk a few blocks): its bytes are
    // there, so the read reserves them at once, and a process that cannot is told so.
    let large = dir.path().join("large.npz");
    one_member_zip(&large, 0, &header, HUGE - 128, HUGE, 0);
    let result = result_of(&child(limit, "child_read_huge", &large));
    assert_eq!(result, "io OutOfMemory");
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn a_member_inflating_to_more_than_it_states_is_a_size_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    // A .npy file of 8 bytes, then 100 more that no size in the archive accounts for; the
    // stated size and checksum are those of the .npy file alone.
    let mut npy = npy_header(8);
    npy.extend(1..=8u8);
    let stated = npy.len() as u64;
    let crc = crc32fast::hash(&npy);
    npy.extend([7u8; 100]);
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut deflated, &npy).unwrap();
    let path = dir.path().join("longer.npz");
    one_member_zip(&path, 8, &deflated.finish().unwrap(), 0, stated, crc);
    let archive = NpzArchive::open(&path).unwrap();
    let err = archive.read::<u8, Ix1>("x").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Npz { detail: NpzError::SizeMismatch { needed: 136, available: 137 }, .. }
        ),
        "{err:?}"
    );
    // Stated truly, the same member reads.
    let truly = dir.path().join("true.npz");
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut deflated, &npy[..136]).unwrap();
    one_member_zip(&truly, 8, &deflated.finish().unwrap(), 0, stated, crc);
    let x = NpzArchive::open(&truly).unwrap().read::<u8, Ix1>("x").unwrap();
    assert_eq!(x, Array1::from_iter(1..=8u8));
}

/// Writes to member `a` of the archive at [`CHILD_ENV`] through a read-write map and
/// closes it, printing what `close` returned; then does the same and drops the guard.
#[test]
#[ignore = "a child of close_reports_the_checksum_failure_that_drop_swallows"]
fn child_close_over_the_limit() {
    let Some(path) = child_arg() else { return };
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: the parent's temporary folder, which nothing else writes while we run.
    let mut a = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap();
    a.fill(-1.0);
    match a.close() {
        Ok(()) => println!("RESULT closed"),
        Err(Error::Io { error, action, .. }) => {
            println!("RESULT io {action}: {:?}", error.kind());
        }
        Err(e) => println!("RESULT other {e:?}"),
    }
    // SAFETY: as above.
    let mut a = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap();
    a.fill(-2.0);
    drop(a);
    println!("dropped");
}

#[test]
#[cfg(unix)]
#[cfg_attr(miri, ignore = "miri cannot run processes")]
fn close_reports_the_checksum_failure_that_drop_swallows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limited.npz");
    // Member `a` first: its local header lies in the first 512 bytes, the central directory
    // after them.
    save_npz(&path, &[("a", &old_a()), ("b", &Array1::<u8>::zeros(1024))]).unwrap();
    // A process whose files may not reach past 512 bytes (`ulimit -f 1`, SIGXFSZ ignored so
    // that the write fails with EFBIG instead of killing it): the mapped pages are written
    // back (the map is not subject to the limit), but the checksum in the central directory
    // cannot be.
    let output = child("trap '' XFSZ && ulimit -f 1", "child_close_over_the_limit", &path);
    assert_eq!(result_of(&output), "io update the checksum in: FileTooLarge");
    assert!(String::from_utf8_lossy(&output.stdout).contains("dropped"), "{}", describe(&output));
    // What close reported is so: the data was written, its checksum was not.
    let archive = NpzArchive::open(&path).unwrap();
    let err = archive.read::<f64, Ix1>("a").unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::Checksum, .. }), "{err:?}");
    // Without the limit, a write and close make the archive whole again.
    // SAFETY: a fresh temporary folder that nothing else writes.
    let mut a = unsafe { archive.map_mut::<f64, Ix1>("a") }.unwrap();
    a.fill(-3.0);
    a.close().unwrap();
    assert_eq!(archive.read::<f64, Ix1>("a").unwrap(), Array1::from_elem(16, -3.0));
}
