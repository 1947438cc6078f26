//! [`SaveNpyExt`]: save any array as a `.npy` file, atomically.

use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::{ArrayRef, Dimension};

use super::element::{NpyElement, dtype};
use super::header::{self, Header};
use crate::error::{Error, Result};
use crate::fs::write_atomically;

/// Saves arrays as `.npy` files, byte-identical to NumPy's `np.save`.
///
/// Implemented for ndarray's [`ArrayRef`], so it works on owned arrays, views and ndmmap's
/// guards alike, in any layout: C-contiguous arrays are written in C order,
/// Fortran-contiguous ones in Fortran order, and anything else is written element by
/// element in C order, exactly as `np.save` decides.
///
/// This trait is sealed: it is implemented for [`ArrayRef`] only.
pub trait SaveNpyExt: crate::private::Sealed {
    /// Writes the array to `path` as a `.npy` file.
    ///
    /// The file is written under a temporary name in the same folder, synced and then
    /// renamed into place, so readers (and live maps of an old file at `path`) never see a
    /// half-written or truncated file. As `np.save`, which writes in place, it keeps the
    /// mode (the permissions) of a file it replaces, and its owner and group where the
    /// process may set them, and writes through symbolic links: the new file replaces the
    /// file a link at `path` leads to, and the link stays a link.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the folder does not exist, [`Error::PermissionDenied`],
    /// [`Error::IsADirectory`], [`Error::NoSpace`], [`Error::Io`] (also, on Windows,
    /// "replace" while a live map holds the file at `path`, which stays as it was);
    /// [`Error::FileReplaced`] if someone else put a file at `path` while this one was
    /// being written (theirs stays); [`Error::Npy`] with
    /// [`HeaderError::UnsupportedDtype`](crate::npy::HeaderError::UnsupportedDtype) for a
    /// record type of zero bytes, or whose layout states another size than its own.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("t.npy");
    /// let a = array![[1u32, 2, 3], [4, 5, 6]];
    /// a.t().save_npy(&path)?; // Fortran order on disk, no copy
    /// let t = unsafe { Array2::<u32>::map_npy(&path)? };
    /// assert_eq!(*t, a.t());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn save_npy(&self, path: impl AsRef<Path>) -> Result<()>;
}

impl<A: NpyElement, D: Dimension> SaveNpyExt for ArrayRef<A, D> {
    fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // np.save: C order if C-contiguous, else Fortran order if Fortran-contiguous, else
        // a C-order copy.
        let c_order = self.as_slice();
        let f_order = match c_order {
            None if self.t().is_standard_layout() => self.as_slice_memory_order(),
            _ => None,
        };
        let header_bytes = header_for::<A>(path, self.shape(), f_order.is_some())?;
        let data_len = size_of::<A>() * self.len();
        let total = (header_bytes.len() + data_len) as u64;
        write_atomically(path, total, |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(&header_bytes)?;
            match c_order.or(f_order) {
                Some(elems) => out.write_all(bytemuck::cast_slice(elems))?,
                None => {
                    for elem in self {
                        out.write_all(bytemuck::bytes_of(elem))?;
                    }
                }
            }
            out.flush()
        })
    }
}

impl<A, D> crate::private::Sealed for ArrayRef<A, D> {}

/// The header `np.save` writes for an array of `A` of `shape` in C or Fortran order, for
/// other modules that write `.npy` files (the engine's `map_collect_npy`).
pub(crate) fn header_for<A: NpyElement>(
    path: &Path,
    shape: &[usize],
    fortran: bool,
) -> Result<Vec<u8>> {
    let npy_error = |detail| Error::Npy { path: path.to_path_buf(), detail };
    let (descr, record) = dtype::<A>().map_err(npy_error)?;
    let header = Header { descr, fortran_order: fortran, shape: shape.to_vec(), record };
    header::write(&header).map_err(npy_error)
}
