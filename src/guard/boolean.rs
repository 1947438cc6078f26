//! `bool` arrays over mapped bytes: the bytes are checked to be 0 or 1 once, after
//! mapping, and then lent as `bool`s.
//!
//! `bool` is not `AnyBitPattern` (a byte of 2 is not a `bool`), so a `&bool` over bytes
//! that could change under it would be unsound. Here the bytes cannot change: the mapping
//! contract (see [`MapFile`](crate::MapFile#safety-of-the-mapping-functions)) already
//! says nothing but the guard modifies them while it lives, and the guard itself writes
//! them only through `&mut bool`, which holds 0 or 1. So one check after mapping keeps
//! every later read valid.

use std::mem::ManuallyDrop;
use std::path::Path;

use ndarray::{ArrayRef, Dimension};

use super::{MmapArray, MmapArrayMut};
use crate::error::{Error, Result};

/// Checks that every element's byte of `bytes`, mapped from `path`, is a valid `bool` (0
/// or 1), reading them in memory order where they are contiguous.
fn check_bools<D: Dimension>(bytes: &ArrayRef<u8, D>, path: &Path) -> Result<()> {
    let is_bool = |&b: &u8| b <= 1;
    let valid = match bytes.as_slice_memory_order() {
        Some(slice) => slice.iter().all(is_bool),
        None => bytes.iter().all(is_bool),
    };
    if valid { Ok(()) } else { Err(Error::InvalidBool { path: path.to_path_buf() }) }
}

impl<D: Dimension> MmapArray<u8, D> {
    /// The same map, as `bool`s, once every element's byte is checked to be 0 or 1.
    pub(crate) fn into_bool(self) -> Result<MmapArray<bool, D>> {
        check_bools(&self.view, &self.backing.path)?;
        let MmapArray { view, map, backing } = self;
        let raw = view.raw_view().cast::<bool>();
        // SAFETY: `raw` has the view's pointer, shape and strides, so it spans the same
        // mapped bytes, which stay valid (and in place) until `map` is unmapped when the
        // new guard drops; `bool` has `u8`'s size and alignment. Each element's byte was
        // just checked to be 0 or 1, a valid `bool`, and it cannot change while the guard
        // lives: the caller of the mapping promised that nothing else modifies the mapped
        // bytes, and a read-only guard does not write. The `'static` lifetime stays
        // inside the guard, as in `MmapArray::new`.
        let view = unsafe { raw.deref_into_view() };
        Ok(MmapArray { view, map, backing })
    }
}

impl<D: Dimension> MmapArrayMut<u8, D> {
    /// The same map, as `bool`s, once every element's byte is checked to be 0 or 1. The
    /// guard then writes only `bool`s (0 or 1) through its views.
    pub(crate) fn into_bool(self) -> Result<MmapArrayMut<bool, D>> {
        check_bools(&self.view, &self.backing.path)?;
        // `MmapArrayMut` has a `Drop`, so its fields are moved out of a `ManuallyDrop`
        // shell, each read exactly once, and the shell is never dropped.
        let mut this = ManuallyDrop::new(self);
        let raw = this.view.raw_view_mut().cast::<bool>();
        // SAFETY: as in `MmapArray::into_bool`: same bytes, same size and alignment, each
        // byte checked to be 0 or 1; and the guard's writes go through `&mut bool`, which
        // holds only 0 or 1. The view is the only reference to the bytes: the old `u8`
        // view inside `this` is never used again.
        let view = unsafe { raw.deref_into_view_mut() };
        // SAFETY: `this` is never dropped or used after these reads, so the map is moved
        // (not duplicated) into the new guard.
        let map = unsafe { std::ptr::read(&raw const this.map) };
        // SAFETY: as above, for the backing (path and open file).
        let backing = unsafe { std::ptr::read(&raw const this.backing) };
        // SAFETY: as above, for the growth state.
        let growth = unsafe { std::ptr::read(&raw const this.growth) };
        Ok(MmapArrayMut { view, map, base: this.base, len: this.len, backing, growth })
    }
}
