//! Atomic views of writable arrays: [`AtomicElement`], [`AtomicViewExt`] and
//! [`MmapArrayMut::atomic_view`], for arrays shared between threads and processes.
#![allow(unsafe_code)]

use std::fmt;

use bytemuck::Pod;
use ndarray::{ArrayRef, ArrayView, ArrayViewMut, Dimension};

use crate::error::{Error, Result};
use crate::guard::MmapArrayMut;
use crate::private::Sealed;

mod seal {
    /// Implemented only by ndmmap, for the integer types with a lock-free atomic twin.
    pub trait Sealed {}
}

/// An integer element type with a lock-free atomic twin of the same size: `u8` has
/// [`AtomicU8`](std::sync::atomic::AtomicU8), `u64` has
/// [`AtomicU64`](std::sync::atomic::AtomicU64), and so on for `u8..u64`, `i8..i64`,
/// `usize` and `isize`.
///
/// This trait is sealed: it is implemented for those integer types only, and only on
/// targets where the atomic type exists (`cfg(target_has_atomic = "...")`, which Rust
/// grants only where the operations are lock-free).
///
/// # Atomics between processes
///
/// Lock-free atomic operations act on the memory itself, not on anything private to the
/// process (they are *address-free*), so they work between processes that map the same
/// file (or share an [anonymous map](MmapArrayMut::anonymous) across `fork`) exactly as they
/// work between threads:
///
/// - [`Ordering::Relaxed`](std::sync::atomic::Ordering::Relaxed) gives atomicity: no
///   increment by [`fetch_add`](std::sync::atomic::AtomicU64::fetch_add) is lost, and a
///   [`compare_exchange`](std::sync::atomic::AtomicU64::compare_exchange) succeeds for exactly
///   one contender.
/// - `Release` stores (or `AcqRel` read-modify-writes) paired with `Acquire` loads give
///   ordering: what one process wrote through its map before a `Release` store is visible to
///   another process after an `Acquire` load that reads the stored value. This covers plain
///   writes to other parts of the shared file as well, the usual publish pattern.
///
/// No flush is needed for any of this: processes that map the same file share the same
/// pages of the kernel's page cache. Flushing is about durability on disk, not visibility.
///
/// Rust offers no atomic types that are not lock-free, and ndmmap offers no atomic views of
/// floats or structs: a lock-based emulation would keep its lock in one process's memory
/// and give nothing across processes.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use ndmmap::prelude::*;
///
/// fn bump<A: AtomicElement<Atomic = AtomicU32>>(view: ArrayViewMut1<A>) -> ndmmap::Result<u32> {
///     let atomic = view.into_atomic()?;
///     Ok(atomic[0].fetch_add(1, Ordering::Relaxed) + 1)
/// }
///
/// let mut data = [41u32, 0];
/// assert_eq!(bump(ArrayViewMut1::from(&mut data[..]))?, 42);
/// assert_eq!(data, [42, 0]);
/// # Ok::<(), ndmmap::Error>(())
/// ```
pub trait AtomicElement: Pod + seal::Sealed {
    /// The atomic type with the same size and in-memory representation.
    type Atomic: Send + Sync + fmt::Debug + 'static;
}

macro_rules! atomic_elements {
    ($($width:literal: $($int:ty => $atomic:ident),+;)+) => {$($(
        #[cfg(target_has_atomic = $width)]
        impl seal::Sealed for $int {}
        #[cfg(target_has_atomic = $width)]
        impl AtomicElement for $int {
            type Atomic = std::sync::atomic::$atomic;
        }
    )+)+};
}

atomic_elements! {
    "8": u8 => AtomicU8, i8 => AtomicI8;
    "16": u16 => AtomicU16, i16 => AtomicI16;
    "32": u32 => AtomicU32, i32 => AtomicI32;
    "64": u64 => AtomicU64, i64 => AtomicI64;
    "ptr": usize => AtomicUsize, isize => AtomicIsize;
}

