//! The out-of-core engine: [`Zip`] runs element-wise work over mapped arrays one chunk
//! at a time, so that arrays larger than RAM are processed at the speed of the disk with
//! a small, fixed resident set.
//!
//! A plain [`ndarray::Zip`] over mapped arrays works, but on arrays larger than RAM every
//! page it touches stays in the process's resident set, the kernel reads ahead only as far
//! as its own heuristics go, and the written pages pile up dirty until the final flush.
//! This module's [`Zip`] has the same shape as ndarray's (`from`, `and`, `for_each`,
//! `par_for_each`, `fold`, `indexed`) and walks the arrays in slabs along their outermost memory axis
//! (axis 0 for C order, the last axis for Fortran order). Around each chunk it
//!
//! - asks the kernel to read the *next* chunks of every mapped input ahead
//!   (`MADV_WILLNEED`, after `MADV_SEQUENTIAL` on the input's map), on a helper thread;
//!   pages not yet in the page cache, or all of them when the mapped arrays are larger
//!   than the memory available, it reads into the page cache itself instead, through a
//!   short-lived huge-page map of its own (see [Memory and I/O](self#memory-and-io));
//! - starts writing back the finished chunk of every output on a second helper thread
//!   (`sync_file_range` on Linux, a range flush elsewhere), so that write-back runs behind
//!   the computation and the computation never waits to queue I/O;
//! - drops the finished chunk's pages from the process's resident set (`MADV_DONTNEED`,
//!   which for shared maps loses nothing), so that peak RSS stays near a few chunks
//!   whatever the size of the arrays;
//! - a few chunks later, once a finished output chunk is on disk, drops it from the page
//!   cache too (`POSIX_FADV_DONTNEED`, see [`Zip::evict_after_write`]), so that the output's
//!   page cache stays bounded and new chunks reuse its memory;
//! - reports progress, in bytes, to an optional callback ([`Zip::progress`], or a progress
//!   bar with feature `progress-bar`), and stops once a [`CancelToken`] given to it
//!   ([`Zip::cancel_on`]) is cancelled, with [`Error::Cancelled`] saying which part of the
//!   outputs is done;
//!
//! and it flushes every output before returning, so that write errors (a full disk, an I/O
//! error) come back as an [`Error`] instead of being lost.
//!
//! Shapes are checked before anything is read or written ([`Error::ShapeMismatch`]).
//!
//! # Mixed layouts
//!
//! Mapped operands in different memory orders (a C-order array with a Fortran-order one,
//! or a transposed view) are walked together: the chunks are slabs along the first mapped
//! operand's outermost memory axis, and each slab of an operand laid out otherwise (one
//! that *crosses* the cut) is one run per slab of its own. Chunks take the rows that fit
//! the chunk size, but at least enough that each such run spans a page, so each page is
//! read or written in at most two chunks. The hints follow those runs: each run is read
//! ahead (outputs that cross are faulted in writable ahead too), released, written back
//! and evicted as a chunk is, and the kernel's own read-ahead is turned off on the crossing
//! maps (`MADV_RANDOM`), as it would read megabytes past each of the many runs at once. An
//! operand with more than 65536 runs per chunk (a chunk of 256 MiB of it or more) gets no
//! hints. Converting a C-order `.npy` into a Fortran-order one is one call:
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let (c_path, f_path) = (dir.path().join("c.npy"), dir.path().join("f.npy"));
//! Array2::from_shape_fn((3000, 7), |(i, j)| (i * 7 + j) as f32).save_npy(&c_path)?;
//! let c = unsafe { Array2::<f32>::map_npy(&c_path)? };
//! let mut f = unsafe { Array2::<f32>::create_npy(&f_path, (3000, 7).f())? };
//! ndmmap::chunked::Zip::from(&mut f).and(&c).for_each(|f, &c| *f = c)?;
//! assert!(ndmmap::npy::inspect(&f_path)?.fortran_order);
//! assert_eq!(*f, *c);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The memory a chunk needs then grows with the other axes: at least a page times their
//! product (4 MiB per operand for 1024 columns).
//!
//! # Example
//!
//! The 2002 `Numeric.add(a, b, c)` job, in bounded memory, on every core with the `rayon`
//! feature (`for_each` without it):
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let (a_path, b_path, c_path) =
//!     (dir.path().join("a.bin"), dir.path().join("b.bin"), dir.path().join("c.bin"));
//! let n: u64 = 100_000;
//! let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
//! std::fs::write(&a_path, bytemuck::cast_slice(&values))?;
//! std::fs::write(&b_path, bytemuck::cast_slice(&values))?;
//!
//! let a = unsafe { Array2::<f64>::map_file_with(&a_path, &MapOptions::new().shape((1000, 100)))? };
//! let b = unsafe { Array2::<f64>::map_file_with(&b_path, &MapOptions::new().shape((1000, 100)))? };
//! let mut c = unsafe { Array2::<f64>::create_file(&c_path, a.raw_dim())? };
//!
//! let mut reports = 0;
//! ndmmap::chunked::Zip::from(&mut c)
//!     .and(&a)
//!     .and(&b)
//!     .chunk_bytes(64 << 10) // 64 KiB chunks, to show several on a small array
//!     .progress(|done, total| { reports += 1; assert!(done <= total) })
//!     .for_each(|c, &a, &b| *c = a + b)?; // flushed when it returns
//! assert_eq!(c[[999, 99]], 2.0 * 99_999.0);
//! assert!(reports > 1);
//!
//! // A reduction over every element, in bounded memory.
//! let total = ndmmap::chunked::Zip::from(&c).fold(0.0, |acc, &c| acc + c)?;
//! assert_eq!(total, 2.0 * (n * (n - 1) / 2) as f64);
//! // The same, a whole chunk at a time: each call gets a chunk as an ndarray view.
//! let total = ndmmap::chunked::Zip::from(&c).fold_chunks(0.0, |acc, chunk| acc + chunk.sum())?;
//! assert_eq!(total, 2.0 * (n * (n - 1) / 2) as f64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Memory and I/O
//!
//! The engine sizes its I/O to the memory the process may use: the smaller of the room left
//! in its memory cgroup and the machine's `MemAvailable`. The room is the cgroup's limit less
//! its anonymous memory: under cgroup v1, `hierarchical_memory_limit` (the smallest limit up
//! the tree) less `total_rss`, both from the cgroup's `memory.stat`; under v2, the smallest
//! `memory.max` up the tree less `anon` from `memory.stat`. A quarter of that holds
//! the chunks in flight (computed, read ahead, queued and being written back); chunks
//! are cut from 8 MiB down to 1 MiB until they fit, and two chunks are read ahead with over
//! 1 GiB free or when inputs are read from disk (below), one otherwise. No knob is needed; [`Zip::chunk_bytes`]
//! overrides the chunk size.
//!
//! Which input pages are in the page cache is asked once, as the walk begins (`mincore`;
//! 256 pages spread over a large input first, and page by page only if one of them is not
//! cached, since asking page by page takes time in proportion to the input). Those pages are neither read ahead nor
//! dropped: a walk over cached inputs leaves them cached. The others are read from disk, and inputs in memory order are read through the
//! kernel's fault path rather than with `MADV_WILLNEED`: the helper thread maps the next
//! chunk of the file itself, 2 MiB at a time, with `MADV_HUGEPAGE`, populates that map
//! (`MADV_POPULATE_READ`) and unmaps it. Where the file system and kernel make large
//! folios (ext4 and XFS on Linux 6.x, transparent huge pages not off), the page cache then
//! holds 2 MiB folios, read in requests of up to the device's `max_sectors_kb`;
//! `MADV_WILLNEED` reads single pages, in requests of at most 1 MiB on a virtio disk.
//! Chunks are then at most 2 MiB. On the `Numeric.add` job (2 x 512 MiB, cold) this is
//! clearly faster than `MADV_WILLNEED` and than a plain `Zip`.
//!
//! The input pages the walk read itself are then dropped from the page cache a few chunks
//! after use, so that a walk over cold inputs leaves the page cache as it found it, and
//! reuses the same few chunks of memory as it goes. Keeping them (where the mapped inputs
//! fit in three quarters of that memory, the rest being the engine's chunks in flight) is
//! one call, [`Zip::evict_after_read`]`(false)`: a second pass over them, in the same job
//! or the next, then reads memory instead of the disk. It is not the default because on
//! the machine the engine is measured on, a virtual machine that hands free memory back
//! to its host, the page cache growing into fresh memory cost more than the second read
//! saved: the cold `Numeric.add` job took two to three times as long, and standardizing
//! a cold 1 GiB matrix (two passes) longer too. The figures are in the repository's
//! `benches/README.md`. Linux's `mincore` reports every page of a file that the process
//! neither owns nor may write as cached: such inputs are read with `MADV_WILLNEED` and
//! never dropped.
//!
//! When the mapped arrays together are larger than that memory (the job is out of core),
//! the page cache is not asked: every input page is read this way, and dropped after use
//! (unless kept, and the inputs alone fit). Under 128 MiB and 1 GiB memory cgroups this halved the
//! time of the `Numeric.add` job (`benches/README.md`).
//!
//! The resident set holds a few chunks per mapped operand (the current one, and the
//! next ones being read ahead). Input pages are dropped from the page cache (when they
//! are) with `POSIX_FADV_DONTNEED` on the write-behind thread, when [`Zip::write_behind`],
//! [`Zip::release_after_use`] and [`Zip::evict_after_write`] are on (the defaults); the
//! page cache reuses their memory at once. Finished output pages are written back as the
//! computation goes and, by default, evicted once written (a few chunks stay in flight),
//! so that writing a large output neither crowds the inputs out of the cache nor waits at
//! the end for a pile of dirty pages. Only shared maps are released: a copy-on-write output keeps its changed
//! pages, which exist nowhere else.
//!
//! Plain ndarray views (`ArrayView`, `&Array`, `&mut Array`, ...) may be mixed with the
//! mapped guards; they are chunked the same way and get no kernel hints.
//!
//! # Reductions into an output
//!
//! [`Zip::sum_axis`] and the other reductions along an axis return an owned [`Array`](ndarray::Array);
//! their `_into` twins ([`sum_axis_into`](Zip::sum_axis_into),
//! [`mean_axis_into`](Zip::mean_axis_into), [`var_axis_into`](Zip::var_axis_into),
//! [`mean_var_axis_into`](Zip::mean_var_axis_into), [`std_axis_into`](Zip::std_axis_into),
//! [`min_axis_into`](Zip::min_axis_into), [`max_axis_into`](Zip::max_axis_into)) write
//! into an array the caller gives, as NumPy's `out=`. Use them with a mapped output when
//! the result is large: reducing a short axis of a long array (the 4 rows of a `(4, n)`
//! matrix) gives a result as long as the array. The engine then cuts the input along an
//! axis the result keeps, so that each chunk fills its own slab of the output, which is
//! written back and released like any output: memory stays a few chunks. A result smaller
//! than the thinnest such chunk is accumulated in place instead, chunks cut along the
//! reduced axis.
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let x = Array2::from_shape_fn((4, 100_000), |(i, j)| (i * j) as f64);
//! let mut sums = unsafe { Array1::<f64>::create_npy(dir.path().join("sums.npy"), 100_000)? };
//! ndmmap::chunked::Zip::from(&x).chunk_bytes(64 << 10).sum_axis_into(Axis(0), &mut sums)?;
//! assert_eq!(*sums, x.sum_axis(Axis(0)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Matrix products and where the extremes are
//!
//! [`Zip::dot`] and [`Zip::dot_into`] multiply a tall matrix `X` (mapped or in memory, any
//! memory order) by a small `W` in memory, NumPy's `x @ w`, a block of rows at a time
//! through ndarray's matrix product; `dot_into` writes into a mapped output, so that
//! neither `X` nor the product has to fit in memory. [`Zip::t_dot`] is `Xᵀ · Y` for two tall
//! matrices, in one pass over both. [`Zip::argmin_axis`], [`Zip::argmax_axis`],
//! [`Zip::argmin`] and [`Zip::argmax`] give NumPy's answers, ties and NaN included.
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let x_path = dir.path().join("x.npy");
//! Array2::from_shape_fn((20_000, 16), |(i, j)| ((i * (j + 1)) % 13) as f32).save_npy(&x_path)?;
//! let x = unsafe { Array2::<f32>::map_npy(&x_path)? };
//! let w = Array2::from_shape_fn((16, 4), |(i, j)| (i + j) as f32 / 8.0);
//!
//! // Scores into a new .npy, in bounded memory.
//! let mut scores = unsafe { Array2::<f32>::create_npy(dir.path().join("s.npy"), (20_000, 4))? };
//! ndmmap::chunked::Zip::from(&x).dot_into(&w, &mut scores)?;
//! assert_eq!(*scores, x.dot(&w));
//! // Which column scores best in each row, and the Gram matrix of x.
//! let best = ndmmap::chunked::Zip::from(&scores).argmax_axis(Axis(1))?;
//! assert_eq!(best.len(), 20_000);
//! let gram = ndmmap::chunked::Zip::from(&x).t_dot(&x)?;
//! assert_eq!(gram, x.t().dot(&*x));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Scans and counts
//!
//! Cumulative sums and products along any axis, and NumPy's `ufunc.accumulate` with any
//! step: [`Zip::cumsum`], [`Zip::cumprod`] and [`Zip::accumulate_axis`] (the closure of
//! ndarray's `accumulate_axis_inplace`) into a new array, their `_into` twins
//! ([`cumsum_into`](Zip::cumsum_into), [`cumprod_into`](Zip::cumprod_into),
//! [`accumulate_axis_into`](Zip::accumulate_axis_into)) into an output the caller gives (a
//! mapped `.npy` for a result larger than memory), and
//! [`accumulate_axis_inplace`](Zip::accumulate_axis_inplace) on a writable map. Where the
//! chunks are cut along the scanned axis, the carry (the last slab of each chunk) passes to
//! the next, so that any file is scanned in bounded memory, in order along each lane.
//!
//! Histograms with equal bins, as NumPy's `np.histogram(x, bins=n, range=(lo, hi))`
//! ([`Zip::histogram`], each value in NumPy's bin, the last bin closed, NaN and values
//! outside the range not counted), and counts of non-negative integers, as `np.bincount`
//! ([`Zip::bincount`], a negative value an [`Error::NegativeValue`] naming it and its
//! index); [`par_histogram`](Zip::par_histogram) and [`par_bincount`](Zip::par_bincount)
//! count on every core (the `rayon` feature), into per-thread counts merged at the end.
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let x_path = dir.path().join("x.npy");
//! Array1::from_shape_fn(100_000, |i| ((i * 7) % 100) as f64 / 10.0).save_npy(&x_path)?;
//! let x = unsafe { Array1::<f64>::map_npy(&x_path)? };
//!
//! // Running totals into a new .npy, 64 KiB at a time.
//! let mut totals = unsafe { Array1::<f64>::create_npy(dir.path().join("totals.npy"), 100_000)? };
//! ndmmap::chunked::Zip::from(&x).chunk_bytes(64 << 10).cumsum_into(Axis(0), &mut totals)?;
//! assert_eq!(totals[99_999], x.sum());
//!
//! // Ten bins over [0, 10]: the values 0.0, 0.1, ..., 9.9, a thousand times each.
//! let (counts, edges) = ndmmap::chunked::Zip::from(&x).histogram(10, (0.0, 10.0))?;
//! assert_eq!(counts, Array1::from_elem(10, 10_000));
//! assert_eq!(edges[3], 3.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Gathers and filters
//!
//! [`Zip::select`] gathers the slabs at any list of indices along an axis (ndarray's
//! `select`, NumPy's `np.take`), and [`Zip::select_windows`] the windows `x[s..s + len]`
//! along axis 0 at a list of starts (a batch of token sequences from a token file, as
//! nanoGPT draws them), into a new array; [`select_into`](Zip::select_into) and
//! [`select_windows_into`](Zip::select_windows_into) write into an output the caller gives,
//! a mapped one for a large selection. The walk goes over the output in chunks of whole
//! rows. Rows of a shared map of a file that lie in one run (C order) are copied with
//! positioned reads of the file, which take them from the page cache without mapping its
//! pages: no page faults, and no resident set (a cached gather from a 2 GiB token file runs
//! in 8 MiB, where a map's faults keep most of the file resident). Each row is first read
//! from the page cache alone (`RWF_NOWAIT` on Linux), so a cached gather asks the kernel
//! for nothing more. Once some row is not cached, every page that the chunk's missing rows
//! touch is asked for at once (`POSIX_FADV_WILLNEED`; `PrefetchVirtualMemory` on Windows):
//! a cold gather has all its random reads in flight together, at the disk's queue depth,
//! instead of one page fault after another, and from then on the next chunk's pages are
//! asked for before this one is copied. A selection larger than a chunk drops each chunk's
//! input pages from the resident set once copied.
//!
//! [`Zip::filter_npy`] writes the rows (along axis 0) that a boolean mask keeps into a new
//! `.npy` file, as NumPy's `np.save(path, x[mask])`, and [`Zip::filter_rows_npy`] those a
//! predicate on each row keeps; [`filter_raw`](Zip::filter_raw) and
//! [`filter_rows_raw`](Zip::filter_rows_raw) write raw files. One pass over the input, in
//! bounded memory however long a row: each chunk's kept rows are written at the end of the
//! file (long runs of rows straight from the input, others gathered a megabyte at a time),
//! which is built under a temporary name and put in place only when complete, so an error or a
//! panicking predicate leaves no file.
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tokens.bin");
//! let tokens: Vec<u16> = (0..100_000).map(|i| (i * 7 % 50_257) as u16).collect();
//! std::fs::write(&path, bytemuck::cast_slice(&tokens))?;
//! let data = unsafe { Array1::<u16>::map_file(&path)? };
//!
//! // A batch of 4 windows of 256 tokens: shape (4, 256).
//! let batch = ndmmap::chunked::Zip::from(&data).select_windows(&[17, 40_000, 99_000, 3], 256)?;
//! assert_eq!(batch[[1, 0]], tokens[40_000]);
//!
//! // The tokens below 100, into a new .npy file.
//! let mask: Vec<bool> = data.iter().map(|&t| t < 100).collect();
//! let kept = ndmmap::chunked::Zip::from(&data).filter_npy(dir.path().join("small.npy"), &mask)?;
//! assert_eq!(kept, tokens.iter().filter(|&&t| t < 100).count());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Concatenating and stacking into a new file
//!
//! [`concatenate`] and [`stack`] join arrays in memory, mapped arrays and `.npy` files
//! (see [`Piece`]) along an axis into a new `.npy` or raw file, as NumPy's
//! `np.save(path, np.concatenate(pieces, axis))` would write it, in bounded memory. Where
//! a piece lies in a file in the output's memory order (a `.npy` file, a guard's shared
//! map), its bytes are copied file to file, `copy_file_range` on Linux (a reflink on XFS
//! and btrfs; read and written where the kernel refuses, across file systems say); the
//! others go through the walk, a chunk at a time.
//!
//! ```
//! use ndmmap::chunked::Piece;
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let (a_path, out) = (dir.path().join("a.npy"), dir.path().join("ab.npy"));
//! Array2::from_shape_fn((1000, 4), |(i, j)| (4 * i + j) as f64).save_npy(&a_path)?;
//! let b = Array2::<f64>::zeros((500, 4).f()); // any memory order
//! let pieces = [Piece::npy(&a_path), Piece::from(&b)];
//! ndmmap::chunked::concatenate(Axis(0), pieces).write_npy(&out)?;
//! let ab = unsafe { Array2::<f64>::map_npy(&out)? };
//! assert_eq!(ab.dim(), (1500, 4));
//! assert_eq!(ab[[999, 3]], 3999.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Broadcasting
//!
//! An operand of a smaller shape that broadcasts to the Zip's (a row of column means
//! against a matrix) joins with [`and_broadcast`](Zip::and_broadcast), as in ndarray:
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let x_path = dir.path().join("x.npy");
//! Array2::from_shape_fn((5000, 4), |(i, j)| ((i * 7 + j) % 13) as f64).save_npy(&x_path)?;
//! let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
//!
//! // Two passes over the file: column statistics, then standardised columns into a new .npy.
//! let mean = ndmmap::chunked::Zip::from(&x).mean_axis(Axis(0))?.expect("rows");
//! let std = ndmmap::chunked::Zip::from(&x).std_axis(Axis(0), 0.0)?;
//! let z_path = dir.path().join("z.npy");
//! ndmmap::chunked::Zip::from(&x)
//!     .and_broadcast(&mean)
//!     .and_broadcast(&std)
//!     .map_collect_npy(&z_path, |&x, &m, &s| (x - m) / s)?;
//! let z = unsafe { Array2::<f64>::map_npy(&z_path)? };
//! let z_mean = z.mean_axis(Axis(0)).expect("rows");
//! assert!(z_mean.iter().all(|m| m.abs() < 1e-12));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod budget;
mod cancel;
mod collect;
mod concat;
mod count;
mod filter;
mod gather;
mod matmul;
mod operand;
mod progress;
mod reduce;
mod scan;
mod schedule;

