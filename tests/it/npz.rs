//! `.npz` archives against real NumPy, on real files: NumPy's `np.savez` and
//! `np.savez_compressed` write and ndmmap lists, maps and reads; ndmmap writes and
//! `np.load` reads; read-write maps keep the checksum NumPy checks; every malformed
//! archive is a typed error naming the archive and member, with the file unchanged; and
//! mapping a large stored member reads none of it.
//!
//! The NumPy tests drive `tests/python/npz_interop.py` with `common::numpy_python`: without
//! NumPy they skip, and under `CI=true` they fail; a failing Python step fails the test.
#![cfg(feature = "npz")]
// Test helpers take owned values built per case; clarity over borrowing.
#![allow(clippy::needless_pass_by_value, clippy::float_cmp)]

use std::io::Write as _;
use std::path::Path;

use ndmmap::Error;
use ndmmap::npz::{
    Compression, NPZ_ALIGN, NotMapped, NpzArchive, NpzArray, NpzError, NpzOptions, NpzWriter,
    realign_npz, save_npz, save_npz_compressed,
};
use ndmmap::prelude::*;

use crate::common;
use num_complex::Complex;

// ---------------------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------------------

/// Runs `npz_interop.py` with `args`; `None` (through the skip policy) without NumPy.
fn interop(args: &[&std::ffi::OsStr]) -> Option<String> {
    common::run_script("npz_interop.py", args)
}

/// Asks NumPy whether the archive at `path` holds exactly `members` (`name=expr`).
fn numpy_check(path: &Path, members: &[&str]) -> Option<()> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), path.as_os_str()];
    args.extend(members.iter().map(std::ffi::OsStr::new));
    let out = interop(&args)?;
    assert_eq!(out.trim(), format!("checked {}", members.len()));
    Some(())
}

// ---------------------------------------------------------------------------------------
// NumPy writes, ndmmap reads and maps
// ---------------------------------------------------------------------------------------

