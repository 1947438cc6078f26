//! Shape, strides, offset and order to a checked byte span: pure arithmetic, no I/O, no
//! `unsafe`.
//!
//! Everything downstream (the byte views and the guards) trusts what this module proves:
//! the element count and byte span fit in `isize::MAX`, the strides stay inside the span,
//! a writable layout has no overlapping elements, and the data offset is aligned.

use std::ops::Range;

use ndarray::{ArrayView, ArrayViewMut, Dimension, ErrorKind, Order, ShapeBuilder, StrideShape};

use crate::error::{Error, Result};
use crate::options::{MapOptions, ShapeSpec};

/// An axis length that asks for the length to be inferred from the file's size, like
/// NumPy's and maparray's `-1`.
///
/// At most one axis may be inferred. It is used with
/// [`MapOptions::shape_inferred`](crate::MapOptions::shape_inferred).
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("rows.bin");
/// std::fs::write(&path, bytemuck::cast_slice(&[0.0f32; 48]))?;
/// let options = MapOptions::new().shape_inferred((INFER, 24), Order::RowMajor);
/// let rows = unsafe { Array2::<f32>::map_file_with(&path, &options)? };
/// assert_eq!(rows.shape(), &[2, 24]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const INFER: usize = usize::MAX;

/// Size and alignment of an element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Elem {
    pub(crate) size: usize,
    pub(crate) align: usize,
}

impl Elem {
    pub(crate) const fn of<A>() -> Self {
        Elem { size: size_of::<A>(), align: align_of::<A>() }
    }
}

/// A shape with resolved strides whose elements provably fit in `span` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArrayLayout<D> {
    /// Axis lengths.
    pub(crate) dim: D,
    /// Strides in elements, in ndarray's encoding (`isize` stored as `usize`).
    pub(crate) strides: D,
    /// Bytes from the lowest to one past the highest element (0 for empty arrays).
    pub(crate) span: usize,
}

/// The length of a slice of units big enough for any shape ndarray accepts.
const UNITS: usize = isize::MAX.unsigned_abs();

impl<D: Dimension> ArrayLayout<D> {
    /// Resolves and checks `shape` for elements of type `elem`; `writable` also rejects
    /// overlapping strides.
    pub(crate) fn new(shape: &StrideShape<D>, elem: Elem, writable: bool) -> Result<Self> {
        if elem.size == 0 {
            return Err(zero_sized());
        }
        let dims = shape.raw_dim().slice().to_vec();
        // ndarray keeps the resolved strides of a `StrideShape` private. A view over a
        // slice of zero-sized units has the same strides a real view would have and costs
        // nothing to build, so ndarray itself resolves C/F/custom strides and checks element
        // counts, stride bounds and (for the mutable probe) overlap.
        let probe = if writable {
            let mut units = [(); UNITS];
            ArrayViewMut::from_shape(shape.clone(), &mut units[..]).map(|v| v.strides().to_vec())
        } else {
            ArrayView::from_shape(shape.clone(), &[(); UNITS][..]).map(|v| v.strides().to_vec())
        };
        let strides = probe.map_err(|source| match source.kind() {
            ErrorKind::Overflow | ErrorKind::OutOfBounds => {
                Error::Overflow { path: None, shape: dims.clone(), elem_size: elem.size }
            }
            ErrorKind::Unsupported => Error::OverlappingStrides {
                path: None,
                shape: dims.clone(),
                strides: shape_strides(shape),
            },
            _ => Error::Shape { path: None, error: source },
        })?;
        let overflow = || Error::Overflow { path: None, shape: dims.clone(), elem_size: elem.size };
        let span = span_elements(&dims, &strides)
            .and_then(|n| n.checked_mul(elem.size))
            .filter(|&bytes| isize::try_from(bytes).is_ok())
            .ok_or_else(overflow)?;
        let dim = shape.raw_dim().clone();
        let mut stride_dim = dim.clone();
        for (slot, &s) in stride_dim.slice_mut().iter_mut().zip(&strides) {
            *slot = s.cast_unsigned();
        }
        Ok(ArrayLayout { dim, strides: stride_dim, span })
    }

    /// The shape with explicit strides, for ndarray's view constructors.
    pub(crate) fn stride_shape(&self) -> StrideShape<D> {
        self.dim.clone().strides(self.strides.clone())
    }
}

/// The strides a `StrideShape` asks for, for error messages only.
fn shape_strides<D: Dimension>(shape: &StrideShape<D>) -> Vec<isize> {
    let probe = ArrayView::from_shape(shape.clone(), &[(); UNITS][..]);
    probe.map(|v| v.strides().to_vec()).unwrap_or_default()
}

