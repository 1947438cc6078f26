//! Zero-copy views of one field of a record array ([`RecordFieldsExt`]), NumPy's `a['x']`:
//! the field's offset and type checked against the record's layout, its strides counted in
//! the field's elements.

use super::*;

/// Zero-copy views of one field of a record array, like NumPy's `a['x']`.
///
/// The view shares the records' memory, with strides of whole records: writing through
/// [`field_mut`](Self::field_mut) changes the records (and, for a writable map, the file).
/// `T` is the field's Rust type (`f32`, `[f32; 3]` for a sub-array, a nested record).
///
/// # Errors
///
/// [`Error::NoSuchField`] if the record has no field `name` or it is not a `T`;
/// [`Error::FieldView`] if ndarray cannot express the view: the records are not contiguous
/// in memory (take the field of the whole array, then slice), or their itemsize is not a
/// multiple of `T`'s size or the field's offset not a multiple of `T`'s alignment (for a
/// sub-array, [`field_array`](Self::field_array) views its elements; for packed records,
/// [`field_values`](Self::field_values) copies the field out), or the records' memory does
/// not start at a multiple of `T`'s alignment (packed records in memory of their own).
///
/// # Packed records
///
/// The borrowing views refuse at run time, with an [`Error::FieldView`] that names
/// [`field_values`](Self::field_values), the fields of a packed record
/// (`#[repr(C, packed)]`, NumPy's default dtypes) that are not aligned for their type; the
/// aligned ones (a `<f4` at offset 8 of 20-byte records) are viewed in place as in any
/// record. A view is never made of misaligned memory: every view is bytemuck's checked
/// cast.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::RecordFieldsExt;
///
/// ndmmap::npy_record!(#[derive(Debug)] struct Point { x: f32, y: f32, id: i64 });
/// let mut points = Array1::from_vec(vec![
///     Point { x: 1.0, y: 2.0, id: 7 },
///     Point { x: 3.0, y: 4.0, id: 8 },
/// ]);
/// assert_eq!(points.field::<f32>("y")?, array![2.0f32, 4.0]);
/// points.field_mut::<i64>("id")?.fill(0);
/// assert_eq!(points[1].id, 0);
/// # Ok::<(), ndmmap::Error>(())
/// ```
pub trait RecordFieldsExt<R: NpyRecord, D: Dimension> {
    /// A view of field `name` of every record.
    ///
    /// # Errors
    ///
    /// See the [trait](RecordFieldsExt).
    fn field<T: NpyField>(&self, name: &str) -> Result<ArrayView<'_, T, D>>;

    /// A mutable view of field `name` of every record.
    ///
    /// # Errors
    ///
    /// See the [trait](RecordFieldsExt).
    fn field_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMut<'_, T, D>>;

    /// A view of field `name` as NumPy's `a['pos']` shapes it: a sub-array field of shape
    /// `(3,)` adds that axis after the records' axes, with `T` its element type (`f32` for
    /// `('pos', '<f4', (3,))`). Works where [`field`](Self::field) of the whole `[f32; 3]`
    /// cannot: the records' size need only be a multiple of `T`'s.
    ///
    /// # Errors
    ///
    /// See the [trait](RecordFieldsExt); [`Error::NoSuchField`] if the field's elements
    /// are not `T`s.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::RecordFieldsExt;
    ///
    /// ndmmap::npy_record!(struct Body { id: i64, pos: [f32; 3], m: f32 });
    /// let bodies = Array1::from_elem(2, Body { id: 1, pos: [1.0, 2.0, 3.0], m: 4.0 });
    /// let pos = bodies.field_array::<f32>("pos")?; // a['pos']
    /// assert_eq!(pos.shape(), [2, 3]);
    /// assert_eq!(pos[[1, 2]], 3.0);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    fn field_array<T: NpyField>(&self, name: &str) -> Result<ArrayViewD<'_, T>>;

    /// A mutable [`field_array`](Self::field_array).
    ///
    /// # Errors
    ///
    /// See [`field_array`](Self::field_array).
    fn field_array_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMutD<'_, T>>;