/// The values of `npz_interop.py`'s `ARRAYS`, built here independently.
fn check_numpy_members(archive: &NpzArchive, compressed: bool) {
    let names: Vec<_> = archive.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["ab", "ints", "fortran", "scalar", "empty", "bytes", "flags", "big_endian", "cplx"]
    );
    let want = if compressed { Compression::Deflated } else { Compression::Stored };
    assert!(archive.members().iter().all(|m| m.compression == want));
    let ab = Array::from_shape_vec((2, 3), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    assert_eq!(archive.read::<f64, Ix2>("ab").unwrap(), ab);
    assert_eq!(archive.read::<i32, Ix1>("ints").unwrap(), array![0, 1, 2, 3, 4]);
    let fortran = archive.read::<f32, Ix2>("fortran").unwrap();
    assert_eq!(fortran, array![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
    assert!(archive.member("fortran").unwrap().fortran_order);
    assert_eq!(archive.read::<f64, Ix0>("scalar").unwrap()[()], 1.5);
    assert_eq!(archive.read::<i64, Ix2>("empty").unwrap().shape(), &[0, 3]);
    assert_eq!(archive.read::<u8, Ix1>("bytes").unwrap(), array![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(archive.read::<bool, Ix1>("flags").unwrap(), array![true, false, true]);
    // Big-endian data is converted by read, as read_npy does.
    assert_eq!(archive.read::<i32, Ix1>("big_endian").unwrap(), array![0, 1, 2]);
    assert!(!archive.member("big_endian").unwrap().native_byte_order);
    let cplx = archive.read::<Complex<f64>, Ix1>("cplx").unwrap();
    assert_eq!(cplx, array![Complex::new(1.0, 2.0), Complex::new(3.0, -4.0)]);
}

/// Maps a member of NumPy's archive if its data happens to be aligned, else checks the
/// typed error; returns whether it mapped.
fn map_or_misaligned<A, D>(archive: &NpzArchive, name: &str) -> bool
where
    A: ndmmap::npy::NpyElement + bytemuck::Pod + PartialEq + std::fmt::Debug,
    D: Dimension,
{
    let member = archive.member(name).unwrap().clone();
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let mapped = unsafe { archive.map::<A, D>(name) };
    if member.is_mappable(align_of::<A>()) {
        assert_eq!(mapped.unwrap().view(), archive.read::<A, D>(name).unwrap());
        true
    } else {
        let err = mapped.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(name) && text.contains("re-save"), "{text}");
        assert!(
            matches!(err, Error::Npz { detail: NpzError::Misaligned { offset, align }, .. }
                if Some(offset) == member.data_offset && offset % align as u64 != 0),
            "{err:?}"
        );
        false
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the fixtures are little-endian")]
fn numpy_archives_are_listed_read_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    if interop(&["write".as_ref(), dir.path().as_os_str()]).is_none() {
        return;
    }
    let stored = NpzArchive::open(dir.path().join("numpy.npz")).unwrap();
    check_numpy_members(&stored, false);
    let compressed = NpzArchive::open(dir.path().join("numpy_compressed.npz")).unwrap();
    check_numpy_members(&compressed, true);

    // Stored members map where NumPy's layout happens to align them, and are a typed
    // error naming the remedy where it does not: both occur in this archive.
    let mut outcomes = vec![
        map_or_misaligned::<f64, Ix2>(&stored, "ab"),
        map_or_misaligned::<i32, Ix1>(&stored, "ints"),
        map_or_misaligned::<f32, Ix2>(&stored, "fortran"),
        map_or_misaligned::<f64, Ix0>(&stored, "scalar"),
        map_or_misaligned::<Complex<f64>, Ix1>(&stored, "cplx"),
    ];
    // Bytes have no alignment to miss.
    outcomes.push(map_or_misaligned::<u8, Ix1>(&stored, "bytes"));
    assert!(outcomes.contains(&true) && outcomes.contains(&false), "{outcomes:?}");
    // SAFETY: as above.
    let fortran = unsafe { stored.map_copy::<u8, Ix1>("bytes") }.unwrap();
    assert_eq!(fortran.len(), 7);

    // Compressed members cannot be mapped; big-endian ones not without conversion.
    // SAFETY: as above.
    let err = unsafe { compressed.map::<u8, Ix1>("bytes") }.unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::Compressed, ref member, .. }
        if member.as_deref() == Some("bytes")));
    let big = stored.member("big_endian").unwrap();
    if big.is_mappable(1) {
        // SAFETY: as above.
        let err = unsafe { stored.map::<u8, Ix1>("big_endian") }.unwrap_err();
        assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");
    }
}

ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Pair {
        x: f32,
        y: f32,
    }
);

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the record fields are big-endian, native there")]
fn a_member_of_big_endian_records_is_read_converted_and_not_mappable() {
    let dir = tempfile::tempdir().unwrap();
    let Some(printed) = interop(&["records".as_ref(), dir.path().as_os_str()]) else { return };
    // What NumPy printed, record by record.
    let want: Vec<Pair> = printed
        .lines()
        .map(|line| {
            // Python's shortest repr of each f32 as a double parses back to that f32.
            let mut fields = line.split_whitespace().map(|v| v.parse::<f32>().unwrap());
            Pair { x: fields.next().unwrap(), y: fields.next().unwrap() }
        })
        .collect();
    assert_eq!(want.len(), 3);
    let archive = NpzArchive::open(dir.path().join("records.npz")).unwrap();
    let member = archive.member("rec").unwrap();
    assert_eq!(member.descr, "[('x', '>f4'), ('y', '>f4')]");
    assert!(!member.native_byte_order);
    assert!(!member.is_mappable(1));
    let read = archive.read::<Pair, Ix1>("rec").unwrap();
    assert_eq!(read.to_vec(), want);
    // The same bytes as a .npy file: read_npy converts them the same way.
    let npy: Array1<Pair> = ndmmap::npy::read_npy(dir.path().join("records.npy")).unwrap();
    assert_eq!(read, npy);
    // Mapping shows the bytes as they are, so it refuses them, naming the field's order.
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let err = unsafe { archive.map::<Pair, Ix1>("rec") }.unwrap_err();
    assert!(matches!(err, Error::ByteOrder { .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn a_name_is_looked_up_as_numpy_does_file_names_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.npz");
    let Some(printed) = interop(&["lookup".as_ref(), path.as_os_str()]) else { return };
    let mut lines = printed.lines().map(|l| l.split_whitespace().collect::<Vec<_>>());
    let archive = NpzArchive::open(&path).unwrap();
    let keys: Vec<_> = archive.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(lines.next().unwrap()[1..], keys);
    let mut asked = 0;
    for line in lines {
        let (key, numpy) = (line[0], &line[1..]);
        let values: Vec<i64> = numpy.iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(archive.read::<i64, Ix1>(key).unwrap().to_vec(), values, "{key}");
        let member = archive.member(key).unwrap();
        // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
        let mapped = unsafe { archive.map::<i64, Ix1>(key) };
        if member.is_mappable(8) {
            assert_eq!(mapped.unwrap().to_vec(), values, "{key}");
        }
        asked += 1;
    }
    assert_eq!(asked, 3);
    // "x.npy" is the file x.npy, NumPy's key "x"; the member keyed "x.npy" is the file
    // x.npy.npy.
    assert_eq!(archive.member("x.npy").unwrap().file_name, "x.npy");
    assert_eq!(archive.member("x").unwrap().file_name, "x.npy");
    assert_eq!(archive.member("x.npy.npy").unwrap().name, "x.npy");
}

// ---------------------------------------------------------------------------------------
// ndmmap writes, NumPy reads
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the expressions name little-endian dtypes")]
fn numpy_loads_what_ndmmap_writes_and_every_stored_member_maps() {
    let dir = tempfile::tempdir().unwrap();
    let a = Array::from_shape_vec((2, 3), (0..6).map(f64::from).collect()).unwrap();
    let t = array![[1i16, 2, 3], [4, 5, 6]];
    let strided = Array1::from_iter(0..10u32);
    let flags = array![true, false, false];
    let scalar = ndarray::arr0(2.5f32);
    let empty = Array2::<i64>::zeros((0, 4));
    let cplx = array![Complex::new(1.0f32, -1.0)];
    let members: [(&str, &dyn NpzArray); 8] = [
        ("a", &a),
        ("t", &t.t()),
        ("odd", &strided.slice(s![..;3])),
        ("flags", &flags),
        ("scalar", &scalar),
        ("empty", &empty),
        ("cplx", &cplx),
        ("odd_name x", &array![7u8]),
    ];
    let expected = [
        "a=np.arange(6, dtype='<f8').reshape(2, 3)",
        "t=np.asfortranarray(np.array([[1, 4], [2, 5], [3, 6]], dtype='<i2'))",
        "odd=np.array([0, 3, 6, 9], dtype='<u4')",
        "flags=np.array([True, False, False])",
        "scalar=np.array(2.5, dtype='<f4')",
        "empty=np.zeros((0, 4), dtype='<i8')",
        "cplx=np.array([1 - 1j], dtype='<c8')",
        "odd_name x=np.array([7], dtype='|u1')",
    ];
    for compressed in [false, true] {
        let path = dir.path().join(format!("ndmmap_{compressed}.npz"));
        if compressed {
            save_npz_compressed(&path, &members).unwrap();
        } else {
            save_npz(&path, &members).unwrap();
        }
        if numpy_check(&path, &expected).is_none() {
            return;
        }
        let archive = NpzArchive::open(&path).unwrap();
        for member in archive.members() {
            if compressed {
                assert_eq!(member.data_offset, None);
            } else {
                let offset = member.data_offset.unwrap();
                assert_eq!(offset % u64::from(NPZ_ALIGN), 0, "{}", member.name);
            }
        }
        if !compressed {
            // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
            let mapped = unsafe { archive.map::<f64, Ix2>("a") }.unwrap();
            assert_eq!(*mapped, a);
            // SAFETY: as above.
            let mapped = unsafe { archive.map::<i16, Ix2>("t") }.unwrap();
            assert_eq!(*mapped, t.t());
            // SAFETY: as above.
            let mapped = unsafe { archive.map::<Complex<f32>, Ix1>("cplx") }.unwrap();
            assert_eq!(*mapped, cplx);
            // Empty and 0-d members map too.
            // SAFETY: as above.
            let mapped = unsafe { archive.map::<i64, Ix2>("empty") }.unwrap();
            assert_eq!(mapped.shape(), &[0, 4]);
            // SAFETY: as above.
            let mut mapped = unsafe { archive.map_mut::<f32, Ix0>("scalar") }.unwrap();
            mapped[()] = 2.5;
            mapped.close().unwrap();
        }
        assert_eq!(archive.read::<u32, Ix1>("odd").unwrap(), array![0, 3, 6, 9]);
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the expressions name little-endian dtypes")]
fn a_read_write_map_keeps_the_checksum_numpy_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rw.npz");
    save_npz(&path, &[("w", &Array2::<f64>::zeros((3, 4))), ("b", &array![1u8, 2])]).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    {
        // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
        let mut w = unsafe { archive.map_mut::<f64, Ix2>("w") }.unwrap();
        w.row_mut(1).fill(2.5);
        w.close().unwrap();
    }
    {
        // Dropped without close: the checksum is rewritten all the same.
        // SAFETY: as above.
        let mut b = unsafe { archive.map_mut::<u8, Ix1>("b") }.unwrap();
        b[0] = 9;
    }
    // ndmmap's read checks the CRC-32 too.
    assert_eq!(archive.read::<u8, Ix1>("b").unwrap(), array![9, 2]);
    numpy_check(
        &path,
        &["w=np.array([[0.0] * 4, [2.5] * 4, [0.0] * 4])", "b=np.array([9, 2], dtype='|u1')"],
    );
    // A member cannot grow inside an archive: nothing after it is touched.
    let before = std::fs::read(&path).unwrap();
    // SAFETY: as above.
    let w = unsafe { archive.map_copy::<f64, Ix2>("w") }.unwrap();
    assert_eq!(w.mode(), Mode::CopyOnWrite);
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn the_streaming_writer_adds_members_one_at_a_time_from_maps() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.npy");
    {
        // SAFETY: a fresh temporary folder.
        let mut big = unsafe { Array2::<f32>::create_npy(&source, (1000, 300)) }.unwrap();
        big.indexed_iter_mut()
            .for_each(|((i, j), x)| *x = f32::from(u16::try_from((i * 300 + j) % 60_000).unwrap()));
        big.flush().unwrap();
    }
    let path = dir.path().join("stream.npz");
    let mut writer = NpzWriter::create(&path).unwrap();
    // SAFETY: as above.
    let big = unsafe { Array2::<f32>::map_npy(&source) }.unwrap();
    writer.add("big", &big).unwrap();
    writer.add_compressed("again", &big).unwrap();
    writer.add("column", &big.column(7)).unwrap();
    // Names are checked before anything is written.
    let err = writer.add("big", &big).unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::DuplicateName, .. }));
    let err = writer.add("../up", &big).unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::InvalidName, .. }));
    assert!(!path.exists(), "the archive appears only when finished");
    writer.finish().unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: as above.
    let mapped = unsafe { archive.map::<f32, Ix2>("big") }.unwrap();
    assert_eq!(mapped.view(), big.view());
    assert_eq!(archive.read::<f32, Ix2>("again").unwrap(), big.view());
    assert_eq!(archive.read::<f32, Ix1>("column").unwrap(), big.column(7));
    // A writer dropped unfinished leaves nothing behind.
    let other = dir.path().join("dropped.npz");
    let mut writer = NpzWriter::create(&other).unwrap();
    writer.add("x", &array![1u8]).unwrap();
    drop(writer);
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapping_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.npz");
    save_npz(&path, &[("x", &array![[1.0f64, 2.0]])]).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let err = unsafe { archive.map::<f32, Ix2>("x") }.unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { archive.map::<f64, Ix1>("x") }.unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 1, found: 2, .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { archive.map::<f64, Ix2>("y") }.unwrap_err();
    assert!(
        matches!(&err, Error::Npz { detail: NpzError::NotFound { available }, member, .. }
            if available == &["x"] && member.as_deref() == Some("y")),
        "{err:?}"
    );
    assert!(err.to_string().contains("e.npz") && err.to_string().contains("\"y\""), "{err}");
    let err = NpzArchive::open(dir.path().join("missing.npz")).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    let err = save_npz(&path, &[("", &array![1u8])]).unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::InvalidName, .. }));
    let err = save_npz(&path, &[("a", &array![1u8]), ("a", &array![2u8])]).unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::DuplicateName, .. }));
    // The failed saves left the archive as it was.
    assert_eq!(NpzArchive::open(&path).unwrap().members().len(), 1);
    // A read-only archive cannot be mapped read-write.
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).unwrap();
    // SAFETY: as above.
    let result = unsafe { archive.map_mut::<f64, Ix2>("x") };
    // Root may write anyway; anyone else gets PermissionDenied.
    if let Err(err) = result {
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    }
    // A bool member maps as its bytes (NumPy's `a.view(np.uint8)`), as a bool .npy does.
    let flags = dir.path().join("flags.npz");
    save_npz(&flags, &[("m", &array![true, false, true])]).unwrap();
    let archive = NpzArchive::open(&flags).unwrap();
    // SAFETY: as above.
    let bytes = unsafe { archive.map::<u8, Ix1>("m") }.unwrap();
    assert_eq!(*bytes, array![1u8, 0, 1]);
}

