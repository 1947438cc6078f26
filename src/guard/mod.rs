//! [`MmapArray`] and [`MmapArrayMut`]: own a map, lend ndarray views of it.
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{ArrayRef, ArrayView, ArrayViewMut, Dimension};

use self::grow::Growth;
use crate::bytes;
use crate::error::{Error, Result};
use crate::layout::ArrayLayout;
use crate::map::{Advise, Mmap, MmapMut};
use crate::options::{Advice, Mode};

mod anonymous;
mod atomic;
mod boolean;
mod flush;
mod grow;
mod lock;
pub(crate) mod open;
pub(crate) mod pages;
mod producer;
mod slice;

pub use self::atomic::{AtomicElement, AtomicViewExt};
pub(crate) use self::grow::{ShapeHeader, StatedShape};

/// Invokes the macro `$m` once for each guard type, with what the guard's doctests need,
/// as Rust source text: `setup` (imports, and a file at `path` holding the `u8` array
/// `[1, 2, 3, 4]`), `map` and `map_with` (expressions mapping it as this guard type, the
/// second with `options`, a [`MapOptions`](crate::MapOptions)) and `mode` (the guard's
/// [`Mode`] from `map`). Methods that both guards share are written once, in such a
/// macro, and stay inherent, each with its doctest on each guard's page.
macro_rules! for_each_guard {
    ($m:ident) => {
        $crate::guard::for_each_guard!(@setup $m, r#"use ndmmap::prelude::*;

let dir = tempfile::tempdir()?;
let path = dir.path().join("a.bin");
std::fs::write(&path, [1u8, 2, 3, 4])?;"#);
    };
    (@setup $m:ident, $setup:literal) => {
        $m!(
            MmapArray,
            setup: $setup,
            map: "Array1::<u8>::map_file(&path)",
            map_with: "Array1::<u8>::map_file_with(&path, &options)",
            mode: "Mode::ReadOnly"
        );
        $m!(
            MmapArrayMut,
            setup: $setup,
            map: "Array1::<u8>::map_file_mut(&path)",
            map_with: "Array1::<u8>::map_file_mut_with(&path, &options)",
            mode: "Mode::ReadWrite"
        );
    };
}
use for_each_guard;

/// What backs a guard's map: the file's path, the data's offset in it, the map's mode and
/// the open file itself.
#[derive(Debug)]
pub(crate) struct Backing {
    pub(crate) path: PathBuf,
    pub(crate) offset: u64,
    pub(crate) mode: Mode,
    /// The open file behind the map (`None` for anonymous maps), kept for operations on
    /// the file rather than the map: locks, write-back hints, growth.
    pub(crate) file: Option<File>,
}

/// A read-only memory-mapped array: owns the map and lends [`ArrayView`]s of it.
///
/// It dereferences to ndarray's [`ArrayRef`], so every read-only ndarray method works on
/// it directly (`a.sum()`, `a.slice(s![..])`); it goes where arrays go (`&a + &b`,
/// `Zip::from(&a)`, `for x in &a`, `println!("{a}")`); and no view can outlive it:
///
/// ```compile_fail,E0597
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, [0u8; 8]).unwrap();
/// let view = {
///     let guard = unsafe { Array1::<u8>::map_file(&path).unwrap() };
///     guard.view()
/// }; // error: `guard` does not live long enough
/// assert_eq!(view.len(), 8);
/// ```
///
/// Nor can it be written, in `Zip` or elsewhere (`&mut a` is no producer of a read-only
/// guard):
///
/// ```compile_fail,E0277
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, [0u8; 8]).unwrap();
/// let mut a = unsafe { Array1::<u8>::map_file(&path).unwrap() };
/// Zip::from(&mut a).for_each(|x| *x = 1); // error: `&mut MmapArray` is no `IntoNdProducer`
/// ```
///
/// Made by [`MapFile::map_file`](crate::MapFile::map_file) and friends. It is `Send` and
/// `Sync` when `A` is `Sync`.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, bytemuck::cast_slice(&[1.5f64, 2.5, 3.0]))?;
/// let a = unsafe { Array1::<f64>::map_file(&path)? };
/// assert_eq!(a.sum(), 7.0);
/// assert_eq!(a.mode(), Mode::ReadOnly);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MmapArray<A: 'static, D> {
    /// Borrows `map`'s pages. `'static` is a lie told only inside this module: every
    /// accessor reborrows it for at most the guard's own borrow.
    view: ArrayView<'static, A, D>,
    map: Mmap,
    backing: Backing,
}

