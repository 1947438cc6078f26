//! NumPy's `np.load('x.npz')[name]` in one call: [`NpzArchive::load`] maps a member where it
//! can be mapped and reads it where it cannot, and [`NpzLoaded`] says which it did.
#![allow(unsafe_code)]

use std::ops::Deref;

use bytemuck::AnyBitPattern;
use ndarray::{Array, ArrayRef, Dimension};

use super::archive::{Compression, NpzArchive};
use crate::error::Result;
use crate::guard::MmapArray;
use crate::npy::NpyElement;

/// A member of a `.npz` archive as [`NpzArchive::load`] gives it: mapped in place, or read
/// into memory where it cannot be mapped, and which of the two, with the reason.
///
/// It dereferences to the array ([`ArrayRef`]), so it is used as an array either way.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::{NpzArchive, NpzLoaded, NotMapped};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npz");
/// ndmmap::npz::save_npz_compressed(&path, &[("x", &array![1.0f64, 2.0])])?;
/// let x = unsafe { NpzArchive::open(&path)?.load::<f64, Ix1>("x")? };
/// assert_eq!(x.sum(), 3.0);
/// assert!(matches!(x, NpzLoaded::Read { why: NotMapped::Compressed, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum NpzLoaded<A: 'static, D: Dimension> {
    /// The member is mapped in place: nothing of it is read until its pages are touched.
    Mapped(MmapArray<A, D>),
    /// The member was read into memory, for the reason given.
    Read {
        /// The member's array.
        array: Array<A, D>,
        /// Why it could not be mapped.
        why: NotMapped,
    },
}

/// Why [`NpzArchive::load`] read a member rather than map it.
///
/// # Example
///
/// ```
/// use ndmmap::npz::NotMapped;
///
/// let why = NotMapped::Misaligned { offset: 183, align: 8 };
/// assert_eq!(format!("{why:?}"), "Misaligned { offset: 183, align: 8 }");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotMapped {
    /// The member is deflate-compressed (`np.savez_compressed`).
    Compressed,
    /// The member's array data does not start at a multiple of the element type's
    /// alignment (as `np.savez` leaves it for names of some lengths):
    /// [`realign_npz`](super::realign_npz) rewrites the archive so that it does.
    Misaligned {
        /// Where the array data starts, in bytes from the start of the archive.
        offset: u64,
        /// The alignment the element type needs.
        align: usize,
    },
    /// The data is not in this machine's byte order: it was converted as it was read.
    ByteOrder,
}

impl<A: 'static, D: Dimension> NpzLoaded<A, D> {
    /// Whether the member is mapped in place (else it was read into memory).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1i32, 2])])?;
    /// let x = unsafe { ndmmap::npz::NpzArchive::open(&path)?.load::<i32, Ix1>("x")? };
    /// assert!(x.is_mapped());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self, NpzLoaded::Mapped(_))
    }

    /// Why the member was read rather than mapped; `None` if it is mapped.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1i32, 2])])?;
    /// let x = unsafe { ndmmap::npz::NpzArchive::open(&path)?.load::<i32, Ix1>("x")? };
    /// assert_eq!(x.not_mapped(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn not_mapped(&self) -> Option<NotMapped> {
        match self {
            NpzLoaded::Mapped(_) => None,
            NpzLoaded::Read { why, .. } => Some(*why),
        }
    }
}

impl<A: 'static, D: Dimension> Deref for NpzLoaded<A, D> {
    type Target = ArrayRef<A, D>;

    fn deref(&self) -> &ArrayRef<A, D> {
        match self {
            NpzLoaded::Mapped(mapped) => mapped,
            NpzLoaded::Read { array, .. } => array,
        }
    }
}

impl NpzArchive {
    /// The member `name` as an array, whatever its storage, as `np.load(path)[name]` gives
    /// it: mapped in place ([`map`](Self::map)) if it is stored, in this machine's byte
    /// order and its data aligned for `A`; read into memory ([`read`](Self::read)) if not.
    /// The result says which, and why ([`NpzLoaded`]).
    ///
    /// Archives written by ndmmap map every stored member; in NumPy's (`np.savez`) whether
    /// a member's data is aligned depends on the lengths of the names before it, so some
    /// are read: [`realign_npz`](super::realign_npz) rewrites such an archive once so that
    /// all of them map from then on.
    ///
    /// # Safety
    ///
    /// As [`map`](Self::map): while the result lives (if mapped), nothing else may modify
    /// the archive's mapped bytes, and nobody may truncate the archive.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map) and [`read`](Self::read): [`Error::Npz`](crate::Error::Npz)
    /// with [`NpzError::NotFound`](super::NpzError::NotFound) if there is no such member,
    /// [`Error::DtypeMismatch`](crate::Error::DtypeMismatch),
    /// [`Error::RankMismatch`](crate::Error::RankMismatch), open, map and read errors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npz::{NpzArchive, NpzWriter};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("run.npz");
    /// let mut writer = NpzWriter::create(&path)?;
    /// writer.add("weights", &Array2::<f32>::ones((2, 3)))?;
    /// writer.add_compressed("labels", &array![1i64, 0])?;
    /// writer.finish()?;
    ///
    /// let archive = NpzArchive::open(&path)?;
    /// let weights = unsafe { archive.load::<f32, Ix2>("weights")? };
    /// let labels = unsafe { archive.load::<i64, Ix1>("labels")? };
    /// assert!(weights.is_mapped() && !labels.is_mapped());
    /// assert_eq!(weights.sum() + labels.sum() as f32, 7.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn load<A, D>(&self, name: &str) -> Result<NpzLoaded<A, D>>
    where
        A: NpyElement + AnyBitPattern,
        D: Dimension,
    {
        let member = self.member(name)?;
        let align = align_of::<A>();
        let why = if member.compression == Compression::Deflated {
            Some(NotMapped::Compressed)
        } else if !member.native_byte_order {
            Some(NotMapped::ByteOrder)
        } else {
            let misaligned = |offset: &u64| !offset.is_multiple_of(align as u64);
            member
                .data_offset
                .filter(misaligned)
                .map(|offset| NotMapped::Misaligned { offset, align })
        };
        match why {
            // SAFETY: forwarded; the caller upholds `map`'s contract.
            None => unsafe { self.map::<A, D>(name) }.map(NpzLoaded::Mapped),
            Some(why) => Ok(NpzLoaded::Read { array: self.read::<A, D>(name)?, why }),
        }
    }
}