// ---------------------------------------------------------------------------------------
// Malformed archives: typed errors naming the archive and member, file unchanged
// ---------------------------------------------------------------------------------------

/// Offsets of every central directory header (`PK\x01\x02`) in `bytes`.
fn central_headers(bytes: &[u8]) -> Vec<usize> {
    bytes.windows(4).enumerate().filter(|(_, w)| *w == b"PK\x01\x02").map(|(i, _)| i).collect()
}

fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// Writes `bytes` as an archive, opens and reads every member, and returns the first
/// error, after checking that the file was not changed.
fn first_error(dir: &Path, name: &str, bytes: &[u8], options: &NpzOptions) -> Error {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = NpzArchive::open_with(&path, options).and_then(|archive| {
        for member in archive.members() {
            archive.read::<u8, IxDyn>(&member.name)?;
        }
        Ok(())
    });
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was changed");
    let err = result.expect_err(name);
    assert!(err.to_string().contains(name), "{err}");
    err
}

fn member_is(err: &Error, name: &str) -> bool {
    matches!(err, Error::Npz { member: Some(m), .. } if m == name)
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn malformed_archives_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npz");
    save_npz(&good, &[("a", &array![1u8, 2, 3, 4]), ("b", &array![5u8, 6])]).unwrap();
    let good = std::fs::read(good).unwrap();
    let centrals = central_headers(&good);
    assert_eq!(centrals.len(), 2);
    let options = NpzOptions::new();

    // A truncated central directory.
    let err = first_error(dir.path(), "truncated.npz", &good[..good.len() - 30], &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::Malformed { .. }, member: None, .. }));
    let err = first_error(dir.path(), "empty.npz", b"", &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::Malformed { .. }, .. }), "{err:?}");

    // An unsupported compression method (12, bzip2) in both headers of member b.
    let mut bytes = good.clone();
    let local_b = get_u32(&bytes, centrals[1] + 42) as usize;
    put_u16(&mut bytes, centrals[1] + 10, 12);
    put_u16(&mut bytes, local_b + 8, 12);
    let err = first_error(dir.path(), "bzip2.npz", &bytes, &options);
    assert!(
        matches!(err, Error::Npz { detail: NpzError::UnsupportedCompression { method: 12 }, .. }),
        "{err:?}"
    );

    // Sizes that lie: member a claims to run into member b.
    let mut bytes = good.clone();
    for at in [centrals[0] + 20, centrals[0] + 24] {
        put_u32(&mut bytes, at, get_u32(&good, at) + 4000);
    }
    let err = first_error(dir.path(), "lying.npz", &bytes, &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::SizeMismatch { .. }, .. }), "{err:?}");
    assert!(member_is(&err, "a"), "{err:?}");

    // A stored member whose .npy header wants more than the member holds.
    let mut bytes = good.clone();
    let a_data = get_u32(&good, centrals[0] + 42) as usize;
    let npy = bytes[a_data..].windows(6).position(|w| w == b"\x93NUMPY").unwrap() + a_data;
    let shape_at = npy + bytes[npy..].windows(4).position(|w| w == b"(4,)").unwrap();
    bytes[shape_at + 1] = b'9';
    let err = first_error(dir.path(), "short.npz", &bytes, &options);
    assert!(
        matches!(err, Error::Npz { detail: NpzError::SizeMismatch { needed, available }, .. }
            if needed == available + 5),
        "{err:?}"
    );

    // Data that does not match its checksum.
    let mut bytes = good.clone();
    let data = npy + 128;
    bytes[data] ^= 0xff;
    let err = first_error(dir.path(), "crc.npz", &bytes, &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::Checksum, .. }), "{err:?}");
    assert!(member_is(&err, "a"));

    // Overlapping members: b's central header points at a's local header.
    let mut bytes = good.clone();
    let local_a = get_u32(&good, centrals[0] + 42);
    put_u32(&mut bytes, centrals[1] + 42, local_a);
    let err = first_error(dir.path(), "overlap.npz", &bytes, &options);
    assert!(
        matches!(&err, Error::Npz { detail: NpzError::Overlapping { other }, member: Some(m), .. }
            if [other.as_str(), m.as_str()].contains(&"a") && [other.as_str(), m.as_str()].contains(&"b")),
        "{err:?}"
    );

    // An invalid .npy header inside a member.
    let mut bytes = good.clone();
    bytes[npy + 1] = b'X';
    let err = first_error(dir.path(), "header.npz", &bytes, &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::Header(_), .. }), "{err:?}");

    // Two members with one name.
    let mut bytes = good.clone();
    let local_b = get_u32(&good, centrals[1] + 42) as usize;
    bytes[centrals[1] + 46] = b'a';
    bytes[local_b + 30] = b'a';
    let err = first_error(dir.path(), "duplicate.npz", &bytes, &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::DuplicateName, .. }), "{err:?}");

    // A member with a trailing data descriptor (flag bit 3) reads and maps, but a
    // read-write map could not keep its checksum true.
    let mut bytes = good.clone();
    let local_a = get_u32(&good, centrals[0] + 42) as usize;
    bytes[local_a + 6] |= 0x08;
    let path = dir.path().join("descriptor.npz");
    std::fs::write(&path, &bytes).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let err = unsafe { archive.map_mut::<u8, Ix1>("a") }.unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::DataDescriptor, .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // SAFETY: as above.
    assert_eq!(unsafe { archive.map::<u8, Ix1>("a") }.unwrap().len(), 4);

    // Encrypted (the flag bit in the central directory).
    let mut bytes = good.clone();
    put_u16(&mut bytes, centrals[0] + 8, 1);
    let err = first_error(dir.path(), "encrypted.npz", &bytes, &options);
    assert!(matches!(err, Error::Npz { detail: NpzError::Encrypted, .. }), "{err:?}");
}

