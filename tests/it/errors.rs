//! One test per `Error` variant that a file operation can raise: the variant and the
//! numbers in it are asserted, and the file is checked to be unchanged afterwards. The
//! last test reads the variants from the enum's source and finds, for each, a test under
//! `tests/` that asserts it.

use std::fs::OpenOptions;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use ndmmap::Error;
use ndmmap::prelude::*;

use crate::common;
use crate::{read_bytes, temp_file, write_elems};

/// A file of ten f64 (80 bytes) in a fresh folder.
fn eighty_bytes() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let (dir, path) = temp_file("a.bin");
    let data: Vec<f64> = (0..10).map(f64::from).collect();
    write_elems(&path, &data);
    let bytes = read_bytes(&path);
    assert_eq!(bytes.len(), 80);
    (dir, path, bytes)
}

/// Asserts that the file at `path` still holds exactly `bytes` (so also its length).
#[track_caller]
fn assert_unchanged(path: &Path, bytes: &[u8]) {
    assert_eq!(std::fs::metadata(path).unwrap().len(), bytes.len() as u64);
    assert_eq!(read_bytes(path), bytes);
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Read-only, read-write and copy-on-write maps of `path` with `options`; each must fail.
fn map_all_modes<D: Dimension>(path: &Path, options: &MapOptions<D>) -> [Error; 3] {
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array::<f64, D>::map_file_with(path, options) }.unwrap_err();
    // SAFETY: as above.
    let w = unsafe { Array::<f64, D>::map_file_mut_with(path, options) }.unwrap_err();
    // SAFETY: as above.
    let c = unsafe { Array::<f64, D>::map_file_copy_with(path, options) }.unwrap_err();
    [r, w, c]
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn not_found() {
    let (dir, path) = temp_file("missing.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::map_file(&path) }.unwrap_err();
    assert!(matches!(&err, Error::NotFound { path: p } if p == &path), "{err:?}");
    assert!(err.to_string().contains("missing.bin"), "{err}");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap_err();
    assert!(matches!(&err, Error::NotFound { path: p } if p == &path), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_file_copy(&path) }.unwrap_err();
    assert!(matches!(&err, Error::NotFound { path: p } if p == &path), "{err:?}");
    // Creating in a folder that does not exist.
    let nested = dir.path().join("no-such-folder").join("c.bin");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file(&nested, 3) }.unwrap_err();
    let folder = dir.path().join("no-such-folder");
    assert!(
        matches!(&err, Error::FolderNotFound { path: p, folder: f } if p == &nested && f == &folder),
        "{err:?}"
    );
    assert!(names(dir.path()).is_empty(), "nothing was created: {:?}", names(dir.path()));
}

/// Set, to the folder to work in, in the child process that runs
/// [`permission_denied_child`] as `nobody`.
const NOBODY_CHILD: &str = "NDMMAP_TEST_NOBODY_CHILD";
/// The user and group the child runs as.
const NOBODY: u32 = 65534;

/// A read-only file refuses a read-write map, and an unreadable one any map, with
/// `Error::PermissionDenied`. Root bypasses permission bits, so as root (as CI runs) the
/// checks run in a child process, this test binary again, that has dropped to `nobody`.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn permission_denied() {
    // SAFETY: `geteuid` only returns a number.
    if unsafe { libc::geteuid() } != 0 {
        let (dir, _) = temp_file("unused");
        permission_denied_checks(dir.path());
        return;
    }
    // A folder `nobody` may enter and write in, in /tmp (which anyone may traverse).
    let base =
        if Path::new("/tmp").is_dir() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    let dir = tempfile::tempdir_in(base).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let args = ["--exact", "errors::permission_denied_child", "--ignored", "--nocapture"];
    let run = |exe: &Path| {
        std::process::Command::new(exe)
            .args(args)
            .env(NOBODY_CHILD, dir.path())
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
    };
    let exe = std::env::current_exe().unwrap();
    let output = match run(&exe) {
        // The build folder may be closed to `nobody` (under a private home): run a copy.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let copy = dir.path().join("it-as-nobody");
            std::fs::copy(&exe, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            run(&copy)
        }
        other => other,
    }
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test did not run:\n{stdout}\n{stderr}");
    assert!(stderr.contains("permission_denied_child checked as uid 65534"), "{stderr}");
}