/// A writable memory-mapped array (read-write shared, or copy-on-write): owns the map and
/// lends [`ArrayView`]s and [`ArrayViewMut`]s of it.
///
/// It dereferences mutably to ndarray's [`ArrayRef`], so every ndarray method works on it
/// (`c += &a`, `c.fill(0.0)`, `Zip::from(&mut c)`, `azip!`).
///
/// # What is visible and what is durable
///
/// In [`Mode::ReadWrite`] a write through the map is in the kernel's page cache at once:
/// every other map of the file, in this process or another, and every `read` of it, sees
/// it without a flush, and it stays there when the guard is dropped (nothing is lost on
/// drop). The kernel writes dirty pages to disk in its own time; [`flush`](Self::flush)
/// (`msync`) waits until they are on disk, so only an operating-system crash or power loss
/// can lose writes that were not flushed. Drop does not flush (it could not report an
/// error); [`close`](Self::close) flushes and reports.
///
/// In [`Mode::CopyOnWrite`] writes stay in this process's private pages and vanish with
/// the guard; flushing does nothing.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("c.bin");
/// let mut c = unsafe { Array2::<f32>::create_file(&path, (2, 3))? };
/// c.fill(1.0);
/// c[[1, 2]] = 5.0;
/// c.close()?;
/// let again = unsafe { Array1::<f32>::map_file(&path)? };
/// assert_eq!(again.to_vec(), [1.0, 1.0, 1.0, 1.0, 1.0, 5.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MmapArrayMut<A: 'static, D> {
    /// Borrows `map`'s pages uniquely; see [`MmapArray::view`].
    view: ArrayViewMut<'static, A, D>,
    map: MmapMut,
    /// Address of the map's first byte (the array's lowest element).
    base: usize,
    /// The map's length in bytes, kept here because `MmapMut::len` goes through `Deref`,
    /// which would alias the view's unique borrow.
    len: usize,
    backing: Backing,
    /// Capacity and file kind for growth (`guard::grow`); its tail is cut off on drop.
    growth: Growth,
}

