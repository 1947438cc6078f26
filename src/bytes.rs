//! Byte buffers as array views: safe, and independent of any mapping crate.

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{ArrayView, ArrayViewMut, Dimension, ShapeBuilder, StrideShape};

use crate::error::{Error, Result};
use crate::layout::{ArrayLayout, Elem};
use crate::private::Sealed;

/// Views a byte buffer as an [`ArrayView`] without copying.
///
/// Works on any `&[u8]`: a `Vec`, a [`memmap2::Mmap`](https://docs.rs/memmap2), a network
/// buffer. This trait is sealed: it is implemented for [`ArrayView`] only.
pub trait ViewBytesExt<'a, D: Dimension>: Sized + Sealed {
    /// Views `bytes` as an array of shape `shape` (C order, `.f()`, or `.strides(...)`).
    ///
    /// # Errors
    ///
    /// - [`Error::LengthMismatch`] if `bytes.len()` differs from the bytes the shape spans.
    /// - [`Error::Misaligned`] if `bytes` does not start at a multiple of the element
    ///   type's alignment (`offset` is then the buffer's address).
    /// - [`Error::Overflow`] if the shape's size overflows `isize::MAX` bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let bytes: &[u8] = bytemuck::cast_slice(&data);
    /// let a = ArrayView2::<f32>::view_bytes(bytes, (2, 3))?;
    /// assert_eq!(a, array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// let t = ArrayView2::<f32>::view_bytes(bytes, (3, 2).f())?;
    /// assert_eq!(t, a.t());
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    fn view_bytes<Sh: Into<StrideShape<D>>>(bytes: &'a [u8], shape: Sh) -> Result<Self>;
}

/// Views a mutable byte buffer as an [`ArrayViewMut`] without copying.
///
/// This trait is sealed: it is implemented for [`ArrayViewMut`] only.
pub trait ViewBytesMutExt<'a, D: Dimension>: Sized + Sealed {
    /// Views `bytes` as a writable array of shape `shape`.
    ///
    /// # Errors
    ///
    /// As [`ViewBytesExt::view_bytes`], and [`Error::OverlappingStrides`] if the strides
    /// would make two elements share memory.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut data = [0u16; 4];
    /// let mut a = ArrayViewMut2::<u16>::view_bytes_mut(bytemuck::cast_slice_mut(&mut data), (2, 2))?;
    /// a[[1, 0]] = 7;
    /// assert_eq!(data, [0, 0, 7, 0]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    fn view_bytes_mut<Sh: Into<StrideShape<D>>>(bytes: &'a mut [u8], shape: Sh) -> Result<Self>;
}

impl<'a, A: AnyBitPattern, D: Dimension> ViewBytesExt<'a, D> for ArrayView<'a, A, D> {
    fn view_bytes<Sh: Into<StrideShape<D>>>(bytes: &'a [u8], shape: Sh) -> Result<Self> {
        let layout = ArrayLayout::new(&shape.into(), Elem::of::<A>(), false)?;
        view(bytes, &layout)
    }
}

impl<'a, A: Pod, D: Dimension> ViewBytesMutExt<'a, D> for ArrayViewMut<'a, A, D> {
    fn view_bytes_mut<Sh: Into<StrideShape<D>>>(bytes: &'a mut [u8], shape: Sh) -> Result<Self> {
        let layout = ArrayLayout::new(&shape.into(), Elem::of::<A>(), true)?;
        view_mut(bytes, &layout)
    }
}

/// Views `bytes`, which must span exactly `layout`, as an array.
pub(crate) fn view<'a, A: AnyBitPattern, D: Dimension>(
    bytes: &'a [u8],
    layout: &ArrayLayout<D>,
) -> Result<ArrayView<'a, A, D>> {
    check_len(bytes.len(), layout)?;
    // An empty array needs no bytes, so its data pointer need not lie in `bytes` (which
    // may be misaligned): a dangling, aligned empty slice serves.
    let elems: &[A] = if bytes.is_empty() {
        &[]
    } else {
        bytemuck::try_cast_slice(bytes).map_err(|_| misaligned::<A>(bytes.as_ptr()))?
    };
    ArrayView::from_shape(shape_for_view(layout), elems)
        .map_err(|error| Error::Shape { path: None, error })
}

/// Views `bytes`, which must span exactly `layout`, as a writable array.
pub(crate) fn view_mut<'a, A: Pod, D: Dimension>(
    bytes: &'a mut [u8],
    layout: &ArrayLayout<D>,
) -> Result<ArrayViewMut<'a, A, D>> {
    check_len(bytes.len(), layout)?;
    let elems: &mut [A] = if bytes.is_empty() {
        &mut []
    } else {
        let addr = bytes.as_ptr();
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| misaligned::<A>(addr))?
    };
    ArrayViewMut::from_shape(shape_for_view(layout), elems)
        .map_err(|error| Error::Shape { path: None, error })
}

