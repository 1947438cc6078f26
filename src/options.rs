//! What the caller asks for: [`MapOptions`], [`Mode`], [`Advice`] and [`Lock`]. Plain data,
//! checked downstream (by `layout` and the guard constructors); nothing here does I/O.

use ndarray::{Dimension, IntoDimension, Order, StrideShape};

/// How a guard's map relates to its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Shared read-only map (NumPy's `'r'`). The array cannot be written.
    ReadOnly,
    /// Shared read-write map (NumPy's `'r+'` and `'w+'`). Writes reach the file, and every
    /// other map of the same file sees them at once.
    ReadWrite,
    /// Private copy-on-write map (NumPy's `'c'`). Writes stay in this process's memory;
    /// the file is never changed.
    CopyOnWrite,
}

/// How the program will touch a map: advice passed to the kernel (`madvise`) so that it
/// can read ahead or not. (Whether a map may be written is its [`Mode`].)
///
/// On platforms without `madvise` the hint is accepted and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Advice {
    /// No particular pattern (the kernel's default).
    Normal,
    /// Front to back: read ahead aggressively, and pages behind may be dropped soon.
    Sequential,
    /// Random access: read ahead little.
    Random,
    /// The whole range will be needed soon: start reading it now.
    WillNeed,
}

/// The shape part of [`MapOptions`].
#[derive(Clone, Debug)]
pub(crate) enum ShapeSpec<D> {
    /// Every axis length and the strides are given.
    Exact(StrideShape<D>),
    /// One axis may be [`INFER`](crate::INFER); C or Fortran order.
    Inferred { dims: D, order: Order },
}

/// Options for mapping or creating a file: offset, shape, length, growth, read-ahead.
///
/// Build one with [`MapOptions::new`] and the chained setters, then pass it by reference
/// to a `_with` constructor of [`MapFile`](crate::MapFile).
/// Without a shape, a one-dimensional array (`Ix1` or `IxDyn`) takes every whole element
/// from the offset to the end of the file (or of [`len`](Self::len)).
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.bin");
/// // An 8-byte header, then a 2 x 3 Fortran-order f64 array.
/// let mut bytes = vec![0u8; 8];
/// bytes.extend(bytemuck::cast_slice(&[1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]));
/// std::fs::write(&path, &bytes)?;
///
/// let options = MapOptions::new().offset(8).shape((2, 3).f());
/// let a = unsafe { Array2::<f64>::map_file_with(&path, &options)? };
/// assert_eq!(*a, array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct MapOptions<D> {
    pub(crate) offset: u64,
    pub(crate) len: Option<u64>,
    pub(crate) shape: Option<ShapeSpec<D>>,
    pub(crate) settings: Settings,
}

/// What every map or create asks for besides where the array lies: the part of
/// [`MapOptions`] that `.npy` options share (one struct, so the two cannot drift apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "one field per builder switch")]
pub(crate) struct Settings {
    /// Read-write maps may grow a short file.
    pub(crate) extend: bool,
    /// `MAP_POPULATE`.
    pub(crate) populate: bool,
    /// `madvise` right after mapping.
    pub(crate) advice: Option<Advice>,
    /// Creating may replace an existing file.
    pub(crate) overwrite: bool,
    /// The advisory lock to take on the file, held by the guard.
    pub(crate) lock: Option<Lock>,
    /// Whether taking the lock waits or fails.
    pub(crate) on_conflict: OnConflict,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            extend: false,
            populate: false,
            advice: None,
            overwrite: false,
            lock: None,
            on_conflict: OnConflict::Fail,
        }
    }
}

impl Settings {
    /// The settings with `wait` deciding what a lock conflict does.
    pub(crate) fn wait_for_lock(self, wait: bool) -> Self {
        Settings { on_conflict: if wait { OnConflict::Wait } else { OnConflict::Fail }, ..self }
    }
}