use std::fmt;

use ndarray::iter::Indices;
use ndarray::{Dimension, NdProducer};

pub use self::cancel::CancelToken;
pub use self::concat::{Concat, Piece, concatenate, stack};
pub use self::count::{BincountElement, HistogramElement};
use self::operand::{ChunkView, Footprint, Hooks};
use self::progress::Callback;
use crate::error::{Error, Result};

/// The largest default chunk size in bytes of the widest operand, taken when memory is
/// plentiful; see [`Zip::chunk_bytes`].
pub const DEFAULT_CHUNK_BYTES: usize = 8 << 20;

/// An array a chunked [`Zip`] can run over: a guard (`&MmapArray`, `&MmapArrayMut` to read,
/// `&mut MmapArrayMut` to write) or a plain ndarray array (`ArrayView`, `ArrayViewMut`,
/// `&ArrayRef`, `&mut ArrayRef`, `&Array`, `&mut Array`).
///
/// Guards get the engine's kernel hints (read-ahead, write-behind, release); plain arrays
/// are only chunked.
///
/// This trait is sealed: it is implemented for the types above only.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("c.bin");
/// let mut c = unsafe { Array1::<i64>::create_file(&path, 5)? };
/// let a = array![1i64, 2, 3, 4, 5]; // in memory
/// ndmmap::chunked::Zip::from(&mut c).and(&a).for_each(|c, &a| *c = 10 * a)?;
/// assert_eq!(std::fs::read(&path)?, bytemuck::cast_slice::<i64, u8>(&[10i64, 20, 30, 40, 50]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Operand<'a>: operand::IntoChunks<'a> {}