/// The child half of [`permission_denied`]; does nothing elsewhere.
#[test]
#[ignore = "helper: run as nobody in a child process by errors::permission_denied"]
fn permission_denied_child() {
    let Some(dir) = std::env::var_os(NOBODY_CHILD) else { return };
    permission_denied_checks(Path::new(&dir));
    // SAFETY: `geteuid` only returns a number.
    eprintln!("permission_denied_child checked as uid {}", unsafe { libc::geteuid() });
}

/// The checks of [`permission_denied`], in a folder of this process's user.
fn permission_denied_checks(dir: &Path) {
    let path = dir.join("a.bin");
    let data: Vec<f64> = (0..10).map(f64::from).collect();
    write_elems(&path, &data);
    let bytes = read_bytes(&path);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if OpenOptions::new().write(true).open(&path).is_ok() {
        // Not root, yet allowed to write a read-only file (CAP_DAC_OVERRIDE).
        common::skip("this process may write read-only files: permission bits are not checked");
        return;
    }
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { path: p, action: "reading and writing", .. }
            if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("map_file_copy"), "{err}");
    // Reading it is fine.
    // SAFETY: as above.
    let r = unsafe { Array1::<f64>::map_file(&path) }.unwrap();
    assert_eq!(r.len(), 10);
    drop(r);
    assert_unchanged(&path, &bytes);
    // Not even readable.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_file(&path) }.unwrap_err();
    assert!(
        matches!(&err, Error::PermissionDenied { path: p, action: "reading", .. } if p == &path),
        "{err:?}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn is_a_directory() {
    let (dir, sub) = temp_file("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("inside.txt"), b"keep").unwrap();
    let is_dir = |err: &Error| matches!(err, Error::IsADirectory { path: p } if p == &sub);
    for err in map_all_modes::<Ix1>(&sub, &MapOptions::new()) {
        assert!(is_dir(&err), "{err:?}");
    }
    let overwrite = MapOptions::new().overwrite(true);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::create_file_with(&sub, 4, &overwrite) }.unwrap_err();
    assert!(is_dir(&err), "{err:?}");
    // Without `overwrite` the directory is simply something that exists already.
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file(&sub, 4) }.unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { path: p } if p == &sub), "{err:?}");
    // The directory and its content are intact, and no temporary file is left behind.
    assert!(sub.is_dir());
    assert_eq!(std::fs::read(sub.join("inside.txt")).unwrap(), b"keep");
    assert_eq!(names(dir.path()), ["sub"]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn already_exists() {
    let (dir, path, bytes) = eighty_bytes();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::create_file(&path, 3) }.unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { path: p } if p == &path), "{err:?}");
    assert!(err.to_string().contains("overwrite(true)"), "{err}");
    assert_unchanged(&path, &bytes);
    // The same shape as the existing data does not make it acceptable either.
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::create_file(&path, (2, 5)) }.unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { .. }), "{err:?}");
    assert_unchanged(&path, &bytes);
    assert_eq!(names(dir.path()), ["a.bin"]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn not_a_multiple() {
    let (_dir, path) = temp_file("odd.bin");
    let bytes: Vec<u8> = (0..81).collect();
    std::fs::write(&path, &bytes).unwrap();
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new()) {
        assert!(
            matches!(&err, Error::NotAMultiple { path: p, available: 81, unit: 8, what: "element" }
                if p.as_deref() == Some(path.as_path())),
            "{err:?}"
        );
    }
    // Past an offset of 16 there are 65 bytes.
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().offset(16)) {
        assert!(matches!(err, Error::NotAMultiple { available: 65, unit: 8, .. }), "{err:?}");
    }
    // Rows of 3 f64 (24 bytes) do not divide 80 bytes.
    let rows = MapOptions::new().shape_inferred((INFER, 3), Order::RowMajor).len(80);
    for err in map_all_modes::<Ix2>(&path, &rows) {
        assert!(
            matches!(
                err,
                Error::NotAMultiple {
                    available: 80,
                    unit: 24,
                    what: "step of the inferred axis",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn too_short() {
    let (_dir, path, bytes) = eighty_bytes();
    let at_path = |p: &Option<PathBuf>| p.as_deref() == Some(path.as_path());
    // A shape that needs 11 elements of a 10-element file.
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().shape(11)) {
        assert!(
            matches!(&err, Error::TooShort { path: p, needed: 88, available: 80 } if at_path(p)),
            "{err:?}"
        );
    }
    // Two elements 10 apart reach element 10, one past the end.
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().shape((2,).strides((10,)))) {
        assert!(matches!(err, Error::TooShort { needed: 88, available: 80, .. }), "{err:?}");
    }
    // A shape that fits the file but not an offset of 8.
    for err in map_all_modes::<Ix2>(&path, &MapOptions::new().offset(8).shape((2, 5))) {
        assert!(matches!(err, Error::TooShort { needed: 88, available: 80, .. }), "{err:?}");
    }
    // A mapped length past the end of the file.
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().offset(8).len(80)) {
        assert!(matches!(err, Error::TooShort { needed: 88, available: 80, .. }), "{err:?}");
    }
    // A shape longer than the mapped length (which fits in the file).
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().len(16).shape(3)) {
        assert!(matches!(err, Error::TooShort { needed: 24, available: 16, .. }), "{err:?}");
    }
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn offset_past_end() {
    let (_dir, path, bytes) = eighty_bytes();
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().offset(88)) {
        assert!(
            matches!(&err, Error::OffsetPastEnd { path: p, offset: 88, len: 80 }
                if p.as_deref() == Some(path.as_path())),
            "{err:?}"
        );
    }
    // An explicit empty shape past the end is still past the end.
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().offset(88).shape(0)) {
        assert!(matches!(err, Error::OffsetPastEnd { offset: 88, len: 80, .. }), "{err:?}");
    }
    // Offset exactly at the end is an empty array, not an error.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let empty = unsafe { Array1::<f64>::map_file_with(&path, &MapOptions::new().offset(80)) };
    assert_eq!(empty.unwrap().len(), 0);
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn misaligned() {
    let (dir, path, bytes) = eighty_bytes();
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().offset(3).shape(2)) {
        assert!(
            matches!(&err, Error::Misaligned { path: p, offset: 3, align }
                if p.as_deref() == Some(path.as_path()) && *align == align_of::<f64>()),
            "{err:?}"
        );
    }
    // An aligned offset for a smaller element type is fine.
    let options = MapOptions::new().offset(4).shape(2);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let ok = unsafe { Array1::<u32>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(ok.len(), 2);
    drop(ok);
    // Creating with a misaligned offset touches nothing.
    let c_path = dir.path().join("c.bin");
    // 12 where `f64` is 8-aligned, 6 where it is 4-aligned (32-bit x86).
    let off = align_of::<f64>() * 3 / 2;
    let options = MapOptions::new().offset(off as u64);
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file_with(&c_path, 1, &options) }.unwrap_err();
    assert!(
        matches!(err, Error::Misaligned { offset, align, .. }
            if offset == off as u64 && align == align_of::<f64>()),
        "{err:?}"
    );
    assert!(!c_path.exists());
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn overflow() {
    let (dir, path, bytes) = eighty_bytes();
    // 2^40 by 2^40 elements where an address has 64 bits, 2^24 by 2^24 where it has 32:
    // either way the count overflows `usize`.
    let side = 1usize << (usize::BITS / 2 + 8);
    let huge = MapOptions::new().shape((side, side));
    let expected = |err: &Error| matches!(err, Error::Overflow { shape, elem_size: 8, .. } if shape == &[side, side]);
    for err in map_all_modes::<Ix2>(&path, &huge) {
        assert!(expected(&err), "{err:?}");
    }
    // Creating such a file fails before anything is created...
    let c_path = dir.path().join("c.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::create_file(&c_path, (side, side)) }.unwrap_err();
    assert!(expected(&err), "{err:?}");
    assert!(!c_path.exists());
    // ...and before an existing file is replaced.
    let overwrite = MapOptions::new().overwrite(true);
    // SAFETY: as above.
    let err =
        unsafe { Array2::<f64>::create_file_with(&path, (side, side), &overwrite) }.unwrap_err();
    assert!(expected(&err), "{err:?}");
    assert_unchanged(&path, &bytes);
    assert_eq!(names(dir.path()), ["a.bin"]);
    // Elements times size past isize::MAX: 2^60 f64 is 2^63 bytes (2^28 f64 is 2^31 bytes
    // where an address has 32 bits).
    let count = 1usize << (usize::BITS - 4);
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().shape(count)) {
        assert!(matches!(&err, Error::Overflow { shape, .. } if shape == &[count]), "{err:?}");
    }
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn multiple_inferred_axes() {
    let (_dir, path, bytes) = eighty_bytes();
    let options = MapOptions::new().shape_inferred((INFER, 2, INFER), Order::RowMajor);
    for err in map_all_modes::<Ix3>(&path, &options) {
        assert!(
            matches!(&err, Error::MultipleInferredAxes { shape, count: 2, .. }
                if shape == &[INFER, 2, INFER]),
            "{err:?}"
        );
    }
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shape_required() {
    let (_dir, path, bytes) = eighty_bytes();
    for err in map_all_modes::<Ix2>(&path, &MapOptions::new()) {
        assert!(
            matches!(&err, Error::ShapeRequired { path: p, action: "map", ndim: 2 }
                if p.as_deref() == Some(path.as_path())),
            "{err:?}"
        );
    }
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::map_file(&path) }.unwrap_err();
    assert!(matches!(err, Error::ShapeRequired { action: "map", ndim: 2, .. }), "{err:?}");
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn overlapping_strides() {
    let (dir, path, bytes) = eighty_bytes();
    let options = MapOptions::new().shape((2, 2).strides((1, 1)));
    let expected = |err: &Error| {
        matches!(err, Error::OverlappingStrides { shape, strides, .. }
            if shape == &[2, 2] && strides == &[1, 1])
    };
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::map_file_mut_with(&path, &options) }.unwrap_err();
    assert!(expected(&err), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_file_copy_with(&path, &options) }.unwrap_err();
    assert!(expected(&err), "{err:?}");
    let c_path = dir.path().join("c.bin");
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::create_file(&c_path, (2, 2).strides((1, 1))) }.unwrap_err();
    assert!(expected(&err), "{err:?}");
    assert!(!c_path.exists());
    // Read-only views may overlap: a sliding window of pairs.
    // SAFETY: as above.
    let r = unsafe { Array2::<f64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(*r, array![[0.0, 1.0], [1.0, 2.0]]);
    drop(r);
    assert_unchanged(&path, &bytes);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn invalid_option() {
    let (dir, path, bytes) = eighty_bytes();
    let extend = MapOptions::new().shape(20).extend_file(true);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::map_file_with(&path, &extend) }.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { path: p, message }
            if p.as_deref() == Some(path.as_path()) && message.contains("extend_file")),
        "{err:?}"
    );
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_file_copy_with(&path, &extend) }.unwrap_err();
    assert!(matches!(err, Error::InvalidOption { message, .. } if message.contains("extend_file")));
    // No length can be inferred next to an empty axis.
    let beside_empty = MapOptions::new().shape_inferred((INFER, 0), Order::RowMajor);
    for err in map_all_modes::<Ix2>(&path, &beside_empty) {
        assert!(
            matches!(err, Error::InvalidOption { message, .. } if message.contains("length 0")),
            "{err:?}"
        );
    }
    assert_unchanged(&path, &bytes);

    let c_path = dir.path().join("c.bin");
    // The shape is create_file_with's argument: options that carry one too are refused.
    let inferred = MapOptions::new().shape_inferred((INFER, 2), Order::RowMajor);
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::create_file_with(&c_path, (3, 2), &inferred) }.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOption { message, path: Some(p) }
            if message.contains("shape as its argument") && p == &c_path),
        "{err:?}"
    );
    let twice = MapOptions::new().shape((3, 2));
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::create_file_with(&c_path, (3, 2), &twice) }.unwrap_err();
    assert!(matches!(&err, Error::InvalidOption { message, .. } if message.contains("unset")));
    // An INFER axis in the shape argument itself is an impossible length, not an inference.
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::create_file(&c_path, (INFER, 2)) }.unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err:?}");
    let with_len = MapOptions::new().len(16);
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file_with(&c_path, 2, &with_len) }.unwrap_err();
    assert!(matches!(err, Error::InvalidOption { message, .. } if message.contains("len()")));
    assert!(!c_path.exists());
    assert_eq!(names(dir.path()), ["a.bin"]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn view_not_in_map() {
    let (dir, path, bytes) = eighty_bytes();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mine = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap();
    // SAFETY: as above.
    let other = unsafe { Array1::<f64>::create_file(dir.path().join("other.bin"), 4) }.unwrap();
    let err = mine.flush_view(&other.view()).unwrap_err();
    assert!(
        matches!(&err, Error::ViewNotInMap { path: p } if p.as_deref() == Some(path.as_path())),
        "{err:?}"
    );
    // An owned array is not part of the map either.
    let owned = Array1::<f64>::zeros(3);
    assert!(matches!(mine.flush_view(&owned), Err(Error::ViewNotInMap { .. })));
    // A view of its own data is.
    mine.flush_view(&mine.slice(s![2..5])).unwrap();
    drop((mine, other));
    assert_unchanged(&path, &bytes);
}

#[test]
fn length_mismatch_from_view_bytes() {
    let data = [0u32; 6];
    let bytes: &[u8] = bytemuck::cast_slice(&data);
    let err = ArrayView2::<u32>::view_bytes(bytes, (2, 2)).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { expected: 16, actual: 24 }), "{err:?}");
    let err = ArrayView2::<u32>::view_bytes(&bytes[..20], (2, 3)).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { expected: 24, actual: 20 }), "{err:?}");
    let mut copy = data;
    let err =
        ArrayViewMut1::<u32>::view_bytes_mut(bytemuck::cast_slice_mut(&mut copy), 7).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { expected: 28, actual: 24 }), "{err:?}");
}