/// The setters of [`Settings`], written once for every options type that holds them in a
/// `settings` field ([`MapOptions`], `NpyOptions`, `NpzOptions`), invoked inside the type's
/// `impl` block so that each setter stands on the type's own page.
///
/// Each setter's example is written here once; the invocation gives the type-specific
/// pieces it is built from, as Rust source text: `setup` (imports, and a file at `path`
/// holding the `u8` array `[1, 2, 3, 4]`), `map` and `map_mut` (expressions mapping that
/// array read-only and read-write with `options`, with `D` = `Ix1`). The optional `files`
/// part adds the setters for types that create and grow files, `extend_file` and
/// `overwrite`: `shape` (setters to append to `new()` so that the options describe the
/// whole array) and `create` (creating the array at `path` with `options`).
macro_rules! settings_setters {
    (
        $options:ident,
        setup: $setup:literal,
        map: $map:literal,
        map_mut: $map_mut:literal,
        $(files {
            shape: $shape:literal,
            create: $create:literal,
        })?
    ) => {
        /// Reads the whole map into memory when mapping (`MAP_POPULATE` on Linux), so that
        /// first touches do not fault. Ignored where unsupported.
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let options = ", stringify!($options), "::new().populate(true);
let a = unsafe { ", $map, "? };
assert_eq!(a.sum(), 10);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn populate(mut self, yes: bool) -> Self {
            self.settings.populate = yes;
            self
        }

        /// Tells the kernel how the map will be read, right after mapping (`madvise`), as
        /// the guards' own [`advise`](crate::MmapArray::advise) does later.
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let options = ", stringify!($options), "::new().advise(Advice::Sequential);
let a = unsafe { ", $map, "? };
assert_eq!(a.len(), 4);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn advise(mut self, advice: $crate::options::Advice) -> Self {
            self.settings.advice = Some(advice);
            self
        }

        /// Takes an advisory [`Lock`](crate::Lock) on the file when mapping it and holds it
        /// for the guard's lifetime: typically [`Lock::Shared`](crate::Lock::Shared) for
        /// readers and [`Lock::Exclusive`](crate::Lock::Exclusive) for a writer. The lock
        /// is taken right after the file is opened, before anything is read from it (a
        /// header) and before it is grown or mapped, so that a cooperating writer that
        /// changes the file under an exclusive lock is never seen half-way. If another
        /// process holds a conflicting lock, mapping fails with
        /// [`Error::Locked`](crate::Error::Locked), or waits with
        /// [`wait_for_lock(true)`](Self::wait_for_lock).
        ///
        /// Locks bind only processes that ask for them too, so mapping stays `unsafe`; see
        /// [`Lock`](crate::Lock).
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let options = ", stringify!($options), "::new().lock(Lock::Shared);
// SAFETY: every program that opens this file takes a lock first.
let reader = unsafe { ", $map, "? };
let options = ", stringify!($options), "::new().lock(Lock::Exclusive);
let writer = unsafe { ", $map_mut, " };
assert!(matches!(writer, Err(ndmmap::Error::Locked { lock: Lock::Exclusive, .. })));
drop(reader);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn lock(mut self, lock: $crate::options::Lock) -> Self {
            self.settings.lock = Some(lock);
            self
        }

        /// With [`lock`](Self::lock): wait until a conflicting lock is released instead of
        /// failing with [`Error::Locked`](crate::Error::Locked). Off by default, since
        /// waiting on a lock held by this very process never ends.
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let options = ", stringify!($options), "::new().lock(Lock::Exclusive).wait_for_lock(true);
// SAFETY: every program that opens this file takes a lock first.
let mut a = unsafe { ", $map_mut, "? };
a[0] = 9;
assert_eq!(a.to_vec(), [9, 2, 3, 4]);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn wait_for_lock(mut self, yes: bool) -> Self {
            self.settings = self.settings.wait_for_lock(yes);
            self
        }

        $(
        /// For read-write maps: lets a file shorter than the array grow to fit it, with its
        /// new bytes zero and reserved on disk. NumPy's `'r+'` grows files silently; ndmmap
        /// only does it when asked, and otherwise fails with
        /// [`Error::TooShort`](crate::Error::TooShort).
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let len = std::fs::metadata(&path)?.len();
std::fs::OpenOptions::new().write(true).open(&path)?.set_len(len - 2)?; // lose two elements
let options = ", stringify!($options), "::new()", $shape, ".extend_file(true);
let a = unsafe { ", $map_mut, "? };
assert_eq!(a.to_vec(), [1, 2, 0, 0]);
assert_eq!(std::fs::metadata(&path)?.len(), len);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn extend_file(mut self, yes: bool) -> Self {
            self.settings.extend = yes;
            self
        }

        /// For creating: replaces an existing file instead of failing with
        /// [`Error::AlreadyExists`](crate::Error::AlreadyExists).
        ///
        /// The new file is built under a temporary name in the same folder and, once
        /// mapped, synced and renamed into place, and the folder synced: the old file is
        /// untouched until the new one is complete, maps of the old file that are still
        /// alive keep reading the old data, and after `Ok` the new file survives a power
        /// loss. With [`lock`](Self::lock), the lock is first taken on the file being
        /// replaced: a conflicting holder makes the create an
        /// [`Error::Locked`](crate::Error::Locked), and nothing changes.
        ///
        /// As NumPy's `np.save`, which writes in place, the replace keeps the mode (the
        /// permissions) of the file it replaces, and its owner and group where the process
        /// may set them, and writes through symbolic links: the new file replaces the file
        /// a link at the path leads to, and the link stays a link. A file that someone else
        /// put at the path meanwhile is not replaced
        /// ([`Error::FileReplaced`](crate::Error::FileReplaced)).
        ///
        /// Windows renames over no file that a live map holds (a guard of this process or
        /// another): there the create is an [`Error::Io`](crate::Error::Io) ("replace",
        /// access denied) naming the file, which stays as it was, with nothing left behind.
        /// Wine and Windows before 10 1607 refuse it too while any handle holds the file
        /// open (an `NpzArchive`, say).
        ///
        /// # Example
        ///
        #[doc = concat!("```\n", $setup, "
let options = ", stringify!($options), "::new().overwrite(true);
let a = unsafe { ", $create, "? };
assert_eq!(a.to_vec(), [0, 0, 0, 0]);
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
        #[must_use]
        pub fn overwrite(mut self, yes: bool) -> Self {
            self.settings.overwrite = yes;
            self
        }
        )?
    };
}

