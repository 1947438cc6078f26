//! Memory-map files as [ndarray](https://docs.rs/ndarray) arrays, so that every ndarray
//! operation (slicing, [`Zip`](ndarray::Zip), `azip!`, `+=`, reductions, rayon's
//! `par_azip!`) runs on file-backed data without copying it and without loading the file
//! into memory. Arrays may be larger than RAM; only the pages touched are read, and only
//! the pages changed are written back.
//!
//! # Entry points
//!
//! - [`MapFile`], implemented for [`Array`](ndarray::Array): `Array2::<f64>::map_file(path)`
//!   (read-only), [`map_file_mut`](MapFile::map_file_mut) (read-write, shared),
//!   [`map_file_copy`](MapFile::map_file_copy) (copy-on-write) and
//!   [`create_file`](MapFile::create_file) (a new file), each with a `_with` variant taking
//!   [`MapOptions`]: byte offset, shape with C/Fortran order or custom strides, one
//!   [`INFER`]red axis, a length to map part of a file, growth of a short file, read-ahead.
//!   [`map_open_file`](MapFile::map_open_file) maps a [`File`](std::fs::File) already open.
//! - The guards they return, [`MmapArray`] and [`MmapArrayMut`], own the map and
//!   dereference to ndarray's [`ArrayRef`](ndarray::ArrayRef); they go where ndarray's
//!   arrays go (`Zip::from(&mut c).and(&a)`, `azip!`, `par_azip!`, `for x in &a`,
//!   `&a + &b`, `c += &a`, `x.dot(&a)`, `{}` and `{:?}`); they also lend
//!   [`view`](MmapArray::view)s, [`flush`](MmapArrayMut::flush) (whole, async, a byte
//!   range, exactly the pages of a sub-view or of a slice, [`flush_slice`](MmapArrayMut::flush_slice))
//!   and [`close`](MmapArrayMut::close).
//! - [`npy`]: `.npy` files, byte-identical with NumPy's: [`MapNpy`]
//!   (`Array2::<f32>::map_npy(path)`, `map_npy_mut`, `map_npy_copy`, `create_npy`: NumPy's
//!   `np.load(mmap_mode=...)` and `open_memmap`), [`SaveNpyExt::save_npy`] for any array,
//!   [`npy::inspect`] for the header alone and [`npy::read_npy`] for a converting read;
//!   [`npy::map_bool`] for NumPy's masks, [`npy::map_any`] for a dtype known only from
//!   the file, [`ViewNpyBytesExt`] for `.npy` bytes held in memory.
//! - [`npz`] (feature `npz`, on by default): `.npz` archives, which NumPy cannot map.
//!   [`NpzArchive`](npz::NpzArchive) lists an archive's members and maps its stored
//!   members in place (read-only, copy-on-write, read-write) or reads any member;
//!   [`npz::save_npz`], [`npz::save_npz_compressed`] and the streaming
//!   [`NpzWriter`](npz::NpzWriter) write archives whose every stored member can be mapped.
//!   [`NpzArchive::load`](npz::NpzArchive::load) takes any member in one call, mapped where
//!   it can be and read where not; [`npz::realign_npz`] rewrites NumPy's archives so that
//!   every member maps.
//! - [`safetensors`] (feature `safetensors`, on by default): `.safetensors` files, the
//!   tensor format of Hugging Face's models. [`SafeTensorsFile`](safetensors::SafeTensorsFile)
//!   lists a file's tensors and metadata from its header, maps each tensor in place as a
//!   typed, checked array (`F16`/`BF16` with the `half` feature, `BOOL` checked) or reads
//!   it; [`safetensors::save_safetensors`] and
//!   [`SafeTensorsWriter`](safetensors::SafeTensorsWriter) write files whose every tensor
//!   can be mapped.
//! - Growing in place: [`append`](MmapArrayMut::append), [`push`](MmapArrayMut::push),
//!   [`resize_outer`](MmapArrayMut::resize_outer) and [`reserve`](MmapArrayMut::reserve) on
//!   read-write maps of raw and `.npy` files, with amortized, reserved capacity.
//! - [`ViewBytesExt`] and [`ViewBytesMutExt`]: safe views of any `&[u8]`/`&mut [u8]`, for
//!   buffers mapped by other crates or held in memory.
//! - Sharing between processes: [`atomic_view`](MmapArrayMut::atomic_view) (and
//!   [`AtomicViewExt`]) for atomic counters and compare-and-swap on a shared map, with the
//!   cross-process memory model in [`AtomicElement`];
//!   [`MmapArrayMut::anonymous`] for shared memory inherited across `fork`; advisory
//!   [`Lock`]s held by a guard ([`MapOptions::lock`]).
//! - [`chunked`]: the out-of-core engine, a [`chunked::Zip`] that runs element-wise work
//!   and reductions over mapped arrays chunk by chunk (`for_each`, `par_for_each`, `fold`,
//!   `indexed`, `and_broadcast`; `sum_axis`, `mean_axis`, `var_axis`, `min_axis`, ...,
//!   or `sum_axis_into` and the like into a mapped output for a large result;
//!   `cumsum`, `cumprod`, `accumulate_axis` along any axis; `histogram`, `bincount`;
//!   `map_collect_npy` and `par_map_collect_npy` into a new file; `select` and
//!   `select_windows` to gather rows or windows, with every page a batch needs read ahead
//!   at once; `filter_npy` and `filter_rows_npy` to write the rows a mask or predicate keeps
//!   into a new file; [`chunked::concatenate`] and [`chunked::stack`] of arrays, maps and
//!   `.npy` files into a new file), reading ahead, writing behind and releasing finished
//!   chunks, with I/O sized to the memory available, so that arrays larger than RAM run at
//!   the speed of the disk in a small, fixed resident set; every walk reports its progress
//!   and stops on a [`chunked::CancelToken`].
//! - [`Error`]: one error type whose variants carry the path and the numbers involved.
//! - [`prelude`]: `use ndmmap::prelude::*;` brings the above and ndarray's own prelude.
//!
//! # Coming from NumPy
//!
//! | NumPy | ndmmap |
//! |---|---|
//! | `np.memmap(f, dtype, mode='r')` | `Array1::<f64>::map_file(f)` ([`MapFile::map_file`]) |
//! | `mode='r+'` | [`map_file_mut`](MapFile::map_file_mut) |
//! | `mode='c'` | [`map_file_copy`](MapFile::map_file_copy) |
//! | `mode='w+', shape=s` | [`create_file(f, s)`](MapFile::create_file): refuses an existing file unless [`overwrite(true)`](MapOptions::overwrite) |
//! | `offset=k` | [`MapOptions::offset`]`(k)` (a multiple of the element's alignment) |
//! | `shape=(r, c)` / `shape=(-1, c)` | [`MapOptions::shape`]`((r, c))` / [`shape_inferred`](MapOptions::shape_inferred)`((INFER, c), Order::RowMajor)` |
//! | `order='F'` | `.shape((r, c).f())`, or `Order::ColumnMajor` (NumPy's `tofile` always writes C order) |
//! | `r+` growing a short file | only with [`extend_file(true)`](MapOptions::extend_file) |
//! | `np.memmap(fileobj)` | [`map_open_file(&file, &options)`](MapFile::map_open_file) |
//! | `m.flush()` | [`flush`](MmapArrayMut::flush), [`flush_view`](MmapArrayMut::flush_view), [`flush_slice(s![..])`](MmapArrayMut::flush_slice), [`close`](MmapArrayMut::close) |
//! | `np.load(f, mmap_mode='r')`, `open_memmap` | [`MapNpy::map_npy`], [`MapNpy::create_npy`] |
//! | `np.load(f, mmap_mode='r')` of a `bool` mask | [`npy::map_bool`], or `Array1::<u8>::map_npy(f)` for the bytes |
//! | `np.load(f, mmap_mode='r')`, dtype unknown in advance | [`npy::map_any`] into [`npy::AnyNpy`] |
//! | `np.save(f, a)` | [`a.save_npy(f)`](SaveNpyExt::save_npy) |
//! | `np.frombuffer`-style view of `.npy` bytes | [`ArrayView2::<f64>::view_npy_bytes(&bytes)`](ViewNpyBytesExt::view_npy_bytes) |
//! | `np.savez(f, x=a, y=b)`, `np.savez_compressed` | `npz::save_npz(f, &[("x", &a), ("y", &b)])`, `npz::save_npz_compressed`, or `npz::NpzWriter` one member at a time |
//! | `np.load(f.npz)['x']` (always a read: `mmap_mode` is ignored for archives) | `npz::NpzArchive::open(f)?.load::<f64, Ix2>("x")` maps the member where it can and reads it where not; `.map("x")` only maps, `.read("x")` only reads; `npz::realign_npz(f)` makes every member of NumPy's archive mappable |
//! | `np.load(f.npz).files` | `npz::NpzArchive::open(f)?.members()` (with dtype, shape, order, compression, offset) |
//! | `safetensors.numpy.load_file(f)["w"]`, `safe_open(f, framework="numpy").get_tensor("w")` (both read the tensor) | `safetensors::SafeTensorsFile::open(f)?.map::<f32, Ix2>("w")` maps it in place; `.read("w")` reads it; `.tensors()`, `.metadata()` list the header |
//! | `safetensors.numpy.save_file({"w": a}, f, metadata={...})` | `safetensors::save_safetensors(f, &[("w", &a)], &[("k", "v")])`, or `safetensors::SafeTensorsWriter` one tensor at a time |
//! | structured arrays: `np.load(f, mmap_mode='r')` of `[('x', '<f4'), ('id', '<i8')]` | [`npy_record!`]`(struct P { x: f32, id: i64 })`, then `Array1::<P>::map_npy(f)`: fields checked one by one ([`npy::NpyRecord`]); NumPy's default packed dtypes as `npy_record!(#[repr(C, packed)] struct ...)`; `a['t'].copy()` as `field_values::<f64>("t")` |
//! | `a['x']` (a view), `a['x'] = 0` | [`a.field::<f32>("x")`](npy::RecordFieldsExt::field), [`field_mut`](npy::RecordFieldsExt::field_mut); a sub-array field `a['pos']` of shape `(n, 3)`: [`field_array::<f32>("pos")`](npy::RecordFieldsExt::field_array) |
//! | `m + 1`, `a + b`, `np.add(a, b, out=c)` | `&m + 1.0`, `&a + &b`, `Zip::from(&mut c).and(&a).and(&b).for_each(...)` |
//! | `print(m)`, `repr(m)` | `println!("{m}")`, `{m:?}` (ndarray's formatting; `Debug` adds path and mode) |
//!
//! The dtype is the Rust element type (`f64` for `'<f8'`), checked against `.npy` headers.
//!
//! # Example
//!
//! The 2002 `Numeric.add(a, b, c)` job: two arrays mapped from files, added into a third,
//! new, file.
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let (a_path, b_path, c_path) =
//!     (dir.path().join("a.bin"), dir.path().join("b.bin"), dir.path().join("c.bin"));
//! std::fs::write(&a_path, bytemuck::cast_slice(&[1.0f64, 2.0, 3.0]))?;
//! std::fs::write(&b_path, bytemuck::cast_slice(&[10.0f64, 20.0, 30.0]))?;
//!
//! let a = unsafe { Array1::<f64>::map_file(&a_path)? };
//! let b = unsafe { Array1::<f64>::map_file(&b_path)? };
//! let mut c = unsafe { Array1::<f64>::create_file(&c_path, a.len())? };
//! Zip::from(&mut c).and(&a).and(&b).for_each(|c, &a, &b| *c = a + b);
//! c.flush()?;
//! assert_eq!(*c, array![11.0, 22.0, 33.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Safety contract
//!
//! Mapping a file is `unsafe`, as in [memmap2](https://docs.rs/memmap2): while a guard
//! lives, nothing but that guard may modify the mapped bytes (no other map of the file,
//! ndmmap's or not, in this process or another, and no write to the file), except by
//! atomic operations through [atomic views](MmapArrayMut::atomic_view) on bytes that every
//! party touches only atomically; and nobody may truncate the file (including ndmmap's own
//! growable guards, which shorten files on `close`). Rust assumes that the memory behind a
//! `&[f64]` does not change; the kernel cannot promise it for a file others can write, and
//! a truncated file kills the process with `SIGBUS` on the next access. The full text is
//! on [`MapFile`](MapFile#safety-of-the-mapping-functions). Everything after mapping is safe: element types are bounded by
//! [bytemuck](https://docs.rs/bytemuck) (`AnyBitPattern` to read, `Pod` to write), and
//! views borrow from their guard, so the borrow checker rules out use after unmap.
//!
//! The examples in this documentation map files in fresh temporary folders that no other
//! process touches: that is the whole argument for their `unsafe` blocks, said here once.
//! Code of your own should say in a `// SAFETY:` comment why its files are not modified
//! or truncated while they are mapped.
//!
//! # Limitations
//!
//! - Elements are mapped in native byte order ([`npy::read_npy`] converts other orders
//!   into an owned array); the data must be aligned for the element type (the offset a
//!   multiple of its alignment).
//! - Structured `.npy` dtypes map onto [`npy_record!`] structs whose fields match the file's
//!   exactly (NumPy's padding spelled as `_` fields, packed dtypes as `#[repr(C, packed)]`
//!   structs); field titles, unnamed fields and fields of strings or objects are not
//!   supported. A field view is a view only where ndarray's strides (counted in elements)
//!   can express it: the records contiguous, their size a multiple of the field's (of its
//!   elements', for `field_array`), the field aligned; `field_values` copies any field.
//! - Only the outermost axis of a C- or Fortran-order array can grow.
//!
//! # Architecture
//!
//! For contributors: one module per concern, and imports point only down this list, so
//! that data flows one way (options, layout, map, guard, views) and the formats and the
//! engine sit on top. `.ci/check_layers.py`, run by CI, fails on an import that points up
//! this table or on a cycle between the files of a folder module.
//!
//! | module | its one job | may use |
//! |---|---|---|
//! | `options` | what the caller asks for: [`MapOptions`], [`Mode`], [`Advice`], [`Lock`] | nothing |
//! | `error` | the [`Error`] enum (and [`npy::HeaderError`]) | `options` |
//! | `layout` | shape, strides, offset and order to a checked byte span; memory order and its outer axis, address spans; arithmetic on address ranges and pages (`layout::ranges`): pure, no I/O, no `unsafe` | the above |
//! | `map` | the operating-system boundary, the only code that calls memmap2, rustix, libc or windows-sys and the only code that knows the platform (`map/os/`: one file per platform family behind one interface): map, remap, advise, release; reserve blocks, durable syncs, positional writes, write-back, page size, the memory available | the above |
//! | `bytes` | [`ViewBytesExt`]: byte buffers as views (safe) | `layout` and below |
//! | `fs` | files before any map: open, create all or nothing, replace atomically, advisory locks | `map` and below |
//! | `guard` | everything that touches a live map: the guards, their constructors, flushing, growth, locks held, atomic views, the page hooks the engine asks for | all of the above |
//! | `raw`, `npy` | the formats: where the array lies in a file (options alone, or a header); growth reaches a `.npy` header through the guard's `ShapeHeader` trait, which `npy` implements | `guard` and below |
//! | `npz` | `.npz` archives (feature `npz`): the zip container around `.npy` members, whose headers `npy` parses; members map through `guard` like `.npy` files | `npy`, `guard` and below |
//! | `safetensors` | `.safetensors` files (feature `safetensors`): the JSON header parsed and checked; tensors map through `guard` like `.npy` files; the writer through `fs` | `guard` and below |
//! | `chunked` | the out-of-core engine: the builder, its operands, the scheduler that walks them in chunks, the reductions (their numeric kernels in `chunked::reduce::moments`, argmin/argmax in `chunked::reduce::arg`), the matrix products (`chunked::matmul`), the scans along an axis, the counts (histograms, bincount), gathers and filters, `map_collect` into new files, concatenation and stacking into new files | `npy` (the header of a `.npy` result, a `.npy` piece's header), `fs` (building the result's file), `guard` and below |
//!
//! `unsafe` code lives in `map` and `guard` (the mapping boundary, including the cast to
//! atomic views); the formats only declare the public `unsafe fn` constructors, each of
//! which forwards its caller's promise to the guard's in one `unsafe` block.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod bytes;
pub mod chunked;
mod error;
mod fs;
mod guard;
mod layout;
mod map;
pub mod npy;
#[cfg(feature = "npz")]
#[cfg_attr(docsrs, doc(cfg(feature = "npz")))]
pub mod npz;
mod options;
mod private;
mod raw;
#[cfg(feature = "safetensors")]
#[cfg_attr(docsrs, doc(cfg(feature = "safetensors")))]
pub mod safetensors;