/// `overwrite(true)` builds the new file beside the old and renames it into place: a live
/// read-only map of the old file keeps reading the old values, and no temporary file is
/// left behind.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn overwrite_replaces_atomically() {
    let (dir, path, bytes) = eighty_bytes();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let old = unsafe { Array1::<f64>::map_file(&path) }.unwrap();
    let options = MapOptions::new().overwrite(true);
    // SAFETY: as above; the old file is replaced, not changed, so `old` stays valid.
    let mut new = unsafe { Array1::<f64>::create_file_with(&path, 3, &options) }.unwrap();
    assert_eq!(new.to_vec(), [0.0, 0.0, 0.0]);
    new.fill(9.0);
    new.close().unwrap();
    assert_eq!(old.to_vec(), (0..10).map(f64::from).collect::<Vec<_>>());
    assert_eq!(old.view().as_slice().map(bytemuck::cast_slice::<f64, u8>), Some(&bytes[..]));
    let new_bytes = read_bytes(&path);
    assert_eq!(new_bytes.len(), 24);
    assert_eq!(crate::elems::<f64>(&new_bytes), [9.0, 9.0, 9.0]);
    assert_eq!(names(dir.path()), ["a.bin"]);
}

/// Set in the child process that runs [`reserve_failure_child`] under a file-size limit.
const FSIZE_CHILD: &str = "NDMMAP_TEST_FSIZE_CHILD";

