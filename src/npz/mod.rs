//! `.npz` archives (what `np.savez` and `np.savez_compressed` write): stored members
//! mapped in place, compressed ones read, and archives written with every stored member
//! aligned so that it can be mapped. Behind the `npz` feature (on by default).
//!
//! - [`NpzArchive`]: [`open`](NpzArchive::open) an archive and list its
//!   [`members`](NpzArchive::members) (name, dtype, shape, order, stored or compressed,
//!   offset); [`map`](NpzArchive::map), [`map_copy`](NpzArchive::map_copy) and
//!   [`map_mut`](NpzArchive::map_mut) a stored member, with the checks of
//!   [`MapNpy`](crate::MapNpy); [`read`](NpzArchive::read) any member into an owned array.
//! - [`save_npz`] and [`save_npz_compressed`]: arrays in memory, written at once.
//! - [`NpzWriter`]: one member at a time, streamed, for arrays that do not fit in memory
//!   together (or a mapped member larger than RAM).
//!
//! NumPy cannot map `.npz` members: `np.load(path, mmap_mode='r')` ignores the mode for
//! archives and reads every member it is asked for (numpy#5976). A stored member of an
//! archive is a whole `.npy` file inside the zip file, so ndmmap maps its data where it
//! lies, provided the data is aligned for the element type. ndmmap's writer pads the
//! local headers (as Android's zipalign does) so that every stored member's data starts at
//! a multiple of [`NPZ_ALIGN`] bytes; Python's `zipfile` (behind `np.savez`) does not, so
//! in NumPy's archives only some members can be mapped. The others are an error naming the
//! remedy ([`NpzError::Misaligned`]): read them, or re-save the archive with ndmmap.
//!
//! - [`NpzArchive::load`]: NumPy's `np.load(path)[name]` in one call, mapped where the
//!   member can be mapped and read where not; the [`NpzLoaded`] it returns derefs to the
//!   array and says which it did ([`NotMapped`]).
//! - [`realign_npz`]: rewrites an archive NumPy wrote (atomically) so that every member is
//!   stored and aligned, and maps from then on.
//!
//! # Example
//!
//! ```
//! use ndmmap::prelude::*;
//! use ndmmap::npz::{NpzArchive, save_npz};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.npz");
//! save_npz(&path, &[("weights", &Array2::<f32>::ones((3, 4))), ("bias", &Array1::from_elem(3, 0.5f32))])?;
//!
//! let archive = NpzArchive::open(&path)?;
//! let weights = unsafe { archive.map::<f32, Ix2>("weights")? };
//! let bias = unsafe { archive.map::<f32, Ix1>("bias")? };
//! let out = weights.dot(&array![1.0f32, 1.0, 1.0, 1.0]) + &*bias;
//! assert_eq!(out, array![4.5f32, 4.5, 4.5]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod load;
mod map;
mod realign;
mod write;

pub use self::archive::{Compression, NpzArchive, NpzMember, NpzOptions};
pub use self::load::{NotMapped, NpzLoaded};
pub use self::map::NpzMemberMut;
pub use self::realign::realign_npz;
pub use self::write::{NPZ_ALIGN, NpzArray, NpzWriter, save_npz, save_npz_compressed};
pub use crate::error::NpzError;
