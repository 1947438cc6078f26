//! Anonymous shared maps: [`MmapArrayMut::anonymous`].
//!
//! memmap2's `map_anon` maps `MAP_PRIVATE`, which `fork` turns into copy-on-write copies,
//! so the shared memory here is an unnamed memory file (`memfd_create`) mapped shared: the
//! same shmem object the kernel makes for `MAP_SHARED | MAP_ANONYMOUS`.
#![allow(unsafe_code)]

use bytemuck::Pod;
use ndarray::Dimension;

use super::MmapArrayMut;

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// A new zeroed array in anonymous shared memory, backed by no file in any folder.
    ///
    /// Unlike the file constructors this is safe: no named file exists that another program
    /// could open, modify or truncate. The map stays *shared* across `fork`: parent and
    /// children see each other's writes, so an [`atomic_view`](Self::atomic_view) made
    /// before forking gives counters and claims shared by a family of processes.
    ///
    /// After a `fork` (itself `unsafe` in Rust), every process holds a guard over the same
    /// memory, so the mapping contract passes to whoever forks: bytes that another process
    /// may write must be touched only through atomic views, in every process, as long as
    /// that other process may write them. Plain reads of such bytes are a data race, which
    /// the compiler may turn into reads of stale values. Between threads it is a large zeroed array that
    /// the kernel allocates lazily, page by page.
    ///
    /// The guard's [`path`](Self::path) is `"<anonymous>"` and its
    /// [`mode`](Self::mode) [`Mode::ReadWrite`](crate::Mode::ReadWrite). [`flush`](Self::flush) succeeds and does
    /// nothing useful (there is no file); advisory [locks](Self::try_lock) fail with
    /// [`Error::InvalidOption`](crate::Error::InvalidOption). The memory is freed when the last process holding it
    /// drops its guard or exits.
    ///
    /// Available where `memfd_create` exists (Linux, FreeBSD): the memory is an unnamed
    /// memory file, mapped shared, whose descriptor is closed at once (it is never
    /// inherited by `exec`), which is what the kernel itself does for
    /// `MAP_SHARED | MAP_ANONYMOUS`. Absent on macOS (no `memfd_create`) and Windows (no
    /// `fork`): there, share memory between processes through a file, with
    /// [`create_file`](crate::MapFile::create_file) and atomic views.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`](crate::Error::Overflow) if the shape's byte size overflows `isize::MAX`;
    /// [`Error::OverlappingStrides`](crate::Error::OverlappingStrides) for strides that make elements share memory;
    /// [`Error::Io`](crate::Error::Io) if the kernel refuses the memory file or the map.
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
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    #[cfg_attr(docsrs, doc(cfg(any(target_os = "linux", target_os = "freebsd"))))]
    pub fn anonymous<Sh: Into<ndarray::StrideShape<D>>>(shape: Sh) -> crate::error::Result<Self> {
        use std::path::Path;

        use super::Backing;
        use crate::error::Error;
        use crate::layout::{ArrayLayout, Elem};
        use crate::map::{self, Region};
        use crate::options::Mode;

        // The path that anonymous maps report: they have no file.
        const ANONYMOUS: &str = "<anonymous>";
        let path = Path::new(ANONYMOUS);
        let layout =
            ArrayLayout::new(&shape.into(), Elem::of::<A>(), true).map_err(|e| e.at_path(path))?;
        let len = layout.span;
        let io = |action| move |e| Error::io(path, action, len as u64, e);
        let file = map::file::memory_file(len as u64).map_err(io("create"))?;
        let region = Region { offset: 0, len, populate: false };
        // SAFETY: the memory file has no name in any folder, and its only descriptor is
        // `file`, which is close-on-exec and is dropped when this function returns, after
        // its length was set. So nobody can modify or truncate the mapped bytes except
        // through this map. A `fork`ed child shares the same memory through its copy of
        // this guard; `fork` is `unsafe`, and the documentation above puts the duty to touch
        // shared bytes only atomically on whoever forks. A process allowed to
        // `ptrace` this one could reach it through `/proc/<pid>/map_files`, as it could reach
        // any memory through `/proc/<pid>/mem`, which is beyond what Rust's safety covers.
        let map = unsafe { map::map_read_write(&file, region) }.map_err(io("map"))?;
        drop(file);
        let backing =
            Backing { path: path.to_path_buf(), offset: 0, mode: Mode::ReadWrite, file: None };
        MmapArrayMut::new(map, &layout, backing)
    }
}