/// A failure to reserve a file's blocks (here `EFBIG` from a file-size limit, standing in
/// for a full disk) is an `Error::Io` naming the file, and leaves nothing behind: no new
/// file, no temporary file, an old file intact, a short file not grown.
///
/// The limit (`ulimit -f`) is per process, so the checks run in a child process: this
/// test binary, run again by `sh` with the limit set and `SIGXFSZ` ignored.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reserve_failure_leaves_nothing_behind() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(["--exact", "errors::reserve_failure_child", "--ignored", "--nocapture"])
        .env(FSIZE_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test did not run:\n{stdout}\n{stderr}");
    assert!(stderr.contains("reserve_failure_child checked"), "{stderr}");
}

/// The child half of [`reserve_failure_leaves_nothing_behind`]; does nothing elsewhere.
#[test]
#[ignore = "helper: run in a child process by errors::reserve_failure_leaves_nothing_behind"]
fn reserve_failure_child() {
    // At most 64 blocks of 512 or 1024 bytes may be written: 1 MiB is far past the limit.
    const BIG: usize = 1 << 17; // f64 elements
    if std::env::var_os(FSIZE_CHILD).is_none() {
        return;
    }
    let (dir, path, bytes) = eighty_bytes();
    let io_at = |err: &Error, p: &Path, what: &str| {
        matches!(err, Error::Io { path: e, action, error }
            if e == p && *action == what && error.kind() == std::io::ErrorKind::FileTooLarge)
    };

    let new = dir.path().join("new.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<f64>::create_file(&new, BIG) }.unwrap_err();
    assert!(io_at(&err, &new, "reserve space for"), "{err:?}");
    assert!(!new.exists());

    let overwrite = MapOptions::new().overwrite(true);
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file_with(&path, BIG, &overwrite) }.unwrap_err();
    // The replacing path builds the whole new file under a temporary name: a "write".
    assert!(io_at(&err, &path, "write"), "{err:?}");
    assert_unchanged(&path, &bytes);

    let extend = MapOptions::new().shape(BIG).extend_file(true);
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_file_mut_with(&path, &extend) }.unwrap_err();
    assert!(io_at(&err, &path, "extend"), "{err:?}");
    assert_unchanged(&path, &bytes);
    assert_eq!(names(dir.path()), ["a.bin"]);

    // Below the limit everything still works.
    // SAFETY: as above.
    let small = unsafe { Array1::<f64>::create_file(&new, 16) }.unwrap();
    assert_eq!(small.len(), 16);
    eprintln!("reserve_failure_child checked");
}