pub use crate::bytes::{ViewBytesExt, ViewBytesMutExt};
pub use crate::error::{Error, Result};
pub use crate::guard::{AtomicElement, AtomicViewExt, MmapArray, MmapArrayMut};
pub use crate::layout::INFER;
pub use crate::npy::{MapNpy, SaveNpyExt, ViewNpyBytesExt, ViewNpyBytesMutExt};
pub use crate::options::{Advice, Lock, MapOptions, Mode};
pub use crate::raw::MapFile;

/// Everything a user of ndmmap needs, and ndarray's own prelude with it.
///
/// Its names are chosen to sit beside the other globs an ndarray user writes:
/// `use ndarray_npy::*;` (ndmmap's [`SaveNpyExt::save_npy`] beside ndarray-npy's
/// `WriteNpyExt::write_npy`), `use std::io::*;` and `use std::error::Error;`. For that
/// reason [`Error`] is not in the prelude (a glob `Error` would shadow the
/// `std::error::Error` of `Box<dyn Error>` for users who import it by glob): name it
/// `ndmmap::Error`.
///
/// ```compile_fail,E0425
/// use ndmmap::prelude::*;
///
/// fn open() -> Result<(), Error> { Ok(()) } // error: `Error` is not in the prelude
/// ```
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let data = [1u8, 2, 3, 4];
/// let a = ArrayView2::<u8>::view_bytes(&data, (2, 2))?;
/// let doubled = Zip::from(&a).map_collect(|&x| x * 2);
/// assert_eq!(doubled, array![[2, 4], [6, 8]]);
/// # Ok::<(), ndmmap::Error>(())
/// ```
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::{
        Advice, AtomicElement, AtomicViewExt, INFER, Lock, MapFile, MapNpy, MapOptions, MmapArray,
        MmapArrayMut, Mode, SaveNpyExt, ViewBytesExt, ViewBytesMutExt, ViewNpyBytesExt,
        ViewNpyBytesMutExt,
    };
    #[doc(no_inline)]
    pub use ndarray::prelude::*;
    #[doc(no_inline)]
    pub use ndarray::{Order, StrideShape, Zip};

    #[cfg(feature = "rayon")]
    #[doc(no_inline)]
    pub use ndarray::par_azip;
    #[cfg(feature = "rayon")]
    #[doc(no_inline)]
    pub use ndarray::parallel::prelude::*;
}

// The README's examples use every format, `.safetensors` (an optional feature) included.
#[cfg(all(doctest, feature = "npz", feature = "safetensors"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