/// The layout's shape and strides for ndarray's view constructors; an empty array gets
/// strides of zero, since it spans no bytes and ndarray would still ask that the steps of
/// its non-empty axes fit in the (empty) slice.
fn shape_for_view<D: Dimension>(layout: &ArrayLayout<D>) -> StrideShape<D> {
    if layout.dim.size() == 0 {
        layout.dim.clone().strides(D::zeros(layout.dim.ndim()))
    } else {
        layout.stride_shape()
    }
}

fn check_len<D>(actual: usize, layout: &ArrayLayout<D>) -> Result<()> {
    if actual == layout.span {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected: layout.span, actual })
    }
}

/// The layout has a whole number of elements, so a failed cast means misalignment.
fn misaligned<A>(addr: *const u8) -> Error {
    Error::Misaligned { path: None, offset: addr as u64, align: align_of::<A>() }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array, Ix2, IxDyn, ShapeBuilder, array};
    use quickcheck::{QuickCheck, TestResult};

    use super::*;

    #[test]
    fn misaligned_buffers_are_rejected() {
        let data = [0u64; 3];
        let bytes: &[u8] = &bytemuck::cast_slice(&data)[1..17];
        let err = ArrayView::<u64, Ix2>::view_bytes(bytes, (1, 2)).unwrap_err();
        assert!(matches!(err, Error::Misaligned { align, .. } if align == align_of::<u64>()));
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let data = [0u32; 6];
        let err =
            ArrayView::<u32, Ix2>::view_bytes(bytemuck::cast_slice(&data), (2, 2)).unwrap_err();
        assert!(matches!(err, Error::LengthMismatch { expected: 16, actual: 24 }));
    }

    #[test]
    fn empty_arrays_view_misaligned_empty_buffers() {
        let data = [0u64; 1];
        let bytes: &[u8] = &bytemuck::cast_slice(&data)[1..1];
        let a = ArrayView::<u64, Ix2>::view_bytes(bytes, (0, 3)).unwrap();
        assert_eq!(a.shape(), &[0, 3]);
    }

    #[test]
    fn overlapping_strides_are_rejected_for_writing_only() {
        let mut data = [0u8; 4];
        assert!(ArrayView::<u8, Ix2>::view_bytes(&data, (2, 3).strides((1, 1))).is_ok());
        let err =
            ArrayViewMut::<u8, Ix2>::view_bytes_mut(&mut data, (2, 3).strides((1, 1))).unwrap_err();
        assert!(matches!(err, Error::OverlappingStrides { .. }));
    }

    #[test]
    fn negative_strides_view_the_buffer_backwards() {
        let data = [1i32, 2, 3, 4, 5, 6];
        let shape = (2, 3).strides((3, (-1isize).cast_unsigned()));
        let a = ArrayView::<i32, Ix2>::view_bytes(bytemuck::cast_slice(&data), shape).unwrap();
        assert_eq!(a, array![[3, 2, 1], [6, 5, 4]]);
    }

    /// Random shapes, orders and permutations: the view equals `from_shape_vec` of the
    /// same elements (the naive oracle).
    #[test]
    fn view_equals_owned_array() {
        #[allow(clippy::needless_pass_by_value)] // quickcheck generates owned arguments
        fn prop(dims: Vec<u8>, seed: Vec<i32>, fortran: bool, rotate: u8) -> TestResult {
            let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
            let len: usize = shape.iter().product();
            if seed.is_empty() && len > 0 {
                return TestResult::discard();
            }
            let data: Vec<i32> = seed.iter().copied().cycle().take(len).collect();
            let bytes: &[u8] = bytemuck::cast_slice(&data);
            let owned = Array::from_shape_vec(IxDyn(&shape).set_f(fortran), data.clone()).unwrap();
            let view =
                ArrayView::<i32, IxDyn>::view_bytes(bytes, IxDyn(&shape).set_f(fortran)).unwrap();
            // A permuted layout: the same memory seen through reordered axes and strides.
            let mut axes: Vec<usize> = (0..shape.len()).collect();
            if !axes.is_empty() {
                let k = usize::from(rotate) % axes.len();
                axes.rotate_left(k);
            }
            let permuted_owned = owned.view().permuted_axes(axes.clone());
            let dims: Vec<usize> = permuted_owned.shape().to_vec();
            let strides: Vec<usize> =
                permuted_owned.strides().iter().map(|s| s.cast_unsigned()).collect();
            let permuted =
                ArrayView::<i32, IxDyn>::view_bytes(bytes, IxDyn(&dims).strides(IxDyn(&strides)));
            TestResult::from_bool(
                view == owned && permuted.is_ok_and(|p| p == permuted_owned || len == 0),
            )
        }
        QuickCheck::new()
            .tests(500)
            .quickcheck(prop as fn(Vec<u8>, Vec<i32>, bool, u8) -> TestResult);
    }
}
