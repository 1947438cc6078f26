//! Replacing the file at a path (`save_npy`, `create_npy` / `create_file` with
//! `overwrite(true)`) while guards over the old file live, and what a replace keeps.
//!
//! A guard holds the file it mapped, not its path: after a replace, the new file's bytes are
//! exactly what its writer wrote (compared with the same writer's output at a fresh path),
//! whatever the old guard does next (write, grow, flush, close, drop), and the old guard
//! still sees the old file. A replace keeps what NumPy's `np.save` keeps, since it writes
//! the file in place: its permissions, its owner, and a symbolic link at the path (the
//! link's target gets the new data).
#![allow(clippy::cast_possible_truncation)]

use std::path::Path;
#[cfg(unix)]
use std::path::PathBuf;

use ndmmap::npy::{self, NpyOptions};
use ndmmap::prelude::*;
use ndmmap::{Error, MapOptions, MmapArray, MmapArrayMut};

use crate::common;

/// The old file's elements.
fn old_values(n: usize) -> Array1<u32> {
    Array1::from_shape_fn(n, |i| i as u32 + 1)
}

/// The new file's elements.
fn new_values(n: usize) -> Array1<u32> {
    Array1::from_shape_fn(n, |i| 1000 + i as u32)
}

/// Ways to put a new file at a path.
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// `save_npy` of [`new_values`].
    SaveNpy,
    /// `create_npy` with `overwrite(true)`, filled with [`new_values`], dropped.
    CreateNpy,
    /// `create_file` with `overwrite(true)`, filled with [`new_values`], closed.
    CreateFile,
}

impl Writer {
    fn write(self, path: &Path) {
        self.try_write(path).unwrap();
    }

    fn try_write(self, path: &Path) -> Result<(), Error> {
        let values = new_values(5);
        match self {
            Writer::SaveNpy => values.save_npy(path),
            Writer::CreateNpy => {
                let options = NpyOptions::new().overwrite(true);
                // SAFETY: no other process touches files in this test's temporary folder.
                let mut c = unsafe { Array1::<u32>::create_npy_with(path, 5, &options) }?;
                c.assign(&values);
                Ok(())
            }
            Writer::CreateFile => {
                let options = MapOptions::new().overwrite(true);
                // SAFETY: as above.
                let mut c = unsafe { Array1::<u32>::create_file_with(path, 5, &options) }?;
                c.assign(&values);
                c.close()
            }
        }
    }

    /// Writes while a guard maps the file at `path`: on Windows, refused (see
    /// `common::replace_under_a_map`).
    fn write_under_a_map(self, path: &Path) {
        common::replace_under_a_map(path, || self.try_write(path));
    }

    /// What the writer writes, at a path no guard has seen.
    fn reference(self, dir: &Path) -> Vec<u8> {
        let fresh = dir.join(format!("fresh-{self:?}"));
        self.write(&fresh);
        std::fs::read(&fresh).unwrap()
    }
}

/// Guards over the old file, and what each does after the replace.
#[derive(Clone, Copy, Debug)]
enum Kind {
    ReadOnly,
    ReadWrite,
    CopyOnWrite,
    /// A read-write guard that appends rows (past its capacity), flushes and closes.
    Growing,
}

const KINDS: [Kind; 4] = [Kind::ReadOnly, Kind::ReadWrite, Kind::CopyOnWrite, Kind::Growing];

// The mapping functions below: only this test's own guards and writers touch the file, and
// a replace puts a new file at the path, which the old guard does not map.

/// Maps the `.npy` (or raw) file at `path` read-only.
fn map_read_only(path: &Path, npy: bool) -> MmapArray<u32, Ix1> {
    if npy {
        // SAFETY: see above.
        unsafe { Array1::<u32>::map_npy(path) }.unwrap()
    } else {
        // SAFETY: see above.
        unsafe { Array1::<u32>::map_file(path) }.unwrap()
    }
}

/// Maps the `.npy` (or raw) file at `path` read-write, or copy-on-write.
fn map_writable(path: &Path, npy: bool, copy: bool) -> MmapArrayMut<u32, Ix1> {
    match (npy, copy) {
        // SAFETY: see above.
        (true, false) => unsafe { Array1::<u32>::map_npy_mut(path) },
        // SAFETY: see above.
        (false, false) => unsafe { Array1::<u32>::map_file_mut(path) },
        // SAFETY: see above.
        (true, true) => unsafe { Array1::<u32>::map_npy_copy(path) },
        // SAFETY: see above.
        (false, true) => unsafe { Array1::<u32>::map_file_copy(path) },
    }
    .unwrap()
}