/// `flush_view`'s documented error holds in every mode: a copy-on-write guard, for which
/// flushing itself does nothing, still refuses a view of another map.
#[test]
fn view_not_in_map_for_copy_on_write_guards() {
    let (dir, path, bytes) = eighty_bytes();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mine = unsafe { Array1::<f64>::map_file_copy(&path) }.unwrap();
    // SAFETY: as above.
    let other = unsafe { Array1::<f64>::create_file(dir.path().join("other.bin"), 4) }.unwrap();
    let err = mine.flush_view(&other.view()).unwrap_err();
    assert!(
        matches!(&err, Error::ViewNotInMap { path: p } if p.as_deref() == Some(path.as_path())),
        "{err:?}"
    );
    mine.flush_view(&mine.slice(s![2..5])).unwrap();
    drop((mine, other));
    assert_unchanged(&path, &bytes);
}

/// A full disk is an error when the file is created or grown, never a `SIGBUS` later: on
/// tmpfs, reserving more than the file system holds fails at once with `ENOSPC`, without
/// writing anything, so the test needs no full disk.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn no_space_is_reported_at_create_and_extend_time() {
    // 4 TiB where an address has 64 bits, 1 GiB where it has 32: more than the tmpfs holds.
    const TOO_BIG: usize = if cfg!(target_pointer_width = "64") { 1 << 42 } else { 1 << 30 };
    // A tmpfs of 16 MiB mounted for the test (as root), else `/dev/shm`.
    let Some(dir) = common::Tmpfs::new(16) else { return };
    let path = dir.path().join("huge.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array1::<u8>::create_file(&path, TOO_BIG) }.unwrap_err();
    assert!(
        matches!(&err, Error::NoSpace { path: p, bytes, .. } if p == &path && *bytes == TOO_BIG as u64),
        "{err:?}"
    );
    assert!(!path.exists(), "a failed create leaves no file");

    // Growing a short file for a read-write map: the file keeps its bytes and its length.
    let small = dir.path().join("small.bin");
    std::fs::write(&small, [7u8; 16]).unwrap();
    let options = MapOptions::new().shape(TOO_BIG).extend_file(true);
    // SAFETY: as above.
    let err = unsafe { Array1::<u8>::map_file_mut_with(&small, &options) }.unwrap_err();
    assert!(matches!(err, Error::NoSpace { bytes, .. } if bytes == TOO_BIG as u64), "{err:?}");
    assert_eq!(std::fs::read(&small).unwrap(), [7u8; 16]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no stray files");
}

/// `ndarray` rejects a shape for a reason no other variant covers (here: strides of
/// another rank than the shape, for a dynamic-rank array): `Error::Shape` with ndarray's
/// error (its text in the message), with the path when a file is involved, and nothing
/// changed.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shape() {
    let bytes = [0u8; 24];
    let mismatched = IxDyn(&[2, 3]).strides(IxDyn(&[1]));
    let err = ArrayViewD::<u8>::view_bytes(&bytes, mismatched.clone()).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { path: None, error }
            if error.kind() == ndarray::ErrorKind::IncompatibleLayout),
        "{err:?}"
    );
    assert!(err.to_string().contains("invalid shape or strides"), "{err}");
    // ndarray's reason is in the message, not repeated as a source.
    assert!(std::error::Error::source(&err).is_none());
    let mut data = [0u8; 24];
    let err = ArrayViewMutD::<u8>::view_bytes_mut(&mut data, mismatched.clone()).unwrap_err();
    assert!(matches!(err, Error::Shape { path: None, .. }), "{err:?}");

    let (_dir, path, bytes) = eighty_bytes();
    let options = MapOptions::new().shape(mismatched);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let read = unsafe { ArrayD::<u8>::map_file_with(&path, &options) }.unwrap_err();
    // SAFETY: as above.
    let write = unsafe { ArrayD::<u8>::map_file_mut_with(&path, &options) }.unwrap_err();
    // SAFETY: as above.
    let copy = unsafe { ArrayD::<u8>::map_file_copy_with(&path, &options) }.unwrap_err();
    for err in [read, write, copy] {
        assert!(
            matches!(&err, Error::Shape { path: Some(p), error }
                if p == &path && error.kind() == ndarray::ErrorKind::IncompatibleLayout),
            "{err:?}"
        );
    }
    assert_unchanged(&path, &bytes);
}

