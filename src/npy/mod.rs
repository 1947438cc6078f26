//! `.npy` files: map, create, inspect, read and save, byte-identical with NumPy.
//!
//! - [`MapNpy`]: `Array2::<f32>::map_npy(path)` (read-only), `map_npy_mut`,
//!   `map_npy_copy` and `create_npy`, like NumPy's `np.load(path, mmap_mode=...)` and
//!   `open_memmap`, with [`NpyOptions`].
//! - [`SaveNpyExt::save_npy`]: any array, any layout, written atomically.
//! - [`inspect`]: the header alone; [`read_npy`]: an owned copy, converting byte order
//!   and checking `bool`s.
//! - [`map_bool`], [`map_bool_copy`]: NumPy's boolean masks (`'|b1'`) as `bool`s, after a
//!   check of every byte; `u8` maps them as bytes.
//! - [`ViewNpyBytesExt`], [`ViewNpyBytesMutExt`]: `.npy` bytes held in memory (or mapped
//!   by another crate) as views, like ndarray-npy's `view_npy`.
//! - [`map_any`]: a file whose dtype is read from its header, into [`AnyNpy`], one
//!   variant per element type (for viewers, converters, command lines).
//! - [`NpyElement`]: the element types with a `.npy` dtype.
//! - [`npy_record!`](crate::npy_record), [`NpyRecord`]: structured dtypes (record arrays)
//!   as `#[repr(C)]` structs, checked field by field; [`RecordFieldsExt::field`]: one
//!   field as a strided view, like NumPy's `a['x']`.
//!
//! Versions 1.0, 2.0 and 3.0 are read; files are written as `np.save` writes them
//! (version 1.0 unless the header needs more room), including NumPy's growth padding, so
//! that a file ndmmap writes and one `np.save` writes for the same array are equal byte for
//! byte.
//!
//! # Example
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("features.npy");
//! array![[1.0f32, 2.0], [3.0, 4.0]].save_npy(&path)?;
//! let x = unsafe { Array2::<f32>::map_npy(&path)? };
//! assert_eq!(x.sum(), 10.0);
//! let header = ndmmap::npy::inspect(&path)?;
//! assert_eq!((header.descr.as_str(), header.shape.as_slice()), ("<f4", &[2, 2][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod any;
mod boolean;
mod descr;
pub(crate) mod element;
pub(crate) mod header;
mod literal;
mod map;
pub(crate) mod read;
pub(crate) mod record;
mod save;
mod view;

pub use self::any::{AnyNpy, map_any};
pub use self::boolean::{map_bool, map_bool_copy};
pub use self::element::NpyElement;
pub use self::map::{MapNpy, NpyOptions};
pub(crate) use self::read::{NpyData, open_data};
pub use self::read::{NpyHeader, inspect, read_npy};
pub use self::record::{FieldType, NpyField, NpyRecord, RecordFieldsExt, RecordLayout};
pub use self::save::SaveNpyExt;
pub(crate) use self::save::header_for;
pub use self::view::{ViewNpyBytesExt, ViewNpyBytesMutExt};
pub use crate::error::HeaderError;