impl<'a, T: operand::IntoChunks<'a>> Operand<'a> for T {}

/// The engine's settings, one per builder method: the chunk size, the kernel hints and the
/// cancellation token.
#[derive(Clone, Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one switch per builder method, as ndarray-style options"
)]
struct EngineSettings {
    /// The chunk size the caller set; `None`: sized to the memory available.
    chunk_bytes: Option<usize>,
    read_ahead: bool,
    write_behind: bool,
    release_after_use: bool,
    evict_after_write: bool,
    /// The axis to cut along, for operations that need whole slabs along it (gather,
    /// filter and matrix products take whole rows); `None`: the engine's choice.
    cut: Option<usize>,
    /// Whether to evict the input pages read from disk after use; `false`: keep them where
    /// they fit in memory.
    evict_after_read: bool,
    /// The token that stops the walk before its next chunk.
    cancel: Option<CancelToken>,
}

/// [`Error::Overflow`] unless an array of `shape` with elements of `A` can be made in
/// memory: as ndarray asks, the product of the lengths that are not zero, in bytes, fits
/// in `isize` (an empty array of huge other axes is refused too, where ndarray panics).
fn check_result_size<A>(shape: &[usize]) -> Result<()> {
    let bytes = shape.iter().try_fold(size_of::<A>().max(1), |n, &d| n.checked_mul(d.max(1)));
    if bytes.is_none_or(|b| isize::try_from(b).is_err()) {
        return Err(Error::Overflow {
            path: None,
            shape: shape.to_vec(),
            elem_size: size_of::<A>(),
        });
    }
    Ok(())
}