/// Maps the old file at `path` (`.npy` or raw) as `kind`, lets `writer` replace it, then
/// uses the old guard; checks that the new file is the writer's alone and that the old
/// guard saw the old file throughout. On Windows the replace under the guard is refused,
/// the guard keeps working on the file, and once it is gone the writer replaces the file.
fn replace_under(dir: &Path, npy: bool, kind: Kind, writer: Writer) {
    let case = format!(
        "{kind:?} guard on a {} file, replaced by {writer:?}",
        if npy { "npy" } else { "raw" }
    );
    let path = dir.join(format!("{kind:?}-{writer:?}"));
    let old = old_values(4);
    if npy {
        old.save_npy(&path).unwrap();
    } else {
        std::fs::write(&path, bytemuck::cast_slice::<u32, u8>(old.as_slice().unwrap())).unwrap();
    }
    let old_bytes = std::fs::read(&path).unwrap();
    let expected = writer.reference(dir);
    match kind {
        Kind::ReadOnly => {
            let a = map_read_only(&path, npy);
            writer.write_under_a_map(&path);
            assert_eq!(*a, old, "{case}");
            drop(a);
        }
        Kind::ReadWrite | Kind::CopyOnWrite => {
            let mut a = map_writable(&path, npy, matches!(kind, Kind::CopyOnWrite));
            writer.write_under_a_map(&path);
            assert_eq!(*a, old, "{case}");
            a.fill(7);
            a.flush().unwrap();
            assert_eq!(*a, Array1::from_elem(4, 7), "{case}");
            a.close().unwrap();
        }
        Kind::Growing => {
            let mut a = map_writable(&path, npy, false);
            a.append(old_values(2).view()).unwrap();
            writer.write_under_a_map(&path);
            // Past the first reservation: growth writes to the file and remaps.
            let many = Array1::from_elem(300_000, 9u32);
            a.append(many.view()).unwrap();
            a.push(ndarray::arr0(5u32).view()).unwrap();
            a.flush().unwrap();
            assert_eq!(a.len(), 4 + 2 + 300_000 + 1, "{case}");
            assert_eq!(a.slice(s![..4]), old, "{case}");
            a.close().unwrap();
        }
    }
    // Windows refused the replace while the guard lived: now it goes through.
    if cfg!(windows) {
        writer.write(&path);
    }
    let found = std::fs::read(&path).unwrap();
    assert!(
        found == expected,
        "{case}: the new file is not its writer's alone: {} bytes, {} expected",
        found.len(),
        expected.len()
    );
    if !matches!(kind, Kind::ReadOnly | Kind::CopyOnWrite) {
        assert_ne!(expected, old_bytes, "{case}");
    }
}

#[test]
fn a_replaced_npy_file_is_its_writers_alone_under_every_guard() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        for writer in [Writer::SaveNpy, Writer::CreateNpy] {
            replace_under(dir.path(), true, kind, writer);
        }
    }
}

#[test]
fn a_replaced_raw_file_is_its_writers_alone_under_every_guard() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        replace_under(dir.path(), false, kind, Writer::CreateFile);
    }
}

#[test]
fn a_replaced_bool_file_is_its_writers_alone_under_map_bool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mask.npy");
    let old = array![true, false, true];
    old.save_npy(&path).unwrap();
    let new = array![false, false, true, true];
    let fresh = dir.path().join("fresh.npy");
    new.save_npy(&fresh).unwrap();
    // SAFETY: only this test touches the file; the replace puts a new file at the path.
    let mask = unsafe { npy::map_bool::<Ix1>(&path, &NpyOptions::new()) }.unwrap();
    // SAFETY: as above.
    let mut copy = unsafe { npy::map_bool_copy::<Ix1>(&path, &NpyOptions::new()) }.unwrap();
    common::replace_under_a_map(&path, || new.save_npy(&path));
    assert_eq!(*mask, old);
    copy[1] = true;
    assert_eq!(*copy, array![true, true, true]);
    drop((mask, copy));
    // Windows refused the replace while the maps lived: now it goes through.
    if cfg!(windows) {
        new.save_npy(&path).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&fresh).unwrap());
}

/// Every way a file is replaced at a path.
#[cfg(unix)]
const WRITERS: [Writer; 3] = [Writer::SaveNpy, Writer::CreateNpy, Writer::CreateFile];

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
#[test]
fn a_replace_keeps_the_files_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for writer in WRITERS {
        for kept in [0o600, 0o640, 0o604, 0o755] {
            let path = dir.path().join(format!("{writer:?}-{kept:o}"));
            old_values(3).save_npy(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(kept)).unwrap();
            writer.write(&path);
            assert_eq!(mode(&path), kept, "{writer:?} of a {kept:o} file");
        }
    }
}