/// Opening fails for a reason without a variant of its own: `Error::Io` with the action
/// "open" and the operating system's error, here a loop of symbolic links (`ELOOP`) and a
/// read-write map of the running test binary (`ETXTBSY`).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn io_when_opening() {
    let (dir, a) = temp_file("a.bin");
    let b = dir.path().join("b.bin");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let looped = |err: &Error| {
        matches!(err, Error::Io { path, action: "open", error }
            if path == &a && error.raw_os_error() == Some(libc::ELOOP))
    };
    for err in map_all_modes::<Ix1>(&a, &MapOptions::new()) {
        assert!(looped(&err), "{err:?}");
    }
    assert!(npy_io_open(&a), "read_npy and map_npy on a loop of links");

    let exe = std::env::current_exe().unwrap();
    // SAFETY: the map fails; were it made, it would not be written.
    let err = unsafe { Array1::<u8>::map_file_mut(&exe) }.unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, action: "open", error }
            if path == &exe && error.raw_os_error() == Some(libc::ETXTBSY)),
        "{err:?}"
    );
}

/// Whether the `.npy` entry points report a loop of links as `Error::Io` ("open").
fn npy_io_open(path: &Path) -> bool {
    let is_open = |e: &Error| matches!(e, Error::Io { action: "open", .. });
    // SAFETY: the map fails.
    let map = unsafe { Array1::<u8>::map_npy(path) }.map(|_| ());
    let read = ndmmap::npy::read_npy::<u8, Ix1>(path).map(|_| ());
    let inspect = ndmmap::npy::inspect(path).map(|_| ());
    [map, read, inspect].iter().all(|r| r.as_ref().is_err_and(is_open))
}