/// A chunked, bounded-memory [`ndarray::Zip`] over mapped arrays (and plain ones): see the
/// [module documentation](self).
///
/// Build it with [`Zip::from`] and [`and`](Zip::and) (one to six operands of one shape),
/// set options, then run [`for_each`](Zip::for_each), [`par_for_each`](Zip::par_for_each)
/// (`rayon` feature), [`try_for_each`](Zip::try_for_each), [`fold`](Zip::fold) or
/// [`par_fold`](Zip::par_fold) over elements, or [`fold_chunks`](Zip::fold_chunks) or
/// [`par_fold_chunks`](Zip::par_fold_chunks) over whole chunks. [`Zip::indexed`] passes each
/// element's index first, as ndarray's. A Zip over one array reduces along an axis in one
/// pass: [`sum_axis`](Zip::sum_axis), [`mean_axis`](Zip::mean_axis),
/// [`var_axis`](Zip::var_axis), [`std_axis`](Zip::std_axis), [`min_axis`](Zip::min_axis),
/// [`max_axis`](Zip::max_axis), or into an output the caller gives, NumPy's `out=` (a mapped
/// one for a large result): [`sum_axis_into`](Zip::sum_axis_into) and the like.
/// [`map_collect_npy`](Zip::map_collect_npy) and
/// [`map_collect_raw`](Zip::map_collect_raw) write `f` of every element into a new file
/// ([`par_map_collect_npy`](Zip::par_map_collect_npy) and
/// [`par_map_collect_raw`](Zip::par_map_collect_raw) on every core).
/// [`cumsum`](Zip::cumsum), [`cumprod`](Zip::cumprod) and
/// [`accumulate_axis`](Zip::accumulate_axis) scan along an axis (and their `_into` twins,
/// and [`accumulate_axis_inplace`](Zip::accumulate_axis_inplace)); [`histogram`](Zip::histogram)
/// and [`bincount`](Zip::bincount) count (see [Scans and counts](self#scans-and-counts)).
/// A Zip over one array also gathers rows or windows of it ([`select`](Zip::select),
/// [`select_windows`](Zip::select_windows)) and filters its rows into a new file
/// ([`filter_npy`](Zip::filter_npy), [`filter_rows_npy`](Zip::filter_rows_npy)): see
/// [Gathers and filters](self#gathers-and-filters).
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("c.bin");
/// // A Fortran-order output: chunks are slabs of columns.
/// let mut c = unsafe {
///     Array2::<f32>::create_file(&path, (300, 400).f())?
/// };
/// let a = Array2::<f32>::ones((300, 400).f());
/// ndmmap::chunked::Zip::from(&mut c)
///     .and(&a)
///     .chunk_bytes(4096)
///     .for_each(|c, &a| *c = 2.0 * a)?;
/// assert!(c.iter().all(|&x| x == 2.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Zip<'a, P, D> {
    parts: P,
    hooks: Vec<Hooks<'a>>,
    dim: D,
    /// The first shape mismatch found while adding operands, reported when the Zip runs.
    mismatch: Option<Error>,
    /// Where the outputs of a reduction into mapped arrays lie (their hooks follow the
    /// operands' in `hooks`): arrays of the Zip's shape, broadcast along the reduced axis,
    /// which the engine walks with the operands but does not split.
    riders: Vec<Footprint>,
    settings: EngineSettings,
    progress: Option<Callback<'a>>,
}