/// Elements from the lowest to one past the highest reachable one; `None` on overflow.
fn span_elements(dims: &[usize], strides: &[isize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().zip(strides).try_fold(1usize, |acc, (&d, &s)| {
        (d - 1).checked_mul(s.unsigned_abs()).and_then(|reach| acc.checked_add(reach))
    })
}

fn zero_sized() -> Error {
    Error::InvalidOption { path: None, message: "zero-sized element types cannot be mapped" }
}

/// What a map will be used for, which decides how a short file is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Read-only: the file is never changed.
    Read,
    /// Copy-on-write: the file is never changed, but the view is writable.
    Copy,
    /// Read-write shared: the file may be extended when the options ask for it.
    Write,
    /// A new file, whose length is the layout's end.
    Create,
}

impl Purpose {
    /// Whether views will be writable, so overlapping strides must be refused.
    fn writable(self) -> bool {
        self != Purpose::Read
    }
}

/// Where an array lives in a file: the data offset and the validated layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement<D> {
    /// Byte offset of the array's lowest element.
    pub(crate) offset: u64,
    /// The array's layout.
    pub(crate) layout: ArrayLayout<D>,
}

impl<D> Placement<D> {
    /// One past the last byte of the array's data, from the start of the file.
    pub(crate) fn end(&self) -> u64 {
        // Cannot overflow: `place` checked it.
        self.offset + self.layout.span as u64
    }
}

/// Validates `options` for elements `elem` in a file of `file_len` bytes (0 for a file
/// still to be created) and works out the array's place in it.
pub(crate) fn place<D: Dimension>(
    options: &MapOptions<D>,
    elem: Elem,
    file_len: u64,
    purpose: Purpose,
) -> Result<Placement<D>> {
    if elem.size == 0 {
        return Err(zero_sized());
    }
    let offset = options.offset;
    if !offset.is_multiple_of(elem.align as u64) {
        return Err(Error::Misaligned { path: None, offset, align: elem.align });
    }
    let may_grow = match purpose {
        Purpose::Read | Purpose::Copy => {
            if options.settings.extend {
                return Err(invalid("extend_file(true) applies to read-write maps only"));
            }
            false
        }
        Purpose::Write => options.settings.extend,
        Purpose::Create => {
            if options.len.is_some() {
                return Err(invalid("len() does not apply to creating a file"));
            }
            true
        }
    };
    // The end of the region the array may use: the mapped length, else the file's end.
    let limit = match options.len {
        Some(len) => offset.checked_add(len).ok_or_else(|| Error::Overflow {
            path: None,
            shape: Vec::new(),
            elem_size: elem.size,
        })?,
        None => file_len,
    };
    if options.len.is_some() && limit > file_len && !may_grow {
        return Err(Error::TooShort { path: None, needed: limit, available: file_len });
    }
    if offset > limit && !may_grow {
        return Err(Error::OffsetPastEnd { path: None, offset, len: limit });
    }
    let available = limit.saturating_sub(offset);

    let layout = match &options.shape {
        Some(ShapeSpec::Exact(shape)) => ArrayLayout::new(shape, elem, purpose.writable())?,
        Some(ShapeSpec::Inferred { dims, order }) => {
            infer(dims.clone(), *order, elem, available, purpose)?
        }
        None => {
            let ndim = D::NDIM.unwrap_or(1);
            if purpose == Purpose::Create || ndim != 1 {
                let action = if purpose == Purpose::Create { "create" } else { "map" };
                return Err(Error::ShapeRequired { path: None, action, ndim });
            }
            let mut dims = D::zeros(1);
            dims[0] = INFER;
            infer(dims, Order::RowMajor, elem, available, purpose)?
        }
    };
    let end = offset.checked_add(layout.span as u64).ok_or_else(|| Error::Overflow {
        path: None,
        shape: layout.dim.slice().to_vec(),
        elem_size: elem.size,
    })?;
    let capped = options.len.is_some() && end > limit;
    if capped || (end > file_len && !may_grow) {
        let available = if capped { limit } else { file_len };
        return Err(Error::TooShort { path: None, needed: end, available });
    }
    Ok(Placement { offset, layout })
}

