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
/// sub-array, [`field_array`](Self::field_array) views its elements; for packed records, copy
/// the field out with `mapv`).
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
            reason: "the itemsize or the field's offset is not a multiple of the element size",
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
    let field = layout.field(name).filter(|f| f.ty == T::field_type().0).ok_or_else(|| {
        Error::NoSuchField {
            field: name.to_owned(),
            wanted: T::field_type().to_string(),
            layout: layout.to_string(),
        }
    })?;
    in_elements::<T>(field.offset, layout.itemsize, name)
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
    fn field<T: NpyField>(&self, name: &str) -> Result<ArrayView<'_, T, D>> {
        let (index, per_record) = field_geometry::<R, T>(name)?;
        let strides = field_strides::<D>(self.strides(), per_record, name)?;
        let records = self.as_slice_memory_order().ok_or_else(|| not_contiguous(name))?;
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let items: &[T] = bytemuck::try_cast_slice(bytes).map_err(|_| not_contiguous(name))?;
        let items = items.get(index.min(items.len())..).unwrap_or_default();
        ArrayView::from_shape(self.raw_dim().strides(strides), items)
            .map_err(|source| Error::Shape { path: None, source })
    }

    fn field_array<T: NpyField>(&self, name: &str) -> Result<ArrayViewD<'_, T>> {
        let (index, per_record, sub) = array_geometry::<R, T>(name)?;
        let (shape, strides) = array_shape(self.shape(), self.strides(), per_record, &sub, name)?;
        let records = self.as_slice_memory_order().ok_or_else(|| not_contiguous(name))?;
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let items: &[T] = bytemuck::try_cast_slice(bytes).map_err(|_| not_contiguous(name))?;
        let items = items.get(index.min(items.len())..).unwrap_or_default();
        ArrayView::from_shape(shape.strides(strides), items)
            .map_err(|source| Error::Shape { path: None, source })
    }

    fn field_array_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMutD<'_, T>> {
        let (index, per_record, sub) = array_geometry::<R, T>(name)?;
        let (shape, strides) = array_shape(self.shape(), self.strides(), per_record, &sub, name)?;
        let records = self.as_slice_memory_order_mut().ok_or_else(|| not_contiguous(name))?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(records);
        let items: &mut [T] =
            bytemuck::try_cast_slice_mut(bytes).map_err(|_| not_contiguous(name))?;
        let start = index.min(items.len());
        ArrayViewMut::from_shape(shape.strides(strides), &mut items[start..])
            .map_err(|source| Error::Shape { path: None, source })
    }

    fn field_mut<T: NpyField>(&mut self, name: &str) -> Result<ArrayViewMut<'_, T, D>> {
        let (index, per_record) = field_geometry::<R, T>(name)?;
        let strides = field_strides::<D>(self.strides(), per_record, name)?;
        let dim = self.raw_dim();
        let records = self.as_slice_memory_order_mut().ok_or_else(|| not_contiguous(name))?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(records);
        let items: &mut [T] =
            bytemuck::try_cast_slice_mut(bytes).map_err(|_| not_contiguous(name))?;
        let start = index.min(items.len());
        ArrayViewMut::from_shape(dim.strides(strides), &mut items[start..])
            .map_err(|source| Error::Shape { path: None, source })
    }
}
