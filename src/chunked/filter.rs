//! Filters into new files: the rows along axis 0 that a boolean mask or a predicate keeps
//! ([`Zip::filter_npy`], [`Zip::filter_rows_npy`] and their raw twins), written into a new
//! `.npy` or raw file, as NumPy's `np.save(path, x[mask])` but in one pass over the input
//! in bounded memory.
//!
//! The engine walks the input in chunks of whole rows (read ahead, released and, when read
//! from disk, evicted as in any walk); each chunk's kept rows are appended to the file in C
//! order: long runs of contiguous rows with one positioned write straight from the input,
//! the others gathered first into a buffer of at most 1 MiB, however long a row. The
//! chunk's writes are written back behind the walk and evicted once on disk (as
//! [`map_collect_npy`](Zip::map_collect_npy)'s output). The file is built under a temporary
//! name beside the path and put in place only once complete and synced: an error or a
//! panicking predicate leaves no file at the path.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use bytemuck::Pod;
use ndarray::{ArrayView, Axis, RemoveAxis};

use super::Zip;
use crate::error::{Error, Result};
use crate::npy::NpyElement;

impl<'a, A: Pod, D: RemoveAxis> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Writes the rows (indices along axis 0) where `mask` is `true` into a new `.npy`
    /// file at `path`, in C order, as NumPy's `np.save(path, x[mask])`; returns how many
    /// rows it kept.
    ///
    /// # Errors
    ///
    /// Before any file is made: [`Error::AxisOutOfRange`] for a zero-dimensional input,
    /// [`Error::MaskLengthMismatch`] if `mask` does not have one element per row,
    /// [`Error::AlreadyExists`] if `path` exists. [`Error::NoSpace`] or [`Error::Io`] if
    /// writing fails. On any error no file is left at `path`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((1000, 3), |(i, j)| (3 * i + j) as f64);
    /// let mask: Vec<bool> = x.column(0).iter().map(|&v| v % 9.0 == 0.0).collect();
    /// let path = dir.path().join("kept.npy");
    /// let kept = ndmmap::chunked::Zip::from(&x).filter_npy(&path, &mask)?;
    /// assert_eq!(kept, 334);
    /// let y = unsafe { Array2::<f64>::map_npy(&path)? };
    /// assert_eq!(y.row(1).to_vec(), [9.0, 10.0, 11.0]);
    ///
    /// let err = ndmmap::chunked::Zip::from(&x).filter_npy(dir.path().join("no.npy"), &mask[1..]);
    /// assert!(matches!(err, Err(ndmmap::Error::MaskLengthMismatch { mask: 999, len: 1000 })));
    /// assert!(!dir.path().join("no.npy").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_npy(self, path: impl AsRef<Path>, mask: &[bool]) -> Result<usize>
    where
        A: NpyElement,
    {
        let path = path.as_ref();
        let count = self.check_mask(mask)?;
        let header = crate::npy::header_for::<A>(path, &self.rows_shape(count), false)?;
        self.filter_into(path, &header, Count::Known(count), by_mask(mask))
    }

    /// Writes the rows where `mask` is `true` into a new raw file at `path` (native byte
    /// order, C order, no header), as [`filter_npy`](Self::filter_npy) does into a `.npy`
    /// file: NumPy's `x[mask].tofile(path)`. Returns how many rows it kept.
    ///
    /// # Errors
    ///
    /// As [`filter_npy`](Self::filter_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = array![1u16, 2, 3, 4, 5];
    /// let path = dir.path().join("odd.bin");
    /// ndmmap::chunked::Zip::from(&x).filter_raw(&path, &[true, false, true, false, true])?;
    /// assert_eq!(std::fs::read(&path)?, bytemuck::cast_slice::<u16, u8>(&[1, 3, 5]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_raw(self, path: impl AsRef<Path>, mask: &[bool]) -> Result<usize> {
        let count = self.check_mask(mask)?;
        self.filter_into(path.as_ref(), &[], Count::Known(count), by_mask(mask))
    }

    /// Writes the rows (subviews along axis 0) for which `keep` returns `true` into a new
    /// `.npy` file at `path`, in C order, as NumPy's `np.save(path, x[[keep(r) for r in
    /// x]])`, in one pass; returns how many rows it kept. `keep` sees the rows in order.
    ///
    /// # Errors
    ///
    /// As [`filter_npy`](Self::filter_npy) (without the mask's).
    ///
    /// # Panics
    ///
    /// If `keep` panics, the panic propagates, and the partly written file is removed.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array2::from_shape_fn((500, 4), |(i, j)| ((i * 7 + j) % 11) as f32).save_npy(&path)?;
    /// let x = unsafe { Array2::<f32>::map_npy(&path)? };
    ///
    /// let out = dir.path().join("big_rows.npy");
    /// let kept = ndmmap::chunked::Zip::from(&x).filter_rows_npy(&out, |row| row.sum() > 25.0)?;
    /// let y = unsafe { Array2::<f32>::map_npy(&out)? };
    /// assert_eq!(y.nrows(), kept);
    /// assert!(y.rows().into_iter().all(|row| row.sum() > 25.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_rows_npy<F>(self, path: impl AsRef<Path>, keep: F) -> Result<usize>
    where
        A: NpyElement,
        F: FnMut(ArrayView<'_, A, D::Smaller>) -> bool,
    {
        let path = path.as_ref();
        let rows = self.check_rows()?;
        // Written again once the count is known: `np.save`'s header pads the length of axis
        // 0 to 21 digits, so the header's length does not change.
        let header = crate::npy::header_for::<A>(path, &self.rows_shape(rows), false)?;
        self.filter_into(path, &header, Count::Header(crate::npy::header_for::<A>), by_rows(keep))
    }

    /// Writes the rows for which `keep` returns `true` into a new raw file at `path`
    /// (native byte order, C order, no header), as
    /// [`filter_rows_npy`](Self::filter_rows_npy) does into a `.npy` file. Returns how many
    /// rows it kept.
    ///
    /// # Errors
    ///
    /// As [`filter_rows_npy`](Self::filter_rows_npy).
    ///
    /// # Panics
    ///
    /// As [`filter_rows_npy`](Self::filter_rows_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array1::from_iter(0..100i32);
    /// let path = dir.path().join("squares.bin");
    /// let kept = ndmmap::chunked::Zip::from(&x)
    ///     .chunk_bytes(64)
    ///     .filter_rows_raw(&path, |v| (v.into_scalar().isqrt()).pow(2) == *v.into_scalar())?;
    /// assert_eq!(kept, 10);
    /// assert_eq!(std::fs::read(&path)?[4 * 9..], 81i32.to_ne_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_rows_raw<F>(self, path: impl AsRef<Path>, keep: F) -> Result<usize>
    where
        F: FnMut(ArrayView<'_, A, D::Smaller>) -> bool,
    {
        self.check_rows()?;
        self.filter_into(path.as_ref(), &[], Count::Unknown, by_rows(keep))
    }

    /// The number of rows, or [`Error::AxisOutOfRange`] for a zero-dimensional input.
    fn check_rows(&self) -> Result<usize> {
        if self.dim.ndim() == 0 {
            return Err(Error::AxisOutOfRange { axis: 0, ndim: 0 });
        }
        Ok(self.dim[0])
    }

    /// The number of rows `mask` keeps, once checked against the input.
    fn check_mask(&self, mask: &[bool]) -> Result<usize> {
        let rows = self.check_rows()?;
        if mask.len() != rows {
            return Err(Error::MaskLengthMismatch { mask: mask.len(), len: rows });
        }
        Ok(mask.iter().filter(|&&m| m).count())
    }

    /// The input's shape with `rows` along axis 0.
    fn rows_shape(&self, rows: usize) -> Vec<usize> {
        let mut shape = self.dim.slice().to_vec();
        shape[0] = rows;
        shape
    }

    /// The walk: each chunk of rows, starting at row `start`, goes through
    /// `pick(start, chunk, runs)`, which appends the runs of consecutive rows it keeps (as
    /// indices into the chunk) to `runs`; the rows are written after `header` and the rows
    /// before. `count`, when known, is how many rows are kept in all (the file is reserved
    /// at its length); otherwise `header_of` (for a `.npy` file) rewrites the header with
    /// the count at the end.
    fn filter_into<P>(
        mut self,
        path: &Path,
        header: &[u8],
        count: Count,
        mut pick: P,
    ) -> Result<usize>
    where
        P: FnMut(usize, &ArrayView<'_, A, D>, &mut Vec<Range<usize>>),
    {
        let dim = self.dim.clone();
        let shape_of = move |rows: usize| {
            let mut shape = dim.slice().to_vec();
            shape[0] = rows;
            shape
        };
        // As ndarray counts: the lengths that are not zero (an array of no rows may have huge
        // rows), in bytes.
        self.dim.slice()[1..]
            .iter()
            .try_fold(size_of::<A>(), |n, &d| n.checked_mul(d.max(1)))
            .filter(|&b| isize::try_from(b).is_ok())
            .ok_or_else(|| Error::Overflow {
                path: Some(path.to_path_buf()),
                shape: shape_of(self.dim[0]),
                elem_size: size_of::<A>(),
            })?;
        let data = |rows: usize| -> Result<u64> {
            let row_bytes = self.dim.slice()[1..].iter().product::<usize>() * size_of::<A>();
            rows.checked_mul(row_bytes)
                .and_then(|b| b.checked_add(header.len()))
                .filter(|&b| isize::try_from(b).is_ok())
                .map(|b| b as u64)
                .ok_or_else(|| Error::Overflow {
                    path: Some(path.to_path_buf()),
                    shape: shape_of(rows),
                    elem_size: size_of::<A>(),
                })
        };
        let reserved = data(match count {
            Count::Known(count) => count,
            _ => 0,
        })?;
        self.settings.cut = Some(0);
        let mut kept = 0;
        crate::fs::build_new(path, reserved, false, header, |file| {
            let mut runs = Vec::new();
            if self.dim.size() == 0 {
                // No element to walk over, but rows to pick (of no elements each).
                pick(0, &self.parts.0.clone(), &mut runs);
                kept = runs.iter().map(ExactSizeIterator::len).sum();
            } else {
                let mut sink = Sink::new(file, path, header.len() as u64);
                let mut start = 0;
                self.run(false, |(chunk,), _| {
                    runs.clear();
                    pick(start, &chunk, &mut runs);
                    for run in &runs {
                        sink.rows(&chunk, run.clone())?;
                        kept += run.len();
                    }
                    sink.end_of_chunk()?;
                    start += chunk.len_of(Axis(0));
                    Ok::<(), Error>(())
                })?;
            }
            if let Count::Header(header_of) = count {
                rewrite_header(
                    file,
                    path,
                    header.len(),
                    &header_of(path, &shape_of(kept), false)?,
                )?;
            }
            Ok(())
        })
        .map_err(super::collect::none_done)?;
        Ok(kept)
    }
}

/// Runs of kept rows at least this long are written straight from the input (a mapped
/// file's pages, or memory), with one positioned write; shorter ones are gathered first.
const DIRECT_BYTES: usize = 256 << 10;

/// The most bytes of rows gathered before they are written: a filter's memory beside the
/// walk's, whatever the length of a row.
const GATHER_BYTES: usize = 1 << 20;

/// The end of the output file that the kept rows are appended to: short runs of rows are
/// gathered into a buffer of at most [`GATHER_BYTES`], long ones written as they lie.
struct Sink<'f, A> {
    file: &'f File,
    path: &'f Path,
    behind: crate::fs::WriteBehind<'f>,
    /// Where the next row goes.
    at: u64,
    /// Where this chunk's rows began, for write-back.
    chunk_start: u64,
    /// Rows gathered, not yet written (they go at `at`).
    gathered: Vec<A>,
}

impl<'f, A: Pod> Sink<'f, A> {
    fn new(file: &'f File, path: &'f Path, at: u64) -> Self {
        let behind = crate::fs::WriteBehind::new(file, path);
        Self { file, path, behind, at, chunk_start: at, gathered: Vec::new() }
    }

    /// Appends rows `run` of `chunk`, in C order.
    fn rows<D: RemoveAxis>(
        &mut self,
        chunk: &ArrayView<'_, A, D>,
        run: Range<usize>,
    ) -> Result<()> {
        let rows = chunk.len_of(Axis(0));
        let row_len = chunk.len() / rows.max(1);
        if let Some(elems) = chunk.as_slice() {
            let elems = &elems[run.start * row_len..run.end * row_len];
            if size_of_val(elems) >= DIRECT_BYTES {
                self.write_gathered()?;
                return self.write(bytemuck::cast_slice(elems));
            }
            return self.gather(elems.iter().copied());
        }
        for k in run {
            let row = chunk.index_axis(Axis(0), k);
            match row.as_slice() {
                Some(elems) if size_of_val(elems) >= DIRECT_BYTES => {
                    self.write_gathered()?;
                    self.write(bytemuck::cast_slice(elems))?;
                }
                Some(elems) => self.gather(elems.iter().copied())?,
                None => self.gather(row.iter().copied())?,
            }
        }
        Ok(())
    }

    /// Gathers `elems`, writing the buffer whenever it is full.
    fn gather(&mut self, elems: impl Iterator<Item = A>) -> Result<()> {
        let limit = (GATHER_BYTES / size_of::<A>().max(1)).max(1);
        for elem in elems {
            if self.gathered.len() == limit {
                self.write_gathered()?;
            }
            self.gathered.push(elem);
        }
        Ok(())
    }

    fn write_gathered(&mut self) -> Result<()> {
        let gathered = std::mem::take(&mut self.gathered);
        self.write(bytemuck::cast_slice(&gathered))?;
        self.gathered = gathered;
        self.gathered.clear();
        Ok(())
    }

    /// Writes `bytes` at the end.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if !bytes.is_empty() {
            crate::map::file::write_all_at(self.file, bytes, self.at)
                .map_err(|e| Error::io(self.path, "write", self.at, e))?;
            self.at += bytes.len() as u64;
        }
        Ok(())
    }

    /// Writes what is gathered and starts the write-back of the chunk's rows.
    fn end_of_chunk(&mut self) -> Result<()> {
        self.write_gathered()?;
        if self.at > self.chunk_start {
            self.behind.written(std::slice::from_ref(&(self.chunk_start..self.at)))?;
            self.chunk_start = self.at;
        }
        Ok(())
    }
}