/// Turns a writable view into an atomic view of the same elements, consuming it.
///
/// For views of any `&mut [u8]`-backed memory, e.g. from
/// [`ViewBytesMutExt`](crate::ViewBytesMutExt) over a map made by another crate. Guards
/// have [`MmapArrayMut::atomic_view`].
///
/// This trait is sealed: it is implemented for [`ArrayViewMut`] only.
pub trait AtomicViewExt<'a, A: AtomicElement, D: Dimension>: Sealed {
    /// An [`ArrayView`] of the atomic twins of the elements, with the same shape and
    /// strides, borrowing the same memory for the same lifetime `'a`. The view is shared:
    /// many threads may use it (and its clones) at once. See
    /// [`AtomicElement`](AtomicElement#atomics-between-processes) for what the atomics
    /// guarantee between processes.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] (with the address as `offset`) if the elements are not aligned
    /// for the atomic type, which can need more alignment than the integer: `AtomicU64` is
    /// always 8-byte aligned, while `u64` is only 4-byte aligned on 32-bit x86.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// use ndmmap::prelude::*;
    ///
    /// let mut data = [0u64; 6];
    /// let bytes = bytemuck::cast_slice_mut(&mut data);
    /// let counts = ArrayViewMut2::<u64>::view_bytes_mut(bytes, (2, 3))?.into_atomic()?;
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| counts.iter().for_each(|c| _ = c.fetch_add(1, Ordering::Relaxed)));
    ///     }
    /// });
    /// assert_eq!(data, [4; 6]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    fn into_atomic(self) -> Result<ArrayView<'a, A::Atomic, D>>;
}

impl<'a, A: AtomicElement, D: Dimension> AtomicViewExt<'a, A, D> for ArrayViewMut<'a, A, D> {
    fn into_atomic(self) -> Result<ArrayView<'a, A::Atomic, D>> {
        if misaligned(&self) {
            let addr = self.as_ptr() as u64;
            return Err(Error::Misaligned { path: None, offset: addr, align: atomic_align::<A>() });
        }
        Ok(cast(self))
    }
}

impl<A: AtomicElement, D: Dimension> MmapArrayMut<A, D> {
    /// An [`ArrayView`] of the array's elements as their atomic twins
    /// (`ArrayView<AtomicU64, D>` for `u64`), of the same shape, for counters,
    /// compare-and-swap claims and flags shared between threads and processes.
    ///
    /// It borrows the guard uniquely, so no plain (non-atomic) access through this guard can
    /// happen while it lives; the view itself is shared and may be cloned and used from many
    /// threads at once. Other processes that map the same file read-write (with
    /// [`map_file_mut`](crate::MapFile::map_file_mut)) see every operation at once, without a
    /// flush (they share the kernel's page cache); for that to be sound they, too, must
    /// touch these bytes only atomically while anyone writes them: that is part of the
    /// mapping contract. See [`AtomicElement`](AtomicElement#atomics-between-processes) for
    /// what `Relaxed` and `Acquire`/`Release` give between processes.
    ///
    /// A copy-on-write map also has an atomic view, but its writes stay in this process.
    ///
    /// # Errors
    ///
    /// [`Error::Misaligned`] if the data's offset in the file is not a multiple of the atomic
    /// type's alignment, which can be larger than the integer's: `AtomicU64` needs 8 bytes
    /// where `u64` needs only 4 on 32-bit x86.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("hist.bin");
    /// // SAFETY: every process that maps this file touches it only through atomic views.
    /// let mut counts = unsafe { Array1::<u64>::create_file(&path, 8)? };
    /// let atomic = counts.atomic_view()?;
    /// atomic[3].fetch_add(1, Relaxed);
    /// assert_eq!(atomic[5].compare_exchange(0, 7, AcqRel, Acquire), Ok(0));
    /// assert_eq!(atomic[5].compare_exchange(0, 9, AcqRel, Acquire), Err(7));
    /// assert_eq!(counts.to_vec(), [0, 0, 0, 1, 0, 7, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn atomic_view(&mut self) -> Result<ArrayView<'_, A::Atomic, D>> {
        if misaligned(self) {
            return Err(Error::Misaligned {
                path: Some(self.path().to_path_buf()),
                offset: self.offset(),
                align: atomic_align::<A>(),
            });
        }
        Ok(cast(self.view_mut()))
    }
}