pub(crate) use settings_setters;

impl<D: Dimension> Default for MapOptions<D> {
    fn default() -> Self {
        MapOptions { offset: 0, len: None, shape: None, settings: Settings::default() }
    }
}

impl<D: Dimension> MapOptions<D> {
    /// Options with every default: offset 0, shape from the file, whole file, no growth.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let options = MapOptions::<Ix1>::new();
    /// assert_eq!(format!("{options:?}").contains("offset: 0"), true);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the byte offset of the array's data (its lowest-addressed element) in the file.
    ///
    /// Any offset works for the kernel; it must be a multiple of the element type's
    /// alignment, or mapping fails with [`Error::Misaligned`](crate::Error::Misaligned).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[1u32, 2, 3, 4]))?;
    /// let tail = unsafe { Array1::<u32>::map_file_with(&path, &MapOptions::new().offset(8))? };
    /// assert_eq!(tail.to_vec(), [3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn offset(mut self, bytes: u64) -> Self {
        self.offset = bytes;
        self
    }

    /// Sets the shape, in ndarray's vocabulary: `(rows, cols)` for C order, `.f()` for
    /// Fortran order, `.strides(...)` (in elements, negative allowed) for any layout.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[0i16, 1, 2, 3, 4, 5]))?;
    /// // Every other element, as a 3-element column.
    /// let options = MapOptions::new().shape((3, 1).strides((2, 1)));
    /// let a = unsafe { Array2::<i16>::map_file_with(&path, &options)? };
    /// assert_eq!(*a, array![[0], [2], [4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn shape<Sh: Into<StrideShape<D>>>(mut self, shape: Sh) -> Self {
        self.shape = Some(ShapeSpec::Exact(shape.into()));
        self
    }

    /// Sets a shape in which one axis may be [`INFER`](crate::INFER): its length is the
    /// number of whole steps that fit between the offset and the end of the file (or of
    /// [`len`](Self::len)). `order` is [`Order::RowMajor`] (C) or [`Order::ColumnMajor`]
    /// (Fortran).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[0u8; 12]))?;
    /// let options = MapOptions::new().shape_inferred((INFER, 4), Order::RowMajor);
    /// let a = unsafe { Array2::<u8>::map_file_with(&path, &options)? };
    /// assert_eq!(a.dim(), (3, 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn shape_inferred<Sh: IntoDimension<Dim = D>>(mut self, dims: Sh, order: Order) -> Self {
        self.shape = Some(ShapeSpec::Inferred { dims: dims.into_dimension(), order });
        self
    }

    /// Maps only `bytes` bytes from the offset instead of the rest of the file:
    /// maparray's wish, "mmapping part of a file instead of the whole thing".
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[1u64, 2, 3, 4, 5]))?;
    /// let middle = MapOptions::new().offset(8).len(24);
    /// let a = unsafe { Array1::<u64>::map_file_with(&path, &middle)? };
    /// assert_eq!(a.to_vec(), [2, 3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn len(mut self, bytes: u64) -> Self {
        self.len = Some(bytes);
        self
    }

    settings_setters! {
        MapOptions,
        setup: r#"use ndmmap::prelude::*;

let dir = tempfile::tempdir()?;
let path = dir.path().join("a.bin");
std::fs::write(&path, [1u8, 2, 3, 4])?;"#,
        map: "Array1::<u8>::map_file_with(&path, &options)",
        map_mut: "Array1::<u8>::map_file_mut_with(&path, &options)",
        files {
            shape: ".shape(4)",
            create: "Array1::<u8>::create_file_with(&path, 4, &options)",
        }
    }
}

