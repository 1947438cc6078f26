//! Shape, strides, offset and order to a checked byte span: pure arithmetic, no I/O, no
//! `unsafe`.
//!
//! Everything downstream (the byte views and the guards) trusts what this module proves:
//! the element count and byte span fit in `isize::MAX`, the strides stay inside the span,
//! a writable layout has no overlapping elements, and the data offset is aligned.

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
/// // SAFETY: no other process touches files in this fresh temporary folder.
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
            _ => Error::Shape { path: None, source },
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
pub(crate) struct FilePlan<D> {
    /// Byte offset of the array's lowest element.
    pub(crate) offset: u64,
    /// The array's layout.
    pub(crate) layout: ArrayLayout<D>,
}

impl<D> FilePlan<D> {
    /// One past the last byte of the array's data, from the start of the file.
    pub(crate) fn end(&self) -> u64 {
        // Cannot overflow: `plan` checked it.
        self.offset + self.layout.span as u64
    }
}

/// Validates `options` for elements `elem` in a file of `file_len` bytes (0 for a file
/// still to be created) and works out the array's place in it.
pub(crate) fn plan<D: Dimension>(
    options: &MapOptions<D>,
    elem: Elem,
    file_len: u64,
    purpose: Purpose,
) -> Result<FilePlan<D>> {
    if elem.size == 0 {
        return Err(zero_sized());
    }
    let offset = options.offset;
    if !offset.is_multiple_of(elem.align as u64) {
        return Err(Error::Misaligned { path: None, offset, align: elem.align });
    }
    let may_grow = match purpose {
        Purpose::Read | Purpose::Copy => {
            if options.extend {
                return Err(invalid("extend_file(true) applies to read-write maps only"));
            }
            false
        }
        Purpose::Write => options.extend,
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
    Ok(FilePlan { offset, layout })
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

#[cfg(test)]
mod tests {
    use ndarray::{Ix1, Ix2, Ix3, IxDyn};

    use super::*;

    const F64: Elem = Elem::of::<f64>();

    fn layout<D: Dimension>(shape: impl Into<StrideShape<D>>) -> Result<ArrayLayout<D>> {
        ArrayLayout::new(&shape.into(), F64, false)
    }

    #[test]
    fn c_and_f_orders_resolve_their_strides() {
        let c = layout::<Ix2>((3, 4)).unwrap();
        assert_eq!((c.strides[0], c.strides[1], c.span), (4, 1, 96));
        let f = layout::<Ix2>((3, 4).f()).unwrap();
        assert_eq!((f.strides[0], f.strides[1], f.span), (1, 3, 96));
    }

    #[test]
    fn custom_and_negative_strides_span_their_reach() {
        let l = layout::<Ix2>((2, 3).strides((10, 2))).unwrap();
        assert_eq!(l.span, (10 + 2 * 2 + 1) * 8);
        let neg = layout::<Ix2>((2, 3).strides(((-3isize).cast_unsigned(), 1))).unwrap();
        assert_eq!(neg.span, (3 + 2 + 1) * 8);
    }

    #[test]
    fn empty_shapes_span_nothing() {
        assert_eq!(layout::<Ix3>((3, 0, 2)).unwrap().span, 0);
        assert_eq!(layout::<IxDyn>(IxDyn(&[])).unwrap().span, 8);
    }

    #[test]
    fn overflow_is_reported() {
        let err = layout::<Ix2>((1 << 40, 1 << 40)).unwrap_err();
        assert!(matches!(err, Error::Overflow { elem_size: 8, .. }));
        let bytes = layout::<Ix1>(isize::MAX as usize / 4).unwrap_err();
        assert!(matches!(bytes, Error::Overflow { .. }));
    }

    #[test]
    fn overlap_is_only_rejected_when_writable() {
        let shape: StrideShape<Ix2> = (3, 4).strides((1, 1));
        assert!(ArrayLayout::new(&shape, F64, false).is_ok());
        let err = ArrayLayout::new(&shape, F64, true).unwrap_err();
        assert!(matches!(err, Error::OverlappingStrides { ref strides, .. } if strides == &[1, 1]));
    }

    fn opts<D: Dimension>() -> MapOptions<D> {
        MapOptions::new()
    }

    #[test]
    fn flat_length_is_inferred_from_the_file() {
        let p = plan(&opts::<Ix1>(), F64, 80, Purpose::Read).unwrap();
        assert_eq!((p.layout.dim[0], p.end()), (10, 80));
        let p = plan(&opts::<Ix1>().offset(16), F64, 80, Purpose::Read).unwrap();
        assert_eq!((p.layout.dim[0], p.offset, p.end()), (8, 16, 80));
    }

    #[test]
    fn inferred_axis_in_f_order() {
        let o = opts::<Ix2>().shape_inferred((3, INFER), Order::ColumnMajor);
        let p = plan(&o, F64, 3 * 5 * 8, Purpose::Read).unwrap();
        assert_eq!(p.layout.dim, Ix2(3, 5));
        assert_eq!(p.layout.strides, Ix2(1, 3));
    }

    #[test]
    fn plan_errors() {
        let e = plan(&opts::<Ix1>(), F64, 81, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::NotAMultiple { available: 81, unit: 8, .. }));
        let e = plan(&opts::<Ix1>().offset(3), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::Misaligned { offset: 3, align: 8, .. }));
        let e = plan(&opts::<Ix1>().offset(88), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::OffsetPastEnd { offset: 88, len: 80, .. }));
        let e = plan(&opts::<Ix1>().shape(11), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::TooShort { needed: 88, available: 80, .. }));
        let e = plan(&opts::<Ix2>(), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::ShapeRequired { ndim: 2, .. }));
        let two = opts::<Ix2>().shape_inferred((INFER, INFER), Order::RowMajor);
        let e = plan(&two, F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::MultipleInferredAxes { count: 2, .. }));
        let e = plan(&opts::<Ix1>().shape(4).len(16), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::TooShort { needed: 32, available: 16, .. }));
    }

    #[test]
    fn writable_maps_grow_only_when_asked() {
        let short = opts::<Ix1>().shape(11);
        assert!(matches!(plan(&short, F64, 80, Purpose::Write), Err(Error::TooShort { .. })));
        let p = plan(&short.extend_file(true), F64, 80, Purpose::Write).unwrap();
        assert_eq!(p.end(), 88);
        let e = plan(&opts::<Ix1>().extend_file(true), F64, 80, Purpose::Read).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }));
    }

    #[test]
    fn len_maps_part_of_a_file() {
        let p = plan(&opts::<Ix1>().offset(8).len(16), F64, 80, Purpose::Read).unwrap();
        assert_eq!((p.layout.dim[0], p.end()), (2, 24));
    }
}