    /// Field `name` of every record, copied into a new array of the records' shape: what
    /// works for every field of every record, packed or not, whatever its alignment and the
    /// records' strides (NumPy's `a['t'].copy()`). `T` is the field's Rust type, as for
    /// [`field`](Self::field). Each value is read unaligned, so this is the way to take a
    /// misaligned field of packed records.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchField`] if the record has no field `name` or it is not a `T`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::RecordFieldsExt;
    ///
    /// // np.dtype([('a', 'u1'), ('b', '<f8')]): 9 bytes, `b` at offset 1.
    /// ndmmap::npy_record!(#[repr(C, packed)] struct Packed { a: u8, b: f64 });
    /// let records = Array1::from_shape_fn(3, |i| Packed { a: 1, b: i as f64 / 2.0 });
    /// assert!(matches!(records.field::<f64>("b"), Err(ndmmap::Error::FieldView { .. })));
    /// assert_eq!(records.field_values::<f64>("b")?, array![0.0, 0.5, 1.0]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    fn field_values<T: NpyField>(&self, name: &str) -> Result<ndarray::Array<T, D>>;
}

/// Where the elements of field `name` are, in units of `T`: the field's first element in a
/// record, the records' stride, and the sub-array's shape (empty for a plain field).
fn array_geometry<R: NpyRecord, T: NpyField>(name: &str) -> Result<(usize, usize, Vec<usize>)> {
    let layout = R::layout();
    let want = T::field_type().0;
    let found = layout.field(name).and_then(|f| match &f.ty {
        Ty::Array(elem, shape) if **elem == want => Some((f.offset, shape.clone())),
        ty if *ty == want => Some((f.offset, Vec::new())),
        _ => None,
    });
    let (offset, shape) = found.ok_or_else(|| Error::NoSuchField {
        field: name.to_owned(),
        wanted: T::field_type().to_string(),
        layout: layout.to_string(),
    })?;
    let (index, per_record) = in_elements::<T>(offset, layout.itemsize, name)?;
    Ok((index, per_record, shape))
}

/// A field at byte `offset` of records of `itemsize` bytes, in units of `T`: its index in a
/// record and the records' stride; an error where `T`s cannot tile the records there.
fn in_elements<T>(offset: usize, itemsize: usize, name: &str) -> Result<(usize, usize)> {
    let size = size_of::<T>();
    let tiles = |n: usize| n.is_multiple_of(size);
    if size == 0 || !tiles(itemsize) || !tiles(offset) || !offset.is_multiple_of(align_of::<T>()) {
        return Err(Error::FieldView {
            field: name.to_owned(),
            reason: "the itemsize or the field's offset is not a multiple of the field type's \
                     size and alignment (as in packed records); copy the field out with \
                     field_values, or view a sub-array's elements with field_array",
        });
    }
    Ok((offset / size, itemsize / size))
}

/// The shape and strides (in `T`s) of a field's elements: the records' axes, then the
/// sub-array's (C order).
fn array_shape(
    dims: &[usize],
    strides: &[isize],
    per_record: usize,
    sub: &[usize],
    name: &str,
) -> Result<(IxDyn, IxDyn)> {
    let mut shape = dims.to_vec();
    shape.extend_from_slice(sub);
    let mut out: Vec<usize> = Vec::with_capacity(shape.len());
    for &s in strides {
        out.push(
            usize::try_from(s)
                .ok()
                .and_then(|s| s.checked_mul(per_record))
                .ok_or_else(|| not_contiguous(name))?,
        );
    }
    let mut inner = vec![0; sub.len()];
    let mut step = 1usize;
    for (i, &d) in sub.iter().enumerate().rev() {
        inner[i] = step;
        step = step.saturating_mul(d);
    }
    out.extend(inner);
    Ok((IxDyn(&shape), IxDyn(&out)))
}

/// Where field `name` is, in units of `T`: its index in a record and the records' stride.
fn field_geometry<R: NpyRecord, T: NpyField>(name: &str) -> Result<(usize, usize)> {
    let layout = R::layout();
    in_elements::<T>(field_offset::<T>(&layout, name)?, layout.itemsize, name)
}

/// The byte offset of field `name` of type `T` in a record.
fn field_offset<T: NpyField>(layout: &RecordLayout, name: &str) -> Result<usize> {
    let field = layout.field(name).filter(|f| f.ty == T::field_type().0).ok_or_else(|| {
        Error::NoSuchField {
            field: name.to_owned(),
            wanted: T::field_type().to_string(),
            layout: layout.to_string(),
        }
    })?;
    Ok(field.offset)
}

