//! Flushing a slice given as `s![...]`, and changing a slice then flushing exactly its
//! pages, without the borrow conflict of `flush_view(&c.slice_mut(...))`.

use ndarray::{ArrayViewMut, Dimension, SliceArg, SliceInfoElem};

use super::MmapArrayMut;
use crate::error::{Error, Result};

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// Writes to disk exactly the pages that hold the elements of `self.slice(info)`, and
    /// waits until they are there: [`flush_view`](Self::flush_view) of a slice, spelled
    /// with the slice argument itself, so that it follows a `slice_mut` without a borrow
    /// conflict:
    ///
    /// ```compile_fail
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut c = unsafe { Array3::<f64>::create_file(dir.path().join("c.bin"), (2, 3, 4)).unwrap() };
    /// let mut part = c.slice_mut(s![1, .., 2..4]);
    /// part.fill(-1.0);
    /// c.flush_view(&part).unwrap(); // error[E0502]: `c` is borrowed mutably by `part`
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SliceOutOfBounds`] if `info` does not fit the array (where ndarray's
    /// `slice` would panic); [`Error::Io`] if the kernel reports a write error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut c = unsafe { Array3::<f64>::create_file(dir.path().join("c.bin"), (2, 3, 4))? };
    /// c.slice_mut(s![1, .., 2..4]).fill(-1.0);
    /// c.flush_slice(s![1, .., 2..4])?;
    /// assert_eq!(c.sum(), -6.0);
    /// assert!(c.flush_slice(s![2, .., ..]).is_err()); // axis 0 has length 2
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_slice<I: SliceArg<D>>(&self, info: I) -> Result<()> {
        self.check_slice(&info)?;
        self.flush_view(&self.slice(info))
    }

    /// Runs `change` on the writable slice `self.slice_mut(info)`, then writes exactly
    /// that slice's pages to disk ([`flush_slice`](Self::flush_slice)) and returns what
    /// `change` returned.
    ///
    /// # Errors
    ///
    /// [`Error::SliceOutOfBounds`] if `info` does not fit the array (then `change` is not
    /// run); [`Error::Io`] if the kernel reports a write error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array2::<u8>::create_file(&path, (3, 4))? };
    /// let changed = c.with_slice_mut(s![1, ..;2], |mut row| {
    ///     row.fill(7);
    ///     row.len()
    /// })?;
    /// assert_eq!(changed, 2);
    /// assert_eq!(std::fs::read(&path)?, [0, 0, 0, 0, 7, 0, 7, 0, 0, 0, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_slice_mut<I, R>(
        &mut self,
        info: I,
        change: impl FnOnce(ArrayViewMut<'_, A, I::OutDim>) -> R,
    ) -> Result<R>
    where
        I: SliceArg<D>,
    {
        self.check_slice(&info)?;
        let result = change(self.slice_mut(&info));
        self.flush_view(&self.slice(&info))?;
        Ok(result)
    }

    /// Checks `info` against the array's shape as ndarray's `slice` does, so that it
    /// cannot panic.
    fn check_slice<I: SliceArg<D>>(&self, info: &I) -> Result<()> {
        let fail = |reason: String| Error::SliceOutOfBounds {
            path: Some(self.backing.path.clone()),
            slice: slice_text(info.as_ref()),
            shape: self.shape().to_vec(),
            reason,
        };
        if info.in_ndim() != self.ndim() {
            let (n, ndim) = (info.in_ndim(), self.ndim());
            return Err(fail(format!("it indexes {n} axes, the array has {ndim}")));
        }
        let axes = info.as_ref().iter().filter(|e| !matches!(e, SliceInfoElem::NewAxis));
        for (axis, (elem, &len)) in axes.zip(self.shape()).enumerate() {
            // A negative bound counts from the end; ndarray's `abs_index`.
            let abs = |i: isize| -> Option<usize> {
                if i < 0 { len.checked_sub(i.unsigned_abs()) } else { Some(i.unsigned_abs()) }
            };
            match *elem {
                SliceInfoElem::Index(i) => {
                    if abs(i).is_none_or(|i| i >= len) {
                        return Err(fail(format!(
                            "index {i} is out of axis {axis} of length {len}"
                        )));
                    }
                }
                SliceInfoElem::Slice { start, end, step } => {
                    if step == 0 {
                        return Err(fail(format!("the step of axis {axis} is 0")));
                    }
                    let start_ok = abs(start).is_some_and(|s| s <= len);
                    let end_ok = end.is_none_or(|e| abs(e).is_some_and(|e| e <= len));
                    if !start_ok || !end_ok {
                        return Err(fail(format!(
                            "a bound is past the end of axis {axis} of length {len}"
                        )));
                    }
                }
                SliceInfoElem::NewAxis => {}
            }
        }
        Ok(())
    }
}

/// A slice as `s![...]` writes it: `1, .., 2..4, ..;2, NewAxis`.
fn slice_text(elems: &[SliceInfoElem]) -> String {
    let text: Vec<String> = elems
        .iter()
        .map(|elem| match *elem {
            SliceInfoElem::Index(i) => i.to_string(),
            SliceInfoElem::NewAxis => "NewAxis".to_owned(),
            SliceInfoElem::Slice { start, end, step } => {
                let start = if start == 0 { String::new() } else { start.to_string() };
                let end = end.map(|e| e.to_string()).unwrap_or_default();
                let step = if step == 1 { String::new() } else { format!(";{step}") };
                format!("{start}..{end}{step}")
            }
        })
        .collect();
    text.join(", ")
}