impl<P, D: Dimension> fmt::Debug for Zip<'_, P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zip")
            .field("shape", &self.dim.slice())
            .field("operands", &self.hooks.len())
            .field("chunk_bytes", &self.settings.chunk_bytes)
            .field("read_ahead", &self.settings.read_ahead)
            .field("write_behind", &self.settings.write_behind)
            .field("release_after_use", &self.settings.release_after_use)
            .field("evict_after_write", &self.settings.evict_after_write)
            .field("evict_after_read", &self.settings.evict_after_read)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.settings.cancel)
            .finish_non_exhaustive()
    }
}

impl<'a, P1: ChunkView<D>, D: Dimension> Zip<'a, (P1,), D> {
    /// Starts a chunked Zip over one operand (see [`Operand`]): `&mut guard` to write,
    /// `&guard` to read, or a plain ndarray array.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array1::<u16>::create_file(&path, 3)? };
    /// ndmmap::chunked::Zip::from(&mut c).for_each(|c| *c = 7)?;
    /// assert_eq!(std::fs::read(&path)?, bytemuck::cast_slice::<u16, u8>(&[7u16, 7, 7]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::should_implement_trait, reason = "ndarray's `Zip::from`, by design")]
    pub fn from<O: Operand<'a, Dim = D, View = P1>>(operand: O) -> Self {
        let (view, hooks) = operand.into_chunks();
        Zip {
            dim: view.raw_dim(),
            parts: (view,),
            hooks: vec![hooks],
            mismatch: None,
            riders: Vec::new(),
            settings: EngineSettings {
                chunk_bytes: None,
                read_ahead: true,
                write_behind: true,
                release_after_use: true,
                evict_after_write: true,
                cut: None,
                evict_after_read: true,
                cancel: None,
            },
            progress: None,
        }
    }
}

impl<'a, D: Dimension + Copy> Zip<'a, (Indices<D>,), D> {
    /// Starts a chunked Zip whose first item is each element's index (a tuple for 2 to 6
    /// axes, a `usize` for one), as [`ndarray::Zip::indexed`], over `operand` (see
    /// [`Operand`]). Add more operands with [`and`](Zip::and).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array2::<u32>::create_file(&path, (50, 4))? };
    /// ndmmap::chunked::Zip::indexed(&mut c)
    ///     .chunk_bytes(64)
    ///     .for_each(|(i, j), c| *c = (10 * i + j) as u32)?;
    /// assert_eq!(c[[49, 3]], 493);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn indexed<O: Operand<'a, Dim = D>>(operand: O) -> Zip<'a, (Indices<D>, O::View), D> {
        let (view, hooks) = operand.into_chunks();
        let indices = ndarray::indices(view.raw_dim());
        Zip::from(indices).and_parts(view, hooks)
    }
}