/// How a filter learns how many rows it keeps.
#[derive(Clone, Copy)]
enum Count {
    /// Known before the walk (a mask's `true`s).
    Known(usize),
    /// Counted by the walk; the file is raw.
    Unknown,
    /// Counted by the walk; the `.npy` header for the final shape is made by this function.
    Header(fn(&Path, &[usize], bool) -> Result<Vec<u8>>),
}

/// Writes `header` over the first `len` bytes of `file`, where the header written before
/// the count was known lies.
fn rewrite_header(file: &File, path: &Path, len: usize, header: &[u8]) -> Result<()> {
    if header.len() != len {
        // `np.save`'s padding leaves room for 21 digits along axis 0: never seen.
        let message = format!("the final .npy header is {} bytes, not {len}", header.len());
        return Err(Error::io(path, "write", 0, std::io::Error::other(message)));
    }
    crate::map::file::write_all_at(file, header, 0).map_err(|e| Error::io(path, "write", 0, e))
}

/// Appends row `k` to `runs`, extending the last run where it ends at `k`.
fn push_run(runs: &mut Vec<Range<usize>>, k: usize) {
    match runs.last_mut() {
        Some(last) if last.end == k => last.end += 1,
        _ => runs.push(k..k + 1),
    }
}

/// The runs of rows of each chunk that `mask` keeps.
fn by_mask<A, D: RemoveAxis>(
    mask: &[bool],
) -> impl FnMut(usize, &ArrayView<'_, A, D>, &mut Vec<Range<usize>>) {
    move |start, chunk, runs| {
        let mask = &mask[start..start + chunk.len_of(Axis(0))];
        for (k, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
            push_run(runs, k);
        }
    }
}

/// The runs of rows of each chunk for which `keep` is true.
fn by_rows<A, D: RemoveAxis, F>(
    mut keep: F,
) -> impl FnMut(usize, &ArrayView<'_, A, D>, &mut Vec<Range<usize>>)
where
    F: FnMut(ArrayView<'_, A, D::Smaller>) -> bool,
{
    move |_, chunk, runs| {
        for k in 0..chunk.len_of(Axis(0)) {
            if keep(chunk.index_axis(Axis(0), k)) {
                push_run(runs, k);
            }
        }
    }
}