/// An advisory lock on a mapped file (`flock` on Unix, `LockFileEx` on Windows), through
/// std's [`File::lock`](std::fs::File::lock) and friends.
///
/// Many processes may hold a [`Shared`](Lock::Shared) lock on a file at once; an
/// [`Exclusive`](Lock::Exclusive) lock excludes every other lock. A guard holds its lock
/// until it is dropped (or [`unlock`](crate::MmapArrayMut::unlock)ed); a process that dies releases
/// its locks with it.
///
/// # Locks bind only cooperating processes
///
/// The locks are advisory: they stop only processes that ask for a lock too. A program that
/// opens the file without asking, `cp`, an editor, or `truncate`, is not stopped. That is
/// why mapping stays `unsafe` with a lock as without one: the lock is a tool for keeping
/// the mapping contract among your own processes, not a guarantee the operating system
/// gives. Locks are per open file: two guards in one process that map the same file hold
/// separate locks and exclude each other too.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, [0u8; 8])?;
/// let writer = MapOptions::new().lock(Lock::Exclusive);
/// // SAFETY: every program that opens this file takes a lock first.
/// let a = unsafe { Array1::<u8>::map_file_mut_with(&path, &writer)? };
/// let shared = MapOptions::new().lock(Lock::Shared);
/// let second = unsafe { Array1::<u8>::map_file_with(&path, &shared) };
/// assert!(matches!(second, Err(ndmmap::Error::Locked { lock: Lock::Shared, .. })));
/// drop(a);
/// let reader = unsafe { Array1::<u8>::map_file_with(&path, &shared)? };
/// assert_eq!(reader.len(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lock {
    /// A lock many processes may hold at once, e.g. readers; it excludes exclusive locks.
    Shared,
    /// A lock only one process may hold, e.g. a writer; it excludes every other lock.
    Exclusive,
}

impl Lock {
    /// The lock's kind in words, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lock::Shared => "shared",
            Lock::Exclusive => "exclusive",
        }
    }
}

/// What taking a lock does when another process holds a conflicting one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// Fail with [`Error::Locked`](crate::Error::Locked).
    Fail,
    /// Wait until the conflicting lock is released.
    Wait,
}