/// Set in the child process that runs [`address_space_child`] under an address-space limit.
const AS_CHILD: &str = "NDMMAP_TEST_AS_CHILD";

/// Mapping or growing past the process's address-space limit (`RLIMIT_AS`, standing in
/// for an exhausted address space): `Error::Io` with the action "map" or "remap" and
/// `ENOMEM`, and the file as it was. The limit is per process, so the checks run in a
/// child process.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn io_when_mapping_past_the_address_space() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args(["--exact", "errors::address_space_child", "--ignored", "--nocapture"])
        .env(AS_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test did not run:\n{stdout}\n{stderr}");
    assert!(stderr.contains("address_space_child checked"), "{stderr}");
}

/// The child half of [`io_when_mapping_past_the_address_space`]; does nothing elsewhere.
#[test]
#[ignore = "helper: run in a child process by errors::io_when_mapping_past_the_address_space"]
fn address_space_child() {
    const BIG: u64 = 256 << 20;
    if std::env::var_os(AS_CHILD).is_none() {
        return;
    }
    let (dir, path) = temp_file("sparse.bin");
    std::fs::File::create(&path).unwrap().set_len(BIG).unwrap();
    let small = dir.path().join("small.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut grown = unsafe { Array1::<u8>::create_file(&small, 4096) }.unwrap();
    grown.fill(7);

    // The address space in use now, plus 32 MiB: the 256 MiB map cannot fit.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line[7..].trim().trim_end_matches("kB").trim().parse().unwrap();
    let cur = libc::rlim_t::try_from((kib + (32 << 10)) << 10).unwrap();
    let limit = libc::rlimit { rlim_cur: cur, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: `limit` is a valid `rlimit` that outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &raw const limit) }, 0);

    let enomem = |err: &Error, p: &Path, what: &str| {
        matches!(err, Error::Io { path, action, error }
            if path == p && *action == what && error.raw_os_error() == Some(libc::ENOMEM))
    };
    for err in map_all_modes::<Ix1>(&path, &MapOptions::new().shape((BIG / 8) as usize)) {
        assert!(enomem(&err, &path, "map"), "{err:?}");
    }
    // Growing by 64 MiB: the file grows, the map cannot follow.
    let err = grown.resize_outer(64 << 20).unwrap_err();
    assert!(enomem(&err, &small, "remap"), "{err:?}");
    assert_eq!(grown.len(), 4096, "the array keeps its shape");
    assert!(grown.iter().all(|&x| x == 7));
    drop(grown);
    assert_eq!(std::fs::read(&small).unwrap(), [7u8; 4096], "the file keeps its length");
    eprintln!("address_space_child checked");
}