/// Replaces the one [`INFER`] axis of `dims` by the length that fills `available` bytes.
fn infer<D: Dimension>(
    mut dims: D,
    order: Order,
    elem: Elem,
    available: u64,
    purpose: Purpose,
) -> Result<ArrayLayout<D>> {
    let inferred: Vec<usize> =
        dims.slice().iter().enumerate().filter(|&(_, &d)| d == INFER).map(|(i, _)| i).collect();
    if inferred.len() > 1 {
        return Err(Error::MultipleInferredAxes {
            path: None,
            shape: dims.slice().to_vec(),
            count: inferred.len(),
        });
    }
    if let Some(&axis) = inferred.first() {
        if purpose == Purpose::Create {
            return Err(invalid("a new file needs every axis length; INFER cannot be used"));
        }
        let overflow =
            || Error::Overflow { path: None, shape: dims.slice().to_vec(), elem_size: elem.size };
        let step = dims
            .slice()
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != axis)
            .try_fold(elem.size, |acc, (_, &d)| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        if step == 0 {
            return Err(invalid("an axis cannot be inferred when another axis has length 0"));
        }
        let what = if step == elem.size { "element" } else { "step of the inferred axis" };
        if !available.is_multiple_of(step as u64) {
            return Err(Error::NotAMultiple { path: None, available, unit: step, what });
        }
        dims[axis] = usize::try_from(available / step as u64).map_err(|_| overflow())?;
    }
    let shape: StrideShape<D> = dims.set_f(order == Order::ColumnMajor).into();
    ArrayLayout::new(&shape, elem, purpose.writable())
}

fn invalid(message: &'static str) -> Error {
    Error::InvalidOption { path: None, message }
}

/// Whether elements of lengths `dims` and strides `strides` (in elements) lie contiguously
/// in `order`, by NumPy's rule: axes of length 1 impose nothing, and an empty array is
/// contiguous in both orders. The crate's one test of memory order: `.npy` headers, growth
/// and the engine all ask here.
pub(crate) fn is_contiguous(dims: &[usize], strides: &[isize], order: Order) -> bool {
    if dims.contains(&0) {
        return true;
    }
    let mut expected = 1isize;
    let mut fits = |axis: usize| {
        let ok = dims[axis] == 1 || strides[axis] == expected;
        // Cannot overflow: the element count of a valid layout fits in isize.
        expected = expected.wrapping_mul(dims[axis].cast_signed());
        ok
    };
    if order == Order::RowMajor {
        (0..dims.len()).rev().all(&mut fits)
    } else {
        (0..dims.len()).all(&mut fits)
    }
}

/// The memory order of a layout: C when it is contiguous in C order (NumPy's choice for
/// arrays that are both, such as one-dimensional ones), else Fortran when it is contiguous
/// in Fortran order, else `None`.
pub(crate) fn memory_order(dims: &[usize], strides: &[isize]) -> Option<Order> {
    [Order::RowMajor, Order::ColumnMajor]
        .into_iter()
        .find(|&order| is_contiguous(dims, strides, order))
}

/// The outermost memory axis of an array of `ndim` axes in `order`: axis 0 for C order,
/// the last axis for Fortran order (0 without axes). A C- or Fortran-order array grows
/// along it, a `.npy` header leaves room for its length to grow, and the engine cuts
/// arrays contiguous in `order` along it: all of them ask here.
pub(crate) fn outer_axis_of(order: Order, ndim: usize) -> usize {
    if order == Order::RowMajor { 0 } else { ndim.saturating_sub(1) }
}

/// The axis whose steps are the longest in memory among the axes longer than 1 (the first
/// such axis on ties): the outermost axis of a C- or Fortran-order layout, and the axis
/// along which any layout is cut into slabs of whole pages. `None` if no axis is longer
/// than 1.
pub(crate) fn outermost_axis(dims: &[usize], strides: &[isize]) -> Option<usize> {
    (0..dims.len())
        .filter(|&k| dims[k] > 1)
        .max_by_key(|&k| (strides[k].unsigned_abs(), std::cmp::Reverse(k)))
}

/// The addresses that a view's elements occupy, from its lowest byte to one past its
/// highest; `origin` is the address of its first element (index zero on every axis),
/// `elem` the element size and `strides` are in elements. Empty for an empty view.
pub(crate) fn address_span(
    origin: usize,
    elem: usize,
    dims: &[usize],
    strides: &[isize],
) -> Range<usize> {
    if dims.contains(&0) {
        return 0..0;
    }
    let (mut lo, mut hi) = (origin, origin + elem);
    for (&d, &s) in dims.iter().zip(strides) {
        // Fits: the view lies inside an allocation of at most isize::MAX bytes.
        let reach = (d - 1) * s.unsigned_abs() * elem;
        if s < 0 {
            lo -= reach;
        } else {
            hi += reach;
        }
    }
    lo..hi
}

/// Strides in ndarray's encoding (`isize` stored as `usize`, as `Dimension` holds them)
/// as signed element counts.
pub(crate) fn signed_strides<D: Dimension>(strides: &D) -> Vec<isize> {
    strides.slice().iter().map(|&s| s.cast_signed()).collect()
}

pub(crate) mod ranges;

#[cfg(test)]
mod tests;