/// The records' memory is not aligned for `T`: packed records in memory of their own.
fn misaligned(name: &str) -> Error {
    Error::FieldView {
        field: name.to_owned(),
        reason: "the records' memory does not start at a multiple of the field type's \
                 alignment (packed records); copy the field out with field_values",
    }
}

/// The strides of the field view, in `T`s, or an error for negative strides.
fn field_strides<D: Dimension>(strides: &[isize], per_record: usize, name: &str) -> Result<D> {
    let mut out = D::zeros(strides.len());
    for (o, &s) in out.slice_mut().iter_mut().zip(strides) {
        *o = usize::try_from(s)
            .ok()
            .and_then(|s| s.checked_mul(per_record))
            .ok_or_else(|| not_contiguous(name))?;
    }
    Ok(out)
}

fn not_contiguous(name: &str) -> Error {
    Error::FieldView {
        field: name.to_owned(),
        reason: "the records are not contiguous in memory with non-negative strides",
    }
}

impl<R: NpyRecord, D: Dimension> RecordFieldsExt<R, D> for ArrayRef<R, D> {
    fn field_values<T: NpyField>(&self, name: &str) -> Result<ndarray::Array<T, D>> {
        let offset = field_offset::<T>(&R::layout(), name)?;
        let end = offset.saturating_add(size_of::<T>());
        // The layout's fields lie inside the record (`offset_of!`, `size_of` of the type);
        // a hand-written layout that says otherwise gives zeros, never a panic.
        Ok(self.map(|record| {
            bytemuck::bytes_of(record)
                .get(offset..end)
                .map_or_else(T::zeroed, bytemuck::pod_read_unaligned)
        }))
    }

    fn field<T: NpyField>(&self, name: &str) -> Result<ArrayView<'_, T, D>> {
        let (index, per_record) = field_geometry::<R, T>(name)?;
        let strides = field_strides::<D>(self.strides(), per_record, name)?;
        let records = self.as_slice_memory_order().ok_or_else(|| not_contiguous(name))?;
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let items: &[T] = bytemuck::try_cast_slice(bytes).map_err(|_| misaligned(name))?;
        let items = items.get(index.min(items.len())..).unwrap_or_default();
        ArrayView::from_shape(self.raw_dim().strides(strides), items)
            .map_err(|error| Error::Shape { path: None, error })
    }

    fn field_array<T: NpyField>(&self, name: &str) -> Result<ArrayViewD<'_, T>> {
        let (index, per_record, sub) = array_geometry::<R, T>(name)?;
        let (shape, strides) = array_shape(self.shape(), self.strides(), per_record, &sub, name)?;
        let records = self.as_slice_memory_order().ok_or_else(|| not_contiguous(name))?;
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let items: &[T] = bytemuck::try_cast_slice(bytes).map_err(|_| misaligned(name))?;
        let items = items.get(index.min(items.len())..).unwrap_or_default();
        ArrayView::from_shape(shape.strides(strides), items)
            .map_err(|error| Error::Shape { path: None, error })
    }

    fn field_array_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMutD<'_, T>> {
        let (index, per_record, sub) = array_geometry::<R, T>(name)?;
        let (shape, strides) = array_shape(self.shape(), self.strides(), per_record, &sub, name)?;
        let records = self.as_slice_memory_order_mut().ok_or_else(|| not_contiguous(name))?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(records);
        let items: &mut [T] = bytemuck::try_cast_slice_mut(bytes).map_err(|_| misaligned(name))?;
        let start = index.min(items.len());
        ArrayViewMut::from_shape(shape.strides(strides), &mut items[start..])
            .map_err(|error| Error::Shape { path: None, error })
    }

    fn field_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMut<'_, T, D>> {
        let (index, per_record) = field_geometry::<R, T>(name)?;
        let strides = field_strides::<D>(self.strides(), per_record, name)?;
        let dim = self.raw_dim();
        let records = self.as_slice_memory_order_mut().ok_or_else(|| not_contiguous(name))?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(records);
        let items: &mut [T] = bytemuck::try_cast_slice_mut(bytes).map_err(|_| misaligned(name))?;
        let start = index.min(items.len());
        ArrayViewMut::from_shape(dim.strides(strides), &mut items[start..])
            .map_err(|error| Error::Shape { path: None, error })
    }
}