/// An archive written by the zip crate directly, with names ndmmap never writes.
fn zip_with_names(path: &Path, names: &[&str]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let npy = {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("x.npy");
        array![1u8].save_npy(&npy).unwrap();
        std::fs::read(npy).unwrap()
    };
    for name in names {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(*name, options).unwrap();
        zip.write_all(&npy).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn names_outside_the_archive_and_zip_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["../up.npy", "/etc/abs.npy"].into_iter().enumerate() {
        let path = dir.path().join(format!("names{i}.npz"));
        zip_with_names(&path, &["fine.npy", name]);
        let before = std::fs::read(&path).unwrap();
        let err = NpzArchive::open(&path).unwrap_err();
        assert!(
            matches!(&err, Error::Npz { detail: NpzError::UnsafeName, member: Some(m), .. }
                if name.starts_with(m.as_str()) || m.ends_with("up") || m.ends_with("abs")),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    // A stored member whose data is not aligned for its elements (as zip writers other
    // than ndmmap's may leave it): read works, map is a typed error naming the remedy.
    let path = dir.path().join("misaligned.npz");
    {
        let npy = dir.path().join("f8.npy");
        array![1.5f64, 2.5].save_npy(&npy).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("x.npy", options).unwrap();
        zip.write_all(&std::fs::read(&npy).unwrap()).unwrap();
        zip.finish().unwrap();
        std::fs::remove_file(npy).unwrap();
    }
    let archive = NpzArchive::open(&path).unwrap();
    let offset = archive.member("x").unwrap().data_offset.unwrap();
    assert_ne!(offset % 8, 0, "the fixture should be misaligned");
    assert!(!archive.member("x").unwrap().is_mappable(8));
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let err = unsafe { archive.map::<f64, Ix1>("x") }.unwrap_err();
    assert!(
        matches!(err, Error::Npz { detail: NpzError::Misaligned { offset: o, align }, .. }
            if o == offset && align == align_of::<f64>()),
        "{err:?}"
    );
    assert_eq!(archive.read::<f64, Ix1>("x").unwrap(), array![1.5, 2.5]);

    // Non-array members are not listed (NumPy would return their bytes).
    let path = dir.path().join("notes.npz");
    zip_with_names(&path, &["x.npy", "README.txt"]);
    assert_eq!(NpzArchive::open(&path).unwrap().members().len(), 1);

    // A zip bomb: 16 MiB of zeros in a few kilobytes, refused before inflating it.
    let path = dir.path().join("bomb.npz");
    save_npz_compressed(&path, &[("zeros", &Array1::<u8>::zeros(16 << 20))]).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 64 << 10);
    let archive = NpzArchive::open_with(&path, &NpzOptions::new().max_read_size(1 << 20)).unwrap();
    let err = archive.read::<u8, Ix1>("zeros").unwrap_err();
    assert!(
        matches!(err, Error::Npz { detail: NpzError::TooLarge { limit: 1_048_576, .. }, .. }),
        "{err:?}"
    );
    assert_eq!(NpzArchive::open(&path).unwrap().read::<u8, Ix1>("zeros").unwrap().len(), 16 << 20);
}

// ---------------------------------------------------------------------------------------
// Mapping reads nothing
// ---------------------------------------------------------------------------------------

/// `rchar` of /proc/self/io: bytes this process read through read(2) and friends, page
/// cache hits included (a map reads through page faults, which it does not count).
#[cfg(target_os = "linux")]
fn rchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines().find_map(|l| l.strip_prefix("rchar: ")).unwrap().trim().parse().unwrap()
}

/// Resident set size in bytes, from /proc/self/statm.
#[cfg(target_os = "linux")]
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * common::page_size() as u64
}

