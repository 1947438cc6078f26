//! `.safetensors` files (the tensor format of Hugging Face's models and of most of the
//! Rust and Python machine-learning world): every tensor mapped in place as a typed,
//! checked ndarray view, read into memory, or written with every tensor aligned. Behind
//! the `safetensors` feature (on by default).
//!
//! - [`SafeTensorsFile`]: [`open`](SafeTensorsFile::open) a file, reading its header only,
//!   checked against the format's rules; list its [`tensors`](SafeTensorsFile::tensors)
//!   ([`TensorInfo`]: name, [`Dtype`], shape, byte range) and its
//!   [`metadata`](SafeTensorsFile::metadata); [`map`](SafeTensorsFile::map) a tensor as
//!   an [`MmapArray`](crate::MmapArray) of its element type ([`SafeTensorsElement`]) and
//!   rank, [`map_bool`](SafeTensorsFile::map_bool) a `BOOL` one, or
//!   [`read`](SafeTensorsFile::read) any tensor into an owned array.
//! - [`save_safetensors`] and [`SafeTensorsWriter`]: arrays (and mapped arrays) written as
//!   a file that Python's `safetensors` and the `safetensors` crate read, atomically, its
//!   data buffer aligned to [`SAFETENSORS_ALIGN`] bytes so that every tensor can be mapped.
//!
//! The format is an 8-byte little-endian length `N`, `N` bytes of JSON
//! (`{"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}, ...,
//! "__metadata__": {"k": "v"}}`), then the tensors' bytes, little-endian and in C order.
//! It was designed to be mapped, and Python's `safetensors.numpy` still copies every
//! tensor into NumPy, while the `safetensors` crate lends byte slices: here each tensor is
//! an ndarray view of the mapped file, its dtype, rank and alignment checked. Files whose
//! header length is not a multiple of the element alignment (some writers do not pad it)
//! have tensors that cannot be mapped: they are an error naming the remedy
//! ([`SafetensorsError::Misaligned`]): read them, or re-save the file with ndmmap.
//!
//! `F16` and `BF16` tensors are `half::f16` and `half::bf16` with the crate's `half`
//! feature. The 8-bit and sub-byte floats (`F8_E4M3`, `F4`, ...) are listed but have no
//! element type.
//!
//! # Example
//!
//! Load a model's weights as ndarray views in microseconds, without reading the file:
//!
//! ```
//! use ndmmap::prelude::*;
//! use ndmmap::safetensors::{SafeTensorsFile, save_safetensors};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.safetensors");
//! let (w, b) = (Array2::<f32>::eye(3), array![1.0f32, 2.0, 3.0]);
//! save_safetensors(&path, &[("layer.weight", &w), ("layer.bias", &b)], &[("format", "np")])?;
//!
//! let model = SafeTensorsFile::open(&path)?;
//! for t in model.tensors() {
//!     println!("{}: {} {:?}", t.name, t.dtype, t.shape);
//! }
//! // SAFETY: nothing else writes or truncates the file while the maps live.
//! let weight = unsafe { model.map::<f32, Ix2>("layer.weight")? };
//! let bias = unsafe { model.map::<f32, Ix1>("layer.bias")? };
//! let y = weight.dot(&array![1.0f32, 1.0, 1.0]) + &*bias;
//! assert_eq!(y, array![2.0f32, 3.0, 4.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dtype;
mod file;
mod header;
mod map;
mod write;

pub use self::dtype::{Dtype, SafeTensorsElement};
pub use self::file::SafeTensorsFile;
pub use self::header::TensorInfo;
pub use self::write::{SAFETENSORS_ALIGN, SafeTensorsArray, SafeTensorsWriter, save_safetensors};
pub use crate::error::SafetensorsError;