impl<'a, P, D: Dimension> Zip<'a, P, D> {
    /// Sets the chunk size: how many bytes of the widest operand each chunk spans. A chunk
    /// is at least one slab along the outermost memory axis, or one element when every
    /// operand is contiguous.
    ///
    /// By default the engine sizes chunks to the memory the process may use (see
    /// [Memory and I/O](self#memory-and-io)): [`DEFAULT_CHUNK_BYTES`] (8 MiB) when memory is
    /// plentiful, smaller (down to 1 MiB) when a quarter of it cannot hold the chunks in flight.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<f64>::zeros(10);
    /// let mut chunks = 0;
    /// ndmmap::chunked::Zip::from(&mut a)
    ///     .chunk_bytes(32) // 4 f64 per chunk: 3 chunks for 10 elements
    ///     .progress(|_, _| chunks += 1)
    ///     .for_each(|x| *x = 1.0)?;
    /// assert_eq!(chunks, 3);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.settings.chunk_bytes = Some(bytes);
        self
    }

    /// Whether to read the next chunks of every mapped input while the current one is
    /// computed (`MADV_WILLNEED` after `MADV_SEQUENTIAL` on the input's map, or, for pages
    /// not in the page cache, through a huge-page map of the engine's own: see
    /// [Memory and I/O](self#memory-and-io); default `true`). Outputs (`&mut` guards) walked in their own memory order get
    /// neither hint: on a new file both cost more than they save. Operands in another
    /// memory order than the walk (see [Mixed layouts](self#mixed-layouts)) get
    /// `MADV_RANDOM` on their maps instead, and outputs among them are also faulted in
    /// writable ahead; `false` turns all of this off. The advice stays on the maps after
    /// the walk; [`MmapArray::advise`](crate::MmapArray::advise) changes it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<u8>::zeros(4);
    /// ndmmap::chunked::Zip::from(&mut a).read_ahead(false).for_each(|x| *x = 1)?;
    /// assert_eq!(a.sum(), 4);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn read_ahead(mut self, yes: bool) -> Self {
        self.settings.read_ahead = yes;
        self
    }

    /// Whether to start writing back each finished chunk of every mapped output
    /// (`sync_file_range` on Linux, a range flush elsewhere; default `true`). Without it
    /// the kernel writes in its own time, and the final flush does the rest.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut c = unsafe { Array1::<u8>::create_file(dir.path().join("c.bin"), 4)? };
    /// ndmmap::chunked::Zip::from(&mut c).write_behind(false).for_each(|x| *x = 1)?;
    /// assert_eq!(c.sum(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn write_behind(mut self, yes: bool) -> Self {
        self.settings.write_behind = yes;
        self
    }

    /// Whether to drop each finished chunk of every mapped operand from the process's
    /// resident set (`MADV_DONTNEED` on shared maps, which loses nothing; default `true`).
    /// Without it, the resident set grows with the arrays, as under a plain `Zip`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<u8>::zeros(4);
    /// ndmmap::chunked::Zip::from(&mut a).release_after_use(false).for_each(|x| *x = 1)?;
    /// assert_eq!(a.sum(), 4);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn release_after_use(mut self, yes: bool) -> Self {
        self.settings.release_after_use = yes;
        self
    }

    /// Whether to drop each finished chunk of every mapped output from the page cache once
    /// it is on disk (default `true`): the helper thread keeps the last few chunks in
    /// flight, waits for the write-back of older ones (`sync_file_range` with
    /// `WAIT_BEFORE | WRITE | WAIT_AFTER`) and then evicts them (`POSIX_FADV_DONTNEED`,
    /// which keeps dirty and mapped pages). Linux only; elsewhere it does nothing. It acts
    /// only with [`write_behind`](Self::write_behind) and [`release_after_use`](Self::release_after_use) on.
    ///
    /// The output's page cache then stays at a few chunks instead of growing with the
    /// array, and new chunks reuse the memory of evicted ones instead of taking fresh pages
    /// (whose first touch is the main cost of writing a new file through a map). The price:
    /// reading the output back afterwards reads the disk. Turn it off when the output is
    /// read again soon and fits in RAM. `false` also keeps the input pages that
    /// [`evict_after_read`](Self::evict_after_read) would drop.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array1::<u8>::create_file(&path, 100_000)? };
    /// ndmmap::chunked::Zip::from(&mut c)
    ///     .chunk_bytes(4096)
    ///     .evict_after_write(true)
    ///     .for_each(|x| *x = 3)?;
    /// drop(c);
    /// assert!(std::fs::read(&path)?.iter().all(|&x| x == 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn evict_after_write(mut self, yes: bool) -> Self {
        self.settings.evict_after_write = yes;
        self
    }

    /// Whether to drop the input pages the walk read from disk from the page cache a few
    /// chunks after their use (default `true`): the page cache then reuses the same few
    /// chunks of memory as the walk goes, and is left as the walk found it. `false` keeps
    /// them where the mapped inputs fit in the memory the process may use (see
    /// [Memory and I/O](self#memory-and-io)), so that a second pass over them (the next
    /// walk of a standardization, or the next job) reads memory instead of the disk; where
    /// they do not fit, they are dropped anyway, as the kernel would drop them before they
    /// came round again. Pages cached before the walk began always stay. It acts only with
    /// [`evict_after_write`](Self::evict_after_write) on, whose `false` keeps them too.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array1::from_shape_fn(100_000, |i| i as f64).save_npy(&path)?;
    /// let x = unsafe { Array1::<f64>::map_npy(&path)? };
    /// // Two passes: the first keeps what it reads from disk for the second.
    /// let sum = ndmmap::chunked::Zip::from(&x).evict_after_read(false).fold(0.0, |s, &x| s + x)?;
    /// let mean = sum / 100_000.0;
    /// let var = ndmmap::chunked::Zip::from(&x).fold(0.0, |s, &x| s + (x - mean).powi(2))?;
    /// assert_eq!(mean, 99_999.0 / 2.0);
    /// assert!(var > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn evict_after_read(mut self, yes: bool) -> Self {
        self.settings.evict_after_read = yes;
        self
    }

    /// Calls `progress(done, total)` as the walk goes, with the bytes of the operands done
    /// so far and in all: each element of each operand counts its size in bytes (a
    /// broadcast operand at every element it meets, indices not at all), so that `done`
    /// grows at the pace of the I/O, and reaches `total` when the walk is done. The engine
    /// reports after each chunk; a walk that works on several chunks at once may report
    /// from any of its threads, one call at a time (hence `Send`, not `Sync`).
    ///
    /// The callback may [`cancel`](CancelToken::cancel) the walk's token (see
    /// [`cancel_on`](Self::cancel_on)): the walk then stops before its next chunk.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array2::<f64>::zeros((100, 10));
    /// let mut seen = Vec::new();
    /// ndmmap::chunked::Zip::from(&mut a)
    ///     .chunk_bytes(4000) // 500 f64 per chunk
    ///     .progress(|done, total| seen.push((done, total)))
    ///     .for_each(|x| *x = 1.0)?;
    /// assert_eq!(seen, [(4000, 8000), (8000, 8000)]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn progress(mut self, progress: impl FnMut(u64, u64) + Send + 'a) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Draws a progress bar of the walk on standard error (bytes done, rate, time left):
    /// [`progress`](Self::progress) with a callback of the
    /// [indicatif](https://docs.rs/indicatif) crate's. Nothing is drawn when standard error
    /// is not a terminal. It replaces a callback given to `progress`, and that one it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let a = Array1::<f64>::ones(1_000_000);
    /// let total = ndmmap::chunked::Zip::from(&a).progress_bar().fold(0.0, |acc, &x| acc + x)?;
    /// assert_eq!(total, 1e6);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[cfg(feature = "progress-bar")]
    #[cfg_attr(docsrs, doc(cfg(feature = "progress-bar")))]
    #[must_use]
    pub fn progress_bar(self) -> Self {
        self.progress(progress::bar())
    }

    /// Stops the walk before its next chunk once `token` is cancelled (from another thread,
    /// or from the [`progress`](Self::progress) callback): it then returns
    /// [`Error::Cancelled`], which says how much of the outputs is done. The outputs are
    /// flushed first, as on success; a new file (`map_collect_npy`) is not made. A walk that
    /// finished its last chunk returns its result.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::{CancelToken, Zip};
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.npy");
    /// let mut c = unsafe { Array2::<f32>::create_npy(&path, (400, 10))? };
    /// let token = CancelToken::new();
    /// let stop = token.clone();
    /// let err = Zip::from(&mut c)
    ///     .chunk_bytes(1000) // 25 rows of 10 f32 per chunk
    ///     .cancel_on(&token)
    ///     .progress(move |done, _| if done == 2 * 1000 { stop.cancel() })
    ///     .for_each(|c| *c = 1.0)
    ///     .unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::Cancelled { axis: 0, done: 50, len: 400 }));
    /// assert_eq!(err.to_string(), "cancelled: the first 50 of 400 entries along axis 0 are done");
    /// assert_eq!(c.slice(s![..50, ..]).sum(), 500.0); // resume with c.slice_mut(s![50.., ..])
    /// assert_eq!(c.slice(s![50.., ..]).sum(), 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn cancel_on(mut self, token: &CancelToken) -> Self {
        self.settings.cancel = Some(token.clone());
        self
    }
}