#[test]
#[cfg(target_os = "linux")]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapping_a_large_stored_member_reads_none_of_it() {
    const LEN: usize = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.npz");
    {
        let mut writer = NpzWriter::create(&path).unwrap();
        writer.add("small", &array![1.0f64]).unwrap();
        // Streamed from a sparse mapped file, so the test never holds 64 MiB in memory.
        let source = dir.path().join("large.npy");
        // SAFETY: a fresh temporary folder.
        let large = unsafe { Array1::<u8>::create_npy(&source, LEN) }.unwrap();
        writer.add("large", &large).unwrap();
        writer.finish().unwrap();
        std::fs::remove_file(source).unwrap();
    }
    let (read_before, rss_before) = (rchar(), rss());
    let archive = NpzArchive::open(&path).unwrap();
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let large = unsafe { archive.map::<u8, Ix1>("large") }.unwrap();
    let (read_after, rss_after) = (rchar(), rss());
    assert_eq!(large.len(), LEN);
    // Opening reads the central directory and the .npy headers: a few kilobytes.
    assert!(read_after - read_before < 1 << 20, "read {} bytes", read_after - read_before);
    assert!(
        rss_after.saturating_sub(rss_before) < 8 << 20,
        "RSS grew by {}",
        rss_after - rss_before
    );
    // The measure can see a read: reading the member counts all of it.
    let owned = archive.read::<u8, Ix1>("large").unwrap();
    assert!(rchar() - read_after >= LEN as u64);
    assert_eq!(owned.len(), LEN);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn names_numpy_writes_are_written_and_read_and_only_unsafe_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Keys `np.savez` writes as they are: `..` inside a segment, a leading dot, a folder.
    let names = ["a..b", "..x", "x..", ".hidden", "run/1"];
    let ours = dir.path().join("ours.npz");
    let arrays: Vec<(&str, Array1<i32>)> =
        names.iter().zip(1..).map(|(name, i)| (*name, array![i, 10 * i])).collect();
    let refs: Vec<(&str, &dyn NpzArray)> =
        arrays.iter().map(|(name, a)| (*name, a as &dyn NpzArray)).collect();
    save_npz(&ours, &refs).unwrap();
    let archive = NpzArchive::open(&ours).unwrap();
    for (name, array) in &arrays {
        // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
        let mapped = unsafe { archive.map::<i32, Ix1>(name) }.unwrap();
        assert_eq!(mapped.view(), array.view(), "{name}");
    }
    // Unsafe names are refused before anything is written, whichever writer.
    for bad in ["..", "../up", "a/../b", "a\\..\\b", "/abs", "\\abs", "C:x", "nul\0", ""] {
        let err = save_npz(&ours, &[(bad, &array![1u8])]).unwrap_err();
        assert!(
            matches!(&err, Error::Npz { detail: NpzError::InvalidName, .. }),
            "{bad:?}: {err:?}"
        );
        let mut writer = NpzWriter::create(dir.path().join("w.npz")).unwrap();
        let err = writer.add(bad, &array![1u8]).unwrap_err();
        assert!(
            matches!(&err, Error::Npz { detail: NpzError::InvalidName, .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(NpzArchive::open(&ours).unwrap().members().len(), names.len());
    // NumPy reads back every key as written, and ndmmap reads NumPy's archive of them.
    let code = format!(
        "import numpy as np\n\
         names = {names:?}\n\
         with np.load('ours.npz') as f:\n\
         \x20   assert sorted(f.files) == sorted(names), f.files\n\
         \x20   for i, n in enumerate(names, 1):\n\
         \x20       assert f[n].tolist() == [i, 10 * i], (n, f[n])\n\
         np.savez('numpy.npz', **{{n: np.array([i, 10 * i], dtype='<i4') for i, n in enumerate(names, 1)}})\n\
         print('ok')"
    );
    let Some(out) = common::run_code(dir.path(), &code) else { return };
    assert_eq!(out.trim(), "ok");
    let theirs = NpzArchive::open(dir.path().join("numpy.npz")).unwrap();
    for (name, array) in &arrays {
        assert_eq!(theirs.read::<i32, Ix1>(name).unwrap(), array, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// NumPy's archives as they are: load, realign
// ---------------------------------------------------------------------------------------

/// Loads `name` in one call and checks it against `read`: mapped exactly where the member
/// is mappable, else read with the reason. Returns whether it mapped.
fn load_checked<A, D>(archive: &NpzArchive, name: &str) -> bool
where
    A: ndmmap::npy::NpyElement + bytemuck::Pod + PartialEq + std::fmt::Debug,
    D: Dimension,
{
    let member = archive.member(name).unwrap().clone();
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let loaded = unsafe { archive.load::<A, D>(name) }.unwrap();
    assert_eq!(*loaded, archive.read::<A, D>(name).unwrap(), "{name}");
    assert_eq!(loaded.is_mapped(), member.is_mappable(align_of::<A>()), "{name}");
    let why = loaded.not_mapped();
    match member.compression {
        Compression::Deflated => assert_eq!(why, Some(NotMapped::Compressed), "{name}"),
        Compression::Stored if !member.native_byte_order => {
            assert_eq!(why, Some(NotMapped::ByteOrder), "{name}");
        }
        _ => {
            let offset = member.data_offset.unwrap();
            let misaligned = NotMapped::Misaligned { offset, align: align_of::<A>() };
            let want = (!offset.is_multiple_of(align_of::<A>() as u64)).then_some(misaligned);
            assert_eq!(why, want, "{name}");
        }
    }
    loaded.is_mapped()
}

/// Loads every member of `npz_interop.py`'s archive; returns which mapped.
fn load_numpy_members(archive: &NpzArchive) -> Vec<bool> {
    vec![
        load_checked::<f64, Ix2>(archive, "ab"),
        load_checked::<i32, Ix1>(archive, "ints"),
        load_checked::<f32, Ix2>(archive, "fortran"),
        load_checked::<f64, Ix0>(archive, "scalar"),
        load_checked::<i64, Ix2>(archive, "empty"),
        load_checked::<u8, Ix1>(archive, "bytes"),
        load_checked::<Complex<f64>, Ix1>(archive, "cplx"),
    ]
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the fixtures are little-endian")]
fn load_maps_what_numpy_left_mappable_and_reads_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    if interop(&["write".as_ref(), dir.path().as_os_str()]).is_none() {
        return;
    }
    let stored = NpzArchive::open(dir.path().join("numpy.npz")).unwrap();
    let mapped = load_numpy_members(&stored);
    assert!(mapped.contains(&true) && mapped.contains(&false), "{mapped:?}");
    let big = load_checked::<i32, Ix1>(&stored, "big_endian");
    assert!(!big);
    let compressed = NpzArchive::open(dir.path().join("numpy_compressed.npz")).unwrap();
    assert!(!load_numpy_members(&compressed).contains(&true));
    // The same checks as map and read: no such member, another type.
    // SAFETY: as in load_checked.
    let err = unsafe { stored.load::<f64, Ix1>("nothing") }.unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::NotFound { .. }, .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { compressed.load::<f32, Ix2>("ab") }.unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the fixtures are little-endian")]
fn realign_makes_every_member_of_numpy_archives_map_and_numpy_reads_it_equal() {
    let dir = tempfile::tempdir().unwrap();
    if interop(&["write".as_ref(), dir.path().as_os_str()]).is_none() {
        return;
    }
    let d = dir.path();
    // A file that is not an array rides along, as NumPy's archives may hold.
    let code = "import zipfile, shutil\n\
                with zipfile.ZipFile('numpy.npz', 'a') as z:\n\
                \x20   z.writestr('notes.txt', 'kept as it is')\n\
                shutil.copy('numpy.npz', 'numpy_orig.npz')\n\
                shutil.copy('numpy_compressed.npz', 'numpy_compressed_orig.npz')\n\
                print('ok')";
    let Some(out) = common::run_code(d, code) else { return };
    assert_eq!(out.trim(), "ok");
    for name in ["numpy.npz", "numpy_compressed.npz"] {
        let path = d.join(name);
        realign_npz(&path).unwrap();
        let archive = NpzArchive::open(&path).unwrap();
        assert!(archive.members().iter().all(|m| m.compression == Compression::Stored));
        assert!(archive.members().iter().all(|m| m.data_offset.unwrap() % 64 == 0));
        check_numpy_members(&archive, false);
        assert!(!load_numpy_members(&archive).contains(&false), "{name}");
    }
    // No temporary file is left, and NumPy reads the same arrays, in the same order, with
    // the same dtypes and memory order, and the other file's bytes.
    let mut left: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(
        left,
        ["numpy.npz", "numpy_compressed.npz", "numpy_compressed_orig.npz", "numpy_orig.npz"]
    );
    let code = "import numpy as np, zipfile\n\
                for new, old in [('numpy.npz', 'numpy_orig.npz'), ('numpy_compressed.npz', 'numpy_compressed_orig.npz')]:\n\
                \x20   a, b = np.load(new), np.load(old)\n\
                \x20   assert a.files == b.files, (a.files, b.files)\n\
                \x20   for k in a.files:\n\
                \x20       x, y = a[k], b[k]\n\
                \x20       if isinstance(x, bytes):\n\
                \x20           assert x == y, k\n\
                \x20           continue\n\
                \x20       assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), k\n\
                \x20       assert x.flags.f_contiguous == y.flags.f_contiguous, k\n\
                assert zipfile.ZipFile('numpy.npz').read('notes.txt') == b'kept as it is'\n\
                print('ok')";
    let Some(out) = common::run_code(d, code) else { return };
    assert_eq!(out.trim(), "ok");
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn realign_refuses_damaged_archives_and_leaves_them_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let listing = || {
        let mut names: Vec<_> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    // A member whose data does not match its checksum.
    let path = d.join("bad_crc.npz");
    save_npz_compressed(&path, &[("x", &array![1.0f64, 2.0, 3.0])]).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let central = central_headers(&bytes)[0];
    let crc = get_u32(&bytes, central + 16);
    put_u32(&mut bytes, central + 16, crc ^ 1);
    std::fs::write(&path, &bytes).unwrap();
    let err = realign_npz(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Npz { detail: NpzError::Checksum, member: Some(m), .. } if m == "x"),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // Not an archive.
    let path = d.join("text.npz");
    std::fs::write(&path, b"not a zip file").unwrap();
    let err = realign_npz(&path).unwrap_err();
    assert!(matches!(err, Error::Npz { detail: NpzError::Malformed { .. }, .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a zip file");
    // No archive at all.
    let err = realign_npz(d.join("missing.npz")).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(listing(), ["bad_crc.npz", "text.npz"]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn realign_pads_a_header_numpy_before_1_14_left_16_byte_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.npz");
    // An 80-byte .npy header (16-byte aligned, as NumPy wrote before 1.14), then 3 f64s.
    let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend(u16::try_from(80 - 10).unwrap().to_le_bytes());
    npy.extend(dict.bytes());
    npy.resize(79, b' ');
    npy.push(b'\n');
    for x in [1.0f64, -2.0, 0.5] {
        npy.extend(x.to_le_bytes());
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("old.npy", options).unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap();
    assert_eq!(NpzArchive::open(&path).unwrap().read::<f64, Ix1>("old").unwrap()[1], -2.0);
    realign_npz(&path).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    assert_eq!(archive.member("old").unwrap().data_offset.unwrap() % 64, 0);
    // SAFETY: the archive is in a fresh temporary folder that nothing else writes.
    let old = unsafe { archive.map::<f64, Ix1>("old") }.unwrap();
    assert_eq!(old.view(), array![1.0, -2.0, 0.5]);
}