impl<A: AnyBitPattern, D: Dimension> MmapArray<A, D> {
    /// Wraps `map`, which spans exactly `layout`, in a guard.
    pub(crate) fn new(map: Mmap, layout: &ArrayLayout<D>, backing: Backing) -> Result<Self> {
        // SAFETY: the slice is exactly the map's bytes, which stay valid and at the same
        // address until `map` is unmapped, that is, until this guard is dropped (moving the
        // `Mmap` handle does not move the mapping). The `'static` lifetime never leaves the
        // guard: `view()` and `Deref` reborrow it for the guard's borrow only.
        let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(map.as_ptr(), map.len()) };
        let view = bytes::view(bytes, layout).map_err(|e| e.at_path(&backing.path))?;
        Ok(MmapArray { view, map, backing })
    }
}

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// Wraps `map`, which spans exactly `layout`, in a guard.
    pub(crate) fn new(mut map: MmapMut, layout: &ArrayLayout<D>, backing: Backing) -> Result<Self> {
        let whole: &mut [u8] = &mut map;
        let (base, len) = (whole.as_mut_ptr(), whole.len());
        // SAFETY: the slice is exactly the map's bytes, valid and at the same address until
        // `map` is unmapped when this guard drops. It is the only reference made to them:
        // while the view lives, the guard (and the chunked engine, through
        // `view_mut_and_map`) touches `map` only through methods that pass its pointer to
        // the kernel (`flush_range`, `flush_async_range`, `advise`, `advise_range`,
        // `unchecked_advise_range`), never through `Deref` (nor `flush`, which derefs to
        // learn the length); growth replaces the view before it derefs the map again. The
        // `'static` lifetime never leaves the guard (see `MmapArray::new`).
        let bytes: &'static mut [u8] = unsafe { std::slice::from_raw_parts_mut(base, len) };
        let view = bytes::view_mut(bytes, layout).map_err(|e| e.at_path(&backing.path))?;
        let growth = Growth::new(layout);
        Ok(MmapArrayMut { view, map, base: base as usize, len, backing, growth })
    }

    /// Resizes the map to `map_len` bytes (if given; the file must hold them) and views its
    /// first `layout.span` bytes as `layout`: growth's one `unsafe` step. On error the view
    /// keeps its old layout.
    pub(crate) fn remap_view(
        &mut self,
        map_len: Option<usize>,
        layout: &ArrayLayout<D>,
    ) -> Result<()> {
        let mut strides = self.view.raw_dim();
        for (slot, &s) in strides.slice_mut().iter_mut().zip(self.view.strides()) {
            *slot = s.cast_unsigned();
        }
        let old = ArrayLayout { dim: self.view.raw_dim(), strides, span: self.len };
        // Give up the view's unique borrow of the map before the map changes.
        self.drop_view()?;
        let remapped = match (map_len, &self.backing.file) {
            (Some(n), Some(file)) => {
                let end = self.backing.offset + n as u64;
                // SAFETY: the caller has made the file at least `offset + n` bytes long, and
                // nothing borrows the map: the view was just replaced by one of no bytes, and
                // the guard lends views only while borrowed, which `&mut self` rules out.
                let moved =
                    unsafe { crate::map::remap(&mut self.map, file, self.backing.offset, n) };
                moved.map_err(|e| Error::io(&self.backing.path, "remap", end, e))
            }
            _ => Ok(()),
        };
        // A failed remap leaves the old map in place, so the old layout still fits it; if
        // even the new view cannot be made, the old one is restored, never an empty one
        // (whose length of 0 would make `Drop` cut the file to nothing).
        let layout = if remapped.is_ok() { layout } else { &old };
        if let Err(e) = self.view_map_prefix(layout) {
            self.view_map_prefix(&old)?;
            return Err(e);
        }
        remapped
    }

    /// Replaces the view by one of no elements, which borrows no bytes of the map.
    fn drop_view(&mut self) -> Result<()> {
        let empty: &'static mut [A] = &mut [];
        self.view = ArrayViewMut::from_shape(D::zeros(self.view.ndim()), empty)
            .map_err(|error| Error::Shape { path: Some(self.backing.path.clone()), error })?;
        Ok(())
    }

    /// Views the map's first `layout.span` bytes as `layout`, replacing the view; on error
    /// the view is empty.
    fn view_map_prefix(&mut self, layout: &ArrayLayout<D>) -> Result<()> {
        self.drop_view()?;
        let whole: &mut [u8] = &mut self.map;
        let available = whole.len();
        let Some(bytes) = whole.get_mut(..layout.span) else {
            return Err(Error::TooShort {
                path: Some(self.backing.path.clone()),
                needed: self.backing.offset + layout.span as u64,
                available: self.backing.offset + available as u64,
            });
        };
        let (base, len) = (bytes.as_mut_ptr(), bytes.len());
        // SAFETY: as in `new`: the bytes are the map's first `len`, valid and at this address
        // until the map is remapped (through `remap_view`, which first drops the view) or
        // unmapped when the guard drops, and the view is the only reference to them. The map
        // was dereferenced just above only while no view borrowed it (the caller replaced
        // the view first).
        let bytes: &'static mut [u8] = unsafe { std::slice::from_raw_parts_mut(base, len) };
        self.view = bytes::view_mut(bytes, layout).map_err(|e| e.at_path(&self.backing.path))?;
        (self.base, self.len) = (base as usize, len);
        Ok(())
    }
}

impl<A: 'static, D> MmapArrayMut<A, D> {
    /// The growth state.
    pub(crate) fn growth(&self) -> &Growth {
        &self.growth
    }

    /// The growth state, mutably.
    pub(crate) fn growth_mut(&mut self) -> &mut Growth {
        &mut self.growth
    }

    /// The growth state with the source and the array's length in bytes.
    pub(crate) fn growth_parts(&mut self) -> (&mut Growth, &Backing, usize) {
        (&mut self.growth, &self.backing, self.len)
    }
}