fn atomic_align<A: AtomicElement>() -> usize {
    align_of::<A::Atomic>()
}

/// Whether a non-empty view's elements are misaligned for `A::Atomic`.
///
/// Every element lies a whole number of elements away from the first, and an atomic
/// integer's size is a multiple of its alignment, so checking the first element suffices.
fn misaligned<A: AtomicElement, D: Dimension>(view: &ArrayRef<A, D>) -> bool {
    !view.is_empty() && !view.as_ptr().cast::<A::Atomic>().is_aligned()
}

/// Casts a view whose elements are aligned for `A::Atomic` (checked by the caller with
/// [`misaligned`]; an empty view needs no check).
fn cast<A: AtomicElement, D: Dimension>(
    mut view: ArrayViewMut<'_, A, D>,
) -> ArrayView<'_, A::Atomic, D> {
    const {
        assert!(size_of::<A>() == size_of::<A::Atomic>());
        assert!(size_of::<A::Atomic>() % align_of::<A::Atomic>() == 0);
    }
    if view.is_empty() {
        // An empty view's pointer may dangle with only the integer's alignment, so build
        // the atomic view over an empty slice instead.
        return ArrayView::from_shape(view.raw_dim(), &[]).unwrap_or_else(|_| unreachable!());
    }
    debug_assert!(!misaligned(&view));
    let raw = view.raw_view_mut().cast::<A::Atomic>();
    // SAFETY: `A::Atomic` has the same size as `A` (asserted above) and the same bit
    // validity (every integer value is a valid atomic), and the caller checked that the
    // elements are aligned for it, so `raw` points at valid `A::Atomic`s for the shape and
    // strides `view` had. `view` was a unique borrow of these elements for `'a` and is
    // consumed here, so for `'a` nothing in this process reads or writes them except
    // through the returned shared references; atomics allow mutation through `&` (they are
    // `UnsafeCell`s). Other processes mapping the same pages act on the same memory, which
    // is sound for lock-free atomics (address-free) when they, too, access the bytes only
    // atomically: the caller's mapping contract.
    unsafe { raw.deref_into_view() }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use ndarray::{ArrayViewMut, Axis, s};

    use super::*;
    use crate::ViewBytesMutExt;

    /// The cast on in-memory bytes, from several threads and through a strided,
    /// reversed view: runs under Miri, which checks the unsafe cast's aliasing and
    /// alignment claims.
    #[test]
    fn atomic_views_of_memory_count_from_threads() {
        let mut data = [0u64; 12];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut data);
        let view = ArrayViewMut::<u64, ndarray::Ix2>::view_bytes_mut(bytes, (3, 4)).unwrap();
        let mut view = view;
        view.invert_axis(Axis(0));
        let atomic = view.slice_move(s![.., ..;2]).into_atomic().unwrap();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let atomic = atomic.view();
                scope.spawn(move || {
                    for cell in &atomic {
                        cell.fetch_add(1, Relaxed);
                    }
                });
            }
        });
        assert!(atomic.iter().all(|c| c.load(Relaxed) == 3));
        assert_eq!(data, [3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0]);
    }

    #[test]
    fn empty_and_misaligned_views() {
        let mut data = [0u32; 3];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut data);
        let empty = ArrayViewMut::<u32, ndarray::Ix1>::view_bytes_mut(&mut bytes[..0], 0).unwrap();
        assert_eq!(empty.into_atomic().unwrap().len(), 0);
        // Misaligned for `u32` too, so the byte view itself refuses; the check that matters
        // for atomics (AtomicU64 on 32-bit x86) cannot be reached on this target.
        let err =
            ArrayViewMut::<u32, ndarray::Ix1>::view_bytes_mut(&mut bytes[1..9], 2).unwrap_err();
        assert!(matches!(err, Error::Misaligned { align: 4, .. }));
    }
}
