//! Anonymous shared maps: [`MmapArrayMut::anonymous`].

use std::path::Path;

use bytemuck::Pod;
use ndarray::{Dimension, StrideShape};

use crate::error::{Error, Result};
use crate::guard::{MmapArrayMut, Source};
use crate::layout::{ArrayLayout, Elem};
use crate::options::Mode;

/// The path that anonymous maps report: they have no file.
const ANONYMOUS: &str = "<anonymous>";

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// A new zeroed array in anonymous shared memory (`MAP_SHARED | MAP_ANONYMOUS`), backed
    /// by no file.
    ///
    /// Unlike the file constructors this is safe: no file exists that another program could
    /// modify or truncate, so the memory is reachable only through this guard, and through
    /// the copies of it that child processes inherit across `fork`. The map stays *shared*
    /// across `fork`: parent and children see each other's writes, so an
    /// [`atomic_view`](Self::atomic_view) made before forking gives counters and claims
    /// shared by a family of processes. Between threads it is a large zeroed array that
    /// the kernel allocates lazily, page by page.
    ///
    /// The guard's [`path`](Self::path) is `"<anonymous>"` and its
    /// [`mode`](Self::mode) [`Mode::ReadWrite`]. [`flush`](Self::flush) succeeds and does
    /// nothing useful (there is no file); advisory [locks](Self::try_lock) fail with
    /// [`Error::InvalidOption`]. The memory is freed when the last process holding it
    /// drops its guard or exits.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`] if the shape's byte size overflows `isize::MAX`;
    /// [`Error::OverlappingStrides`] for strides that make elements share memory;
    /// [`Error::Io`] if the kernel refuses the memory.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ndmmap::prelude::*;
    ///
    /// let mut counts = MmapArrayMut::<u64, Ix2>::anonymous((4, 2).f())?;
    /// assert_eq!(counts.path(), std::path::Path::new("<anonymous>"));
    /// let atomic = counts.atomic_view()?;
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| atomic.iter().for_each(|c| _ = c.fetch_add(1, Ordering::Relaxed)));
    ///     }
    /// });
    /// assert_eq!(counts.sum(), 3 * 8);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn anonymous<Sh: Into<StrideShape<D>>>(shape: Sh) -> Result<Self> {
        let path = Path::new(ANONYMOUS);
        let layout =
            ArrayLayout::new(&shape.into(), Elem::of::<A>(), true).map_err(|e| e.at_path(path))?;
        let len = layout.span;
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|e| Error::io(path, "map", len as u64, e))?;
        let source =
            Source { path: path.to_path_buf(), offset: 0, mode: Mode::ReadWrite, file: None };
        MmapArrayMut::new(map, &layout, source)
    }
}