impl<'a, P, D: Dimension> Zip<'a, P, D> {
    /// A Zip over other operands (`parts`, with their `hooks`, of shape `dim`) with this
    /// one's settings and progress callback: for operations that walk another array than
    /// the one the Zip was built on (a gather walks its output).
    fn over<Q, E: Dimension>(self, parts: Q, hooks: Vec<Hooks<'a>>, dim: E) -> Zip<'a, Q, E> {
        Zip {
            parts,
            hooks,
            dim,
            mismatch: self.mismatch,
            riders: Vec::new(),
            settings: self.settings,
            progress: self.progress,
        }
    }
}

/// ndarray's `Zip` over the given producers.
macro_rules! nd_zip {
    ($first:ident $(, $rest:ident)*) => { ndarray::Zip::from($first)$(.and($rest))* };
}

macro_rules! impl_zip {
    ($($p:ident $x:ident),+ ; $($next:ident)?) => {
        impl<'a, D: Dimension, $($p: ChunkView<D>),+> Zip<'a, ($($p,)+), D> {
            impl_zip!(@and $($p $x)+ ; $($next)?);

            /// Calls `f` on every element (in lock step over the operands, as
            /// [`ndarray::Zip::for_each`]), chunk by chunk, then flushes the outputs.
            ///
            /// # Errors
            ///
            /// [`Error::ShapeMismatch`] before anything runs;
            /// [`Error::Io`] or [`Error::NoSpace`] if advice, write-back or the final flush
            /// fails.
            ///
            /// # Panics
            ///
            /// If `f` panics, the panic propagates; chunks already done stay written (in the
            /// page cache) but are not flushed.
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let path = dir.path().join("c.bin");
            /// let mut c = unsafe { Array2::<f64>::create_file(&path, (4, 3))? };
            /// let a = Array2::from_shape_fn((4, 3), |(i, j)| (3 * i + j) as f64);
            /// ndmmap::chunked::Zip::from(&mut c).and(&a).for_each(|c, &a| *c = a * a)?;
            /// assert_eq!(c[[3, 2]], 121.0);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn for_each<F>(self, mut f: F) -> Result<()>
            where
                F: FnMut($($p::Item),+),
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+).for_each(&mut f);
                    Ok(())
                })
            }

            /// Calls the fallible `f` on every element, chunk by chunk, and stops at the
            /// first error, which it returns (`E` may be any error type that an
            /// [`Error`] converts into, e.g. `Box<dyn Error>`). On success the outputs are
            /// flushed; after an error, the elements done stay written (in the page cache)
            /// but are not flushed.
            ///
            /// # Errors
            ///
            /// The first error of `f`, or those of [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let mut a: Array1<f64> = array![1.0, 4.0, -1.0, 9.0];
            /// let err = ndmmap::chunked::Zip::from(&mut a)
            ///     .try_for_each(|x| {
            ///         if *x < 0.0 {
            ///             return Err(format!("negative input {x}").into());
            ///         }
            ///         *x = x.sqrt();
            ///         Ok::<(), Box<dyn std::error::Error>>(())
            ///     })
            ///     .unwrap_err();
            /// assert_eq!(err.to_string(), "negative input -1");
            /// assert_eq!(a, array![1.0, 2.0, -1.0, 9.0]); // stopped at the bad element
            /// ```
            pub fn try_for_each<F, E>(self, mut f: F) -> std::result::Result<(), E>
            where
                F: FnMut($($p::Item),+) -> std::result::Result<(), E>,
                E: From<Error>,
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+)
                        .fold_while(Ok(()), |_, $($x),+| match f($($x),+) {
                            Ok(()) => ndarray::FoldWhile::Continue(Ok(())),
                            Err(e) => ndarray::FoldWhile::Done(Err(e)),
                        })
                        .into_inner()
                })
            }

            /// Calls `f` on every element on rayon's thread pool, chunk after chunk (each
            /// chunk is split among the threads), then flushes the outputs.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Panics
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let mut c = Array1::<u32>::zeros(1000);
            /// let a = Array1::from_shape_fn(1000, |i| i as u32);
            /// ndmmap::chunked::Zip::from(&mut c).and(&a).par_for_each(|c, &a| *c = a + 1)?;
            /// assert_eq!(c.sum(), 500_500);
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_for_each<F>(self, f: F) -> Result<()>
            where
                F: Fn($($p::Item),+) + Sync + Send,
                $($p: Send, $p::Item: Send,)+
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+).par_for_each(&f);
                    Ok(())
                })
            }

            /// Folds every element, in order, as [`ndarray::Zip::fold`]: `f(acc, a, b, ...)`
            /// gets the accumulator and one element of each operand, chunk by chunk. Outputs
            /// written through `&mut` elements are flushed at the end.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array2::from_shape_fn((300, 7), |(i, j)| (i * 7 + j) as f64);
            /// let b = Array2::<f64>::ones((300, 7));
            /// let dot = ndmmap::chunked::Zip::from(&a)
            ///     .and(&b)
            ///     .chunk_bytes(4096)
            ///     .fold(0.0, |acc, &a, &b| acc + a * b)?;
            /// assert_eq!(dot, a.sum());
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            pub fn fold<T, F>(self, init: T, mut f: F) -> Result<T>
            where
                F: FnMut(T, $($p::Item),+) -> T,
            {
                self.walk(true, init, |acc, ($($x,)+), _| {
                    Ok::<T, Error>(nd_zip!($($x),+).fold(acc, &mut f))
                })
            }

            /// Folds every element on rayon's thread pool, as [`ndarray::Zip::par_fold`]:
            /// each chunk is split among the threads, each part folded from `identity()` by
            /// `fold`, and the results merged with `combine` (which must be associative).
            /// Chunks run one after another, so memory stays bounded.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array1::from_shape_fn(10_000, |i| i as u64);
            /// let evens = ndmmap::chunked::Zip::from(&a).chunk_bytes(8192).par_fold(
            ///     || 0,
            ///     |count, &x| count + u64::from(x % 2 == 0),
            ///     |x, y| x + y,
            /// )?;
            /// assert_eq!(evens, 5000);
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_fold<T, I, F, C>(self, identity: I, fold: F, combine: C) -> Result<T>
            where
                T: Send,
                I: Fn() -> T + Sync + Send,
                F: Fn(T, $($p::Item),+) -> T + Sync + Send,
                C: Fn(T, T) -> T + Sync + Send,
                $($p: Send,)+
            {
                self.par_fold_pieces(identity, |acc, ($($x,)+)| nd_zip!($($x),+).fold(acc, &fold), combine)
            }

            /// Folds whole chunks: `f(acc, chunk, ...)` gets the accumulator and each
            /// operand's chunk as an ndarray view (a slab along the outermost memory axis:
            /// whole rows for C order, whole columns for Fortran order), in order. Outputs
            /// written through mutable chunk views are flushed at the end.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array2::from_shape_fn((1000, 8), |(i, j)| (i * 8 + j) as f64);
            /// let (min, max) = ndmmap::chunked::Zip::from(&a)
            ///     .chunk_bytes(4096)
            ///     .fold_chunks((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), chunk| {
            ///         chunk.fold((lo, hi), |(lo, hi), &x| (lo.min(x), hi.max(x)))
            ///     })?;
            /// assert_eq!((min, max), (0.0, 7999.0));
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            pub fn fold_chunks<T, F>(self, init: T, mut f: F) -> Result<T>
            where
                F: FnMut(T, $($p),+) -> T,
            {
                self.walk(false, init, |acc, ($($x,)+), _| Ok::<T, Error>(f(acc, $($x),+)))
            }

            /// Folds whole chunks on rayon's thread pool: each chunk is cut into pieces
            /// along the same axis, each piece is folded from `identity()` by `f`, and the
            /// results are merged with `combine` (which must be associative, as with
            /// rayon's `reduce`). Chunks run one after another, so memory stays bounded.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array1::from_shape_fn(10_000, |i| (i % 10) as u8);
            /// // A histogram of the values.
            /// let counts = ndmmap::chunked::Zip::from(&a).par_fold_chunks(
            ///     || [0usize; 10],
            ///     |mut counts, chunk| {
            ///         chunk.for_each(|&x| counts[usize::from(x)] += 1);
            ///         counts
            ///     },
            ///     |mut x, y| {
            ///         x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            ///         x
            ///     },
            /// )?;
            /// assert_eq!(counts, [1000; 10]);
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_fold_chunks<T, I, F, C>(self, identity: I, f: F, combine: C) -> Result<T>
            where
                T: Send,
                I: Fn() -> T + Sync + Send,
                F: Fn(T, $($p),+) -> T + Sync + Send,
                C: Fn(T, T) -> T + Sync + Send,
                $($p: Send,)+
            {
                self.par_fold_pieces(identity, |acc, ($($x,)+)| f(acc, $($x),+), combine)
            }
        }
    };
    (@and $($p:ident $x:ident)+ ; $next:ident) => {
        /// Adds an operand (see [`Operand`]) of the same shape as the first.
        ///
        /// A shape mismatch is reported, as [`Error::ShapeMismatch`], when the Zip runs,
        /// before anything is read or written.
        ///
        /// # Example
        ///
        /// ```
        /// use ndmmap::prelude::*;
        ///
        /// let mut c = Array1::<i32>::zeros(3);
        /// let (a, b) = (array![1, 2, 3], array![10, 20]);
        /// let err = ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b)
        ///     .for_each(|c, &a, &b| *c = a + b)
        ///     .unwrap_err();
        /// assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 2, .. }));
        /// assert_eq!(c, array![0, 0, 0]);
        /// ```
        pub fn and<O: Operand<'a, Dim = D>>(self, operand: O) -> Zip<'a, ($($p,)+ O::View,), D> {
            let (view, hooks) = operand.into_chunks();
            self.and_parts(view, hooks)
        }

        /// Adds a view broadcast to the Zip's shape, as ndarray's
        /// [`Zip::and_broadcast`](ndarray::Zip::and_broadcast): a row of column means
        /// against a matrix, say. It is read as a plain view (no kernel hints), so it
        /// should be small, or a view of a map that is read anyway.
        ///
        /// A view that does not broadcast to the Zip's shape is reported, as
        /// [`Error::ShapeMismatch`], when the Zip runs, before anything is read or
        /// written (where ndarray panics).
        ///
        /// # Example
        ///
        /// ```
        /// use ndmmap::prelude::*;
        ///
        /// let dir = tempfile::tempdir()?;
        /// let path = dir.path().join("centred.bin");
        /// let x = Array2::from_shape_fn((1000, 3), |(i, j)| (i * (j + 1)) as f64);
        /// let means = x.mean_axis(Axis(0)).unwrap(); // one per column
        /// let mut centred = unsafe { Array2::<f64>::create_file(&path, (1000, 3))? };
        /// ndmmap::chunked::Zip::from(&mut centred)
        ///     .and(&x)
        ///     .and_broadcast(&means)
        ///     .for_each(|c, &x, &m| *c = x - m)?;
        /// assert_eq!(*centred, &x - &means);
        ///
        /// let wrong = Array1::<f64>::zeros(4);
        /// let err = ndmmap::chunked::Zip::from(&x)
        ///     .and_broadcast(&wrong)
        ///     .fold(0.0, |acc, &x, &w| acc + x * w)
        ///     .unwrap_err();
        /// assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn and_broadcast<A, E: Dimension>(
            mut self,
            view: &'a ndarray::ArrayRef<A, E>,
        ) -> Zip<'a, ($($p,)+ ndarray::ArrayView<'a, A, D>,), D> {
            let broadcast = match view.broadcast(self.dim.clone()) {
                Some(broadcast) => broadcast,
                None => {
                    if self.mismatch.is_none() {
                        self.mismatch = Some(Error::ShapeMismatch {
                            operand: self.hooks.len(),
                            expected: self.dim.slice().to_vec(),
                            actual: view.shape().to_vec(),
                        });
                    }
                    // Never run: the mismatch is reported first.
                    let empty = D::zeros(self.dim.ndim());
                    ndarray::ArrayView::from_shape(empty, &[]).expect("an empty shape fits no elements")
                }
            };
            self.and_parts(broadcast, Hooks::default())
        }

        /// Adds an operand's view and hooks.
        fn and_parts<V: ChunkView<D>>(self, view: V, hooks: Hooks<'a>) -> Zip<'a, ($($p,)+ V,), D> {
            let Zip { parts: ($($x,)+), hooks: mut all, dim, mut mismatch, riders, settings, progress } = self;
            if mismatch.is_none() && view.raw_dim() != dim {
                mismatch = Some(Error::ShapeMismatch {
                    operand: all.len(),
                    expected: dim.slice().to_vec(),
                    actual: view.raw_dim().slice().to_vec(),
                });
            }
            all.push(hooks);
            Zip { parts: ($($x,)+ view,), hooks: all, dim, mismatch, riders, settings, progress }
        }
    };
    (@and $($p:ident $x:ident)+ ; ) => {};
}

impl_zip!(P1 p1; P2);
impl_zip!(P1 p1, P2 p2; P3);
impl_zip!(P1 p1, P2 p2, P3 p3; P4);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4; P5);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4, P5 p5; P6);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4, P5 p5, P6 p6;);