/// The README promises that every error variant has a test that asserts it. Outside the
/// crate a `match` on the `#[non_exhaustive]` enum needs a wildcard arm, so the compiler
/// cannot keep that promise; this test does: it reads the variants from the enum's source
/// and finds, for each, a `matches!` in a test under `tests/` that names it. A new variant
/// without such a test fails here.
#[test]
fn every_error_variant_has_an_asserting_test() {
    let variants = common::enum_variants("pub enum Error {");
    assert!(variants.len() >= 25, "too few variants parsed: {variants:?}");
    let test_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let texts: Vec<(PathBuf, String)> = common::rust_files(&test_dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let mut missing = Vec::new();
    for variant in &variants {
        let name = format!("Error::{variant}");
        let asserted = texts.iter().find_map(|(path, text)| {
            text.match_indices(&name).find_map(|(at, _)| {
                let after = text[at + name.len()..].chars().next();
                let whole_word = after.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
                let statement = &text[text[..at].rfind(';').unwrap_or(0)..at];
                (whole_word && statement.contains("matches!("))
                    .then(|| format!("{}:{}", path.display(), text[..at].lines().count()))
            })
        });
        match asserted {
            Some(place) => eprintln!("{variant:24} asserted at {place}"),
            None => missing.push(variant.clone()),
        }
    }
    assert!(missing.is_empty(), "variants without a test that asserts them: {missing:?}");
}