impl<A: 'static, D> Drop for MmapArrayMut<A, D> {
    /// Commits rows appended to a `.npy` file since the header was last written (their data
    /// to disk, then the header; see `guard::grow`) and cuts off any capacity that growth
    /// left past the array's end, so the file holds the array and nothing after it. Errors
    /// cannot be reported here; [`close`](MmapArrayMut::close) reports them.
    fn drop(&mut self) {
        let _ = self.growth.commit(&self.backing);
        // SAFETY: the guard is being dropped: no view lent out lives (they borrow the
        // guard), and its own view is dropped after this without touching a byte (it holds
        // a pointer, not a reference). So nothing uses the map's bytes again.
        let _ =
            unsafe { self.growth.trim_file(&self.backing, &mut self.map, self.len, false, None) };
    }
}

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// A writable view of the whole array, borrowing the guard uniquely.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut c = unsafe { Array2::<u8>::create_file(dir.path().join("c.bin"), (2, 2))? };
    /// let mut v: ArrayViewMut2<u8> = c.view_mut();
    /// v.row_mut(1).fill(9);
    /// assert_eq!(*c, array![[0, 0], [9, 9]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, A, D> {
        self.view.view_mut()
    }
}

/// The accessors both guards share, written once (see `for_each_guard`).
macro_rules! shared_accessors {
    ($guard:ident, setup: $setup:literal, map: $map:literal, map_with: $map_with:literal, mode: $mode:literal) => {
        impl<A: 'static, D: Dimension> $guard<A, D> {
            /// A read-only view of the whole array, borrowing the guard.
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let a = unsafe { ", $map, "? };
let v: ArrayView1<u8> = a.view();
assert_eq!(v, array![1, 2, 3, 4]);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            #[must_use]
            pub fn view(&self) -> ArrayView<'_, A, D> {
                self.view.view()
            }

            /// The mapped file's path, as given.
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let a = unsafe { ", $map, "? };
assert_eq!(a.path(), path);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            #[must_use]
            pub fn path(&self) -> &Path {
                &self.backing.path
            }

            /// The byte offset of the array's data (its lowest element) in the file.
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let options = MapOptions::new().offset(2);
let a = unsafe { ", $map_with, "? };
assert_eq!((a.offset(), a.to_vec()), (2, vec![3, 4]));
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            #[must_use]
            pub fn offset(&self) -> u64 {
                self.backing.offset
            }

            /// How the map relates to its file: always [`Mode::ReadOnly`] for an
            /// [`MmapArray`]; [`Mode::ReadWrite`] or [`Mode::CopyOnWrite`] for an
            /// [`MmapArrayMut`].
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let a = unsafe { ", $map, "? };
assert_eq!(a.mode(), ", $mode, ");
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            #[must_use]
            pub fn mode(&self) -> Mode {
                self.backing.mode
            }

            /// Tells the kernel how the array will be used (`madvise`), e.g.
            /// [`Advice::Sequential`] before a pass over it.
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the kernel refuses the advice.
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let a = unsafe { ", $map, "? };
a.advise(Advice::WillNeed)?;
assert_eq!(a.sum(), 10);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            pub fn advise(&self, advice: Advice) -> Result<()> {
                self.map
                    .advise_all(advice)
                    .map_err(|e| Error::io(&self.backing.path, "advise", 0, e))
            }
        }
    };
}
for_each_guard!(shared_accessors);

impl<A: 'static, D: Dimension> Deref for MmapArray<A, D> {
    type Target = ArrayRef<A, D>;

    fn deref(&self) -> &ArrayRef<A, D> {
        &self.view
    }
}

impl<A: 'static, D: Dimension> Deref for MmapArrayMut<A, D> {
    type Target = ArrayRef<A, D>;

    fn deref(&self) -> &ArrayRef<A, D> {
        &self.view
    }
}

impl<A: 'static, D: Dimension> DerefMut for MmapArrayMut<A, D> {
    fn deref_mut(&mut self) -> &mut ArrayRef<A, D> {
        &mut self.view
    }
}