#[cfg(unix)]
#[test]
fn a_replace_keeps_the_files_owner_where_it_may() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: `geteuid` only returns a number.
    if unsafe { libc::geteuid() } != 0 {
        common::skip("only root may give a file to another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for writer in WRITERS {
        let path = dir.path().join(format!("{writer:?}"));
        old_values(3).save_npy(&path).unwrap();
        std::os::unix::fs::chown(&path, Some(1234), Some(1234)).unwrap();
        writer.write(&path);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 1234), "{writer:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_replace_through_a_symbolic_link_replaces_its_target() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for writer in WRITERS {
        // A relative link into another folder, and a link to that link.
        let target = dir.path().join("data").join(format!("{writer:?}.npy"));
        let link = dir.path().join(format!("{writer:?}-link"));
        let link2 = dir.path().join(format!("{writer:?}-link2"));
        old_values(3).save_npy(&target).unwrap();
        std::os::unix::fs::symlink(Path::new("data").join(format!("{writer:?}.npy")), &link)
            .unwrap();
        std::os::unix::fs::symlink(&link, &link2).unwrap();
        let expected = writer.reference(dir.path());
        for path in [&link, &link2] {
            old_values(3).save_npy(&target).unwrap();
            writer.write(path);
            for (l, to) in [
                (&link, PathBuf::from("data").join(format!("{writer:?}.npy"))),
                (&link2, link.clone()),
            ] {
                assert!(
                    std::fs::symlink_metadata(l).unwrap().file_type().is_symlink(),
                    "{writer:?}"
                );
                assert_eq!(std::fs::read_link(l).unwrap(), to, "{writer:?}");
            }
            assert_eq!(
                std::fs::read(&target).unwrap(),
                expected,
                "{writer:?} through {}",
                path.display()
            );
        }
        // No temporary file is left beside the link or the target.
        let names = |folder: &Path| -> Vec<String> {
            std::fs::read_dir(folder)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        };
        assert_eq!(names(dir.path()), Vec::<String>::new());
        assert_eq!(names(&dir.path().join("data")), Vec::<String>::new());
    }
}

#[cfg(unix)]
#[test]
fn a_replace_through_a_dangling_link_creates_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.npy");
    std::os::unix::fs::symlink("target.npy", &link).unwrap();
    new_values(5).save_npy(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(npy::read_npy::<u32, Ix1>(dir.path().join("target.npy")).unwrap(), new_values(5));
}

#[test]
fn a_replace_of_a_folder_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = new_values(2).save_npy(dir.path()).unwrap_err();
    assert!(matches!(err, Error::IsADirectory { .. }), "{err}");
}

/// NumPy is the reference: `np.save` over a 0600 file and through a symbolic link, and
/// `save_npy` over the same, leave the same modes, links and bytes.
#[cfg(unix)]
#[test]
fn a_replace_keeps_what_np_save_keeps() {
    use std::os::unix::fs::PermissionsExt;
    let Some(python) = common::numpy_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for side in ["numpy", "ndmmap"] {
        let folder = dir.path().join(side);
        std::fs::create_dir(&folder).unwrap();
        old_values(3).save_npy(folder.join("private.npy")).unwrap();
        old_values(3).save_npy(folder.join("target.npy")).unwrap();
        std::os::unix::fs::symlink("target.npy", folder.join("link.npy")).unwrap();
        std::fs::set_permissions(
            folder.join("private.npy"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let script = "import numpy as np, sys\n\
                  d = sys.argv[1]\n\
                  np.save(d + '/private.npy', np.arange(1000, 1005, dtype='<u4'))\n\
                  np.save(d + '/link.npy', np.arange(1000, 1005, dtype='<u4'))\n";
    let status = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("numpy"))
        .status()
        .unwrap();
    assert!(status.success());
    let ours = dir.path().join("ndmmap");
    new_values(5).save_npy(ours.join("private.npy")).unwrap();
    new_values(5).save_npy(ours.join("link.npy")).unwrap();
    let state = |folder: &Path| {
        let link = std::fs::symlink_metadata(folder.join("link.npy")).unwrap();
        (
            mode(&folder.join("private.npy")),
            std::fs::read(folder.join("private.npy")).unwrap(),
            link.file_type().is_symlink(),
            std::fs::read(folder.join("target.npy")).unwrap(),
        )
    };
    let numpy = state(&dir.path().join("numpy"));
    assert_eq!((numpy.0, numpy.2), (0o600, true), "NumPy keeps the mode and the link");
    assert_eq!(state(&ours), numpy);
}

/// A file put at the path by someone else while a replace was being written is not
/// replaced: the permissions the new file took were the old file's.
#[cfg(all(unix, feature = "npz"))]
#[test]
fn a_file_replaced_during_a_replace_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npz");
    ndmmap::npz::save_npz(&path, &[("x", &old_values(3))]).unwrap();
    let mut writer = ndmmap::npz::NpzWriter::create(&path).unwrap();
    writer.add("x", &new_values(5)).unwrap();
    // Someone else's file, renamed over the path meanwhile.
    let theirs = dir.path().join("theirs");
    std::fs::write(&theirs, b"theirs").unwrap();
    std::fs::rename(&theirs, &path).unwrap();
    let err = writer.finish().unwrap_err();
    assert!(matches!(&err, Error::FileReplaced { path: p } if *p == path), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "the temporary file is removed");
}

/// Links that lead round in a circle end nowhere: the operating system's error, and no
/// file left behind.
#[cfg(unix)]
#[test]
fn a_replace_through_a_loop_of_links_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    std::os::unix::fs::symlink("b.npy", &a).unwrap();
    std::os::unix::fs::symlink("a.npy", &b).unwrap();
    let err = new_values(2).save_npy(&a).unwrap_err();
    assert!(matches!(&err, Error::Io { path, .. } if *path == a), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
