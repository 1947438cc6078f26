//! The guards: `Debug`, thread safety, accessors, views, flushing (whole, range, sub-view),
//! `close`, file growth, created offsets, read-ahead options.
// Exact float comparisons are intended: the values are written and read back bit for bit.
#![allow(clippy::float_cmp)]

use std::path::Path;

use ndmmap::Error;
use ndmmap::prelude::*;

use crate::{read_bytes, temp_file, write_elems};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn guards_and_errors_are_send_and_sync() {
    assert_send_sync::<MmapArray<f64, Ix2>>();
    assert_send_sync::<MmapArray<u8, IxDyn>>();
    assert_send_sync::<MmapArrayMut<f64, Ix2>>();
    assert_send_sync::<MmapArrayMut<i16, IxDyn>>();
    assert_send_sync::<MapOptions<Ix3>>();
    assert_send_sync::<Error>();
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn guards_cross_threads() {
    let (_dir, path) = temp_file("a.bin");
    write_elems(&path, &[1.0f64, 2.0, 3.0, 4.0]);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array1::<f64>::map_file(&path) }.unwrap();
    // Shared by reference between two threads (`Sync`).
    let (first, second) = std::thread::scope(|s| {
        let h1 = s.spawn(|| a.slice(s![..2]).sum());
        let h2 = s.spawn(|| a.slice(s![2..]).sum());
        (h1.join().unwrap(), h2.join().unwrap())
    });
    assert_eq!((first, second), (3.0, 7.0));
    drop(a);
    // Moved to another thread, written there, and moved back (`Send`).
    // SAFETY: as above.
    let w = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap();
    let w = std::thread::spawn(move || {
        let mut w = w;
        w[0] = 10.0;
        w
    })
    .join()
    .unwrap();
    assert_eq!(w.to_vec(), [10.0, 2.0, 3.0, 4.0]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn debug_shows_path_mode_offset_and_the_elements() {
    let (_dir, path) = temp_file("debug.bin");
    std::fs::write(&path, [0u8; 64]).unwrap();
    let options = MapOptions::new().offset(16).shape((2, 3));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array2::<f64>::map_file_with(&path, &options) }.unwrap();
    let text = format!("{r:?}");
    for part in [
        "MmapArray {",
        &format!("path: {path:?}"),
        "mode: ReadOnly",
        "elem: \"f64\"",
        "offset: 16",
        "array: [[0.0, 0.0, 0.0],\n [0.0, 0.0, 0.0]], shape=[2, 3], strides=[3, 1]",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }

    let options = MapOptions::new().offset(8).shape((2, 2).f());
    // SAFETY: as above.
    let c = unsafe { Array2::<u32>::map_file_copy_with(&path, &options) }.unwrap();
    let text = format!("{c:?}");
    for part in
        ["MmapArrayMut {", "mode: CopyOnWrite", "elem: \"u32\"", "strides=[1, 2]", "offset: 8"]
    {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // SAFETY: as above.
    let w = unsafe { Array1::<u8>::map_file_mut(&path) }.unwrap();
    assert!(format!("{w:?}").contains("mode: ReadWrite"), "{w:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn accessors_report_what_was_mapped() {
    let (_dir, path) = temp_file("a.bin");
    std::fs::write(&path, [0u8; 48]).unwrap();
    let options = MapOptions::new().offset(24).shape(3);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array1::<f64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!((r.path(), r.offset(), r.mode()), (path.as_path(), 24, Mode::ReadOnly));
    // SAFETY: as above.
    let w = unsafe { Array1::<f64>::map_file_mut_with(&path, &options) }.unwrap();
    assert_eq!((w.path(), w.offset(), w.mode()), (path.as_path(), 24, Mode::ReadWrite));
    // SAFETY: as above.
    let c = unsafe { Array1::<f64>::map_file_copy_with(&path, &options) }.unwrap();
    assert_eq!((c.path(), c.offset(), c.mode()), (path.as_path(), 24, Mode::CopyOnWrite));
    drop(r);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn views_borrow_from_guards() {
    let (_dir, path) = temp_file("a.bin");
    write_elems(&path, &[1i32, 2, 3, 4, 5, 6]);
    let options = MapOptions::new().shape((2, 3));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array2::<i32>::map_file_with(&path, &options) }.unwrap();
    let v: ArrayView2<i32> = r.view();
    assert_eq!(v, array![[1, 2, 3], [4, 5, 6]]);
    assert_eq!(v.as_ptr(), r.as_ptr()); // a view of the map, not a copy
    drop(r);

    // SAFETY: as above.
    let mut w = unsafe { Array2::<i32>::map_file_mut_with(&path, &options) }.unwrap();
    assert_eq!(w.view(), array![[1, 2, 3], [4, 5, 6]]);
    {
        let mut vm: ArrayViewMut2<i32> = w.view_mut();
        vm.column_mut(1).fill(0);
        vm[[1, 2]] = -6;
    }
    assert_eq!(*w, array![[1, 0, 3], [4, 0, -6]]);
    drop(w);
    assert_eq!(crate::elems::<i32>(&read_bytes(&path)), [1, 0, 3, 4, 0, -6]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn flush_view_of_a_strided_column_and_a_slice() {
    let (_dir, path) = temp_file("c.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array2::<f64>::create_file(&path, (300, 40)) }.unwrap();
    c.column_mut(7).fill(2.0);
    c.flush_view(&c.column(7)).unwrap();
    c.slice_mut(s![10..20, ..]).fill(3.0);
    c.flush_view(&c.slice(s![10..20, ..])).unwrap();
    // Negative strides, and an empty view.
    c.slice_mut(s![..;-3, 39]).fill(4.0);
    c.flush_view(&c.slice(s![..;-3, 39])).unwrap();
    c.flush_view(&c.slice(s![5..5, ..])).unwrap();
    // A view of a 0-d element and of the transposed array.
    c.flush_view(&c.slice(s![0, 0])).unwrap();
    c.flush_view(&c.t()).unwrap();

    let mut expected = Array2::<f64>::zeros((300, 40));
    expected.column_mut(7).fill(2.0);
    expected.slice_mut(s![10..20, ..]).fill(3.0);
    expected.slice_mut(s![..;-3, 39]).fill(4.0);
    assert_eq!(*c, expected);
    drop(c);
    let on_disk: Vec<f64> = crate::elems(&read_bytes(&path));
    assert_eq!(on_disk, expected.into_raw_vec_and_offset().0);
}

/// Kibibytes of dirty pages in this process's mapping that contains `addr`, from
/// `/proc/self/smaps`; `None` if that file cannot be read or no mapping contains `addr`.
fn dirty_kib(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut found = false;
    let mut dirty = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some(field) = first.strip_suffix(':') {
            if inside && (field == "Shared_Dirty" || field == "Private_Dirty") {
                dirty += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            }
        } else if let Some((lo, hi)) = first.split_once('-') {
            let lo = usize::from_str_radix(lo, 16).ok()?;
            let hi = usize::from_str_radix(hi, 16).ok()?;
            inside = (lo..hi).contains(&addr);
            found |= inside;
        }
    }
    found.then_some(dirty)
}

/// Whether `path` lies on a tmpfs, whose pages never become clean (there is no disk to
/// write them to), so that flushing cannot be observed there.
fn on_tmpfs(path: &Path) -> bool {
    const TMPFS_MAGIC: i128 = 0x0102_1994;
    rustix::fs::statfs(path).is_ok_and(|s| i128::from(s.f_type) == TMPFS_MAGIC)
}

/// `flush_view` writes exactly the pages that hold the view's elements: the kernel's own
/// count of dirty pages in the map (`/proc/self/smaps`) drops by those pages and no others.
///
/// The kernel may also write pages back on its own at any moment (an ext4 journal commit
/// writes the file's ordered data, which other processes' `fsync`s can trigger). That can
/// only make the count lower than expected, never higher: such a run is repeated, up to
/// five times; a count higher than expected (a page that should have been written was not)
/// fails at once.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn flush_view_writes_exactly_the_views_pages() {
    let (dir, path) = temp_file("pages.bin");
    if on_tmpfs(dir.path()) {
        eprintln!("skipped: {} is on tmpfs, where pages are never clean", dir.path().display());
        return;
    }
    for attempt in 1..=5 {
        match flush_view_scenario(&path) {
            Some(Ok(())) => return,
            None => {
                eprintln!("skipped: /proc/self/smaps is not readable here");
                return;
            }
            Some(Err(step)) => {
                eprintln!("attempt {attempt}: the kernel wrote pages back itself {step}");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
    panic!("the kernel wrote pages back on its own in every attempt; the test could not run");
}

/// One run of [`flush_view_writes_exactly_the_views_pages`]: `None` without smaps,
/// `Some(Err(step))` if the kernel cleaned pages by itself before `step`.
fn flush_view_scenario(path: &Path) -> Option<Result<(), &'static str>> {
    let page = rustix::param::page_size();
    let kib = u64::try_from(page / 1024).unwrap();
    // Compares the dirty count with `pages`: more is a failure of ndmmap, fewer is the
    // kernel's own write-back.
    let expect = |addr: usize, pages: u64, step: &'static str| -> Result<(), &'static str> {
        let dirty = dirty_kib(addr).expect("smaps was readable a moment ago");
        assert!(dirty <= pages * kib, "{step}: {dirty} KiB dirty, expected {} KiB", pages * kib);
        if dirty < pages * kib { Err(step) } else { Ok(()) }
    };
    // 16 rows of two pages each.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array2::<u8>::create_file(path, (16, 2 * page)) }.unwrap();
    let addr = c.as_ptr() as usize;
    let clean = dirty_kib(addr)?;
    assert_eq!(clean, 0);
    let mut run = || -> Result<(), &'static str> {
        c.fill(1);
        expect(addr, 32, "after fill")?;
        // Column 0 is the first page of each row: 16 pages, a strided view.
        c.flush_view(&c.column(0)).unwrap();
        expect(addr, 16, "after column 0 (its 16 first pages)")?;
        // Rows 0 and 1: their second pages are still dirty.
        c.flush_view(&c.slice(s![0..2, ..])).unwrap();
        expect(addr, 14, "after rows 0..2")?;
        // The last column backwards: the second page of each row.
        c.flush_view(&c.slice(s![8..;-1, -1])).unwrap();
        expect(addr, 6, "after the last column of rows 8..16")?;
        // One byte of row 5's second page, by range.
        let start = (5 * 2 + 1) * page + 100;
        c.flush_range(start..start + 1).unwrap();
        expect(addr, 5, "after one byte of row 5")?;
        c.flush().unwrap();
        expect(addr, 0, "after flush")
    };
    let outcome = run();
    drop(c);
    if outcome.is_ok() {
        assert!(read_bytes(path).iter().all(|&b| b == 1));
    }
    Some(outcome)
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[allow(clippy::reversed_empty_ranges)] // a reversed range is one of the cases under test
fn flush_range_bounds() {
    let (_dir, path) = temp_file("c.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array1::<u64>::create_file(&path, 100) }.unwrap();
    c[3] = 7;
    c.flush_range(24..32).unwrap();
    c.flush_range(0..800).unwrap();
    c.flush_range(800..800).unwrap();
    let err = c.flush_range(0..801).unwrap_err();
    assert!(
        matches!(&err, Error::OffsetPastEnd { path: p, offset: 801, len: 800 }
            if p.as_deref() == Some(path.as_path())),
        "{err:?}"
    );
    let err = c.flush_range(801..900).unwrap_err();
    assert!(matches!(err, Error::OffsetPastEnd { offset: 900, len: 800, .. }), "{err:?}");
    let err = c.flush_range(16..8).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    // The bounds are the array's bytes, not the file's: with an offset the file is longer.
    drop(c);
    let options = MapOptions::new().offset(64).shape(4);
    // SAFETY: as above.
    let w = unsafe { Array1::<u64>::map_file_mut_with(&path, &options) }.unwrap();
    w.flush_range(0..32).unwrap();
    assert!(matches!(w.flush_range(0..33), Err(Error::OffsetPastEnd { offset: 33, len: 32, .. })));
    drop(w);
    assert_eq!(read_bytes(&path)[24..32], 7u64.to_ne_bytes());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn close_persists_and_async_flush_works() {
    let (_dir, path) = temp_file("c.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array2::<i16>::create_file(&path, (3, 2)) }.unwrap();
    c.assign(&array![[1, 2], [3, 4], [5, 6]]);
    c.flush_async().unwrap();
    c[[2, 1]] = -6;
    c.close().unwrap();
    assert_eq!(crate::elems::<i16>(&read_bytes(&path)), [1, 2, 3, 4, 5, -6]);
    // SAFETY: as above.
    let again = unsafe { Array2::<i16>::map_file_with(&path, &MapOptions::new().shape((3, 2))) };
    assert_eq!(*again.unwrap(), array![[1, 2], [3, 4], [5, -6]]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn extend_file_grows_a_short_file_with_zeros() {
    let (_dir, path) = temp_file("short.bin");
    let head: Vec<u8> = (1..=8).collect();
    std::fs::write(&path, &head).unwrap();
    let options = MapOptions::new().shape(4).extend_file(true);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array1::<u32>::map_file_mut_with(&path, &options) }.unwrap();
    assert_eq!(a.to_vec()[2..], [0, 0]);
    assert_eq!(a[0], u32::from_ne_bytes([1, 2, 3, 4]));
    a[3] = 0xABCD;
    a.close().unwrap();
    let bytes = read_bytes(&path);
    assert_eq!(bytes.len(), 16);
    assert_eq!(bytes[..8], head);
    assert_eq!(bytes[8..12], [0; 4]);
    assert_eq!(bytes[12..], 0xABCDu32.to_ne_bytes());

    // An offset past the end grows the file through the gap, which reads as zeros.
    let options = MapOptions::new().offset(32).shape(2).extend_file(true);
    // SAFETY: as above.
    let b = unsafe { Array1::<u32>::map_file_mut_with(&path, &options) }.unwrap();
    assert_eq!(b.to_vec(), [0, 0]);
    drop(b);
    let bytes = read_bytes(&path);
    assert_eq!(bytes.len(), 40);
    assert!(bytes[16..].iter().all(|&x| x == 0));

    // A file that is long enough is left at its length.
    let options = MapOptions::new().shape(2).extend_file(true);
    // SAFETY: as above.
    drop(unsafe { Array1::<u32>::map_file_mut_with(&path, &options) }.unwrap());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn create_with_offset_leaves_zeros_before_the_data() {
    let (_dir, path) = temp_file("c.bin");
    let options = MapOptions::new().offset(16);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array2::<u32>::create_file_with(&path, (2, 2).f(), &options) }.unwrap();
    assert_eq!(c.offset(), 16);
    c.assign(&array![[1, 2], [3, 4]]);
    c.close().unwrap();
    let bytes = read_bytes(&path);
    assert_eq!(bytes.len(), 32);
    assert_eq!(bytes[..16], [0; 16]);
    // Fortran order: columns first.
    assert_eq!(crate::elems::<u32>(&bytes[16..]), [1, 3, 2, 4]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn populate_and_access_options() {
    let (dir, path) = temp_file("a.bin");
    let data: Vec<u16> = (0..5000).collect();
    write_elems(&path, &data);
    let expected: u64 = data.iter().map(|&x| u64::from(x)).sum();
    let sum = |a: &ArrayRef<u16, Ix1>| a.iter().map(|&x| u64::from(x)).sum::<u64>();
    for access in [Advice::Normal, Advice::Sequential, Advice::Random, Advice::WillNeed] {
        for populate in [false, true] {
            let options = MapOptions::new().populate(populate).advise(access);
            // SAFETY: no other process touches files in this fresh temporary folder.
            let r = unsafe { Array1::<u16>::map_file_with(&path, &options) }.unwrap();
            assert_eq!(sum(&r), expected, "{options:?}");
            r.advise(access).unwrap();
            // SAFETY: as above.
            let mut w = unsafe { Array1::<u16>::map_file_mut_with(&path, &options) }.unwrap();
            w.advise(access).unwrap();
            w[4999] = 4999; // the value it has
            drop(w);
            // SAFETY: as above.
            let c = unsafe { Array1::<u16>::map_file_copy_with(&path, &options) }.unwrap();
            assert_eq!(sum(&c), expected);
        }
    }
    let options = MapOptions::new().populate(true).advise(Advice::Random);
    // SAFETY: as above.
    let mut n =
        unsafe { Array1::<u16>::create_file_with(dir.path().join("n.bin"), 3000, &options) }
            .unwrap();
    assert_eq!(sum(&n), 0);
    n.fill(2);
    n.close().unwrap();
    assert_eq!(read_bytes(&dir.path().join("n.bin")), 2u16.to_ne_bytes().repeat(3000));
    assert_eq!(crate::elems::<u16>(&read_bytes(&path)), data);
}

/// Zero-dimensional arrays map one element; shapes with a zero axis create empty files.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn degenerate_shapes() {
    let (dir, path) = temp_file("a.bin");
    write_elems(&path, &[1.0f64, 2.0, 3.0]);
    let options = MapOptions::new().offset(8).shape(());
    // SAFETY: no other process touches files in this fresh temporary folder.
    let scalar = unsafe { Array0::<f64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(scalar[()], 2.0);
    assert_eq!(scalar.first(), Some(&2.0));
    // SAFETY: as above.
    let mut w = unsafe { Array0::<f64>::map_file_mut_with(&path, &options) }.unwrap();
    w[()] = 20.0;
    w.close().unwrap();
    assert_eq!(crate::elems::<f64>(&read_bytes(&path)), [1.0, 20.0, 3.0]);
    // A 0-d array has no axis to infer, so a shape is required.
    // SAFETY: as above.
    let err = unsafe { Array0::<f64>::map_file(&path) }.unwrap_err();
    assert!(matches!(err, Error::ShapeRequired { action: "map", ndim: 0, .. }), "{err:?}");

    let empty = dir.path().join("empty.bin");
    // SAFETY: as above.
    let e = unsafe { Array2::<f64>::create_file(&empty, (0, 5)) }.unwrap();
    assert_eq!(e.dim(), (0, 5));
    e.close().unwrap();
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
}
