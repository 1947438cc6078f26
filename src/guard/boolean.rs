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

use ndarray::Dimension;

use super::{MmapArray, MmapArrayMut};
use crate::error::{Error, Result};

/// Whether every byte of `bytes` is a valid `bool` (0 or 1).
fn all_bools<'a>(mut bytes: impl Iterator<Item = &'a u8>) -> bool {
    bytes.all(|&b| b <= 1)
}

impl<D: Dimension> MmapArray<u8, D> {
    /// The same map, as `bool`s, once every element's byte is checked to be 0 or 1.
    pub(crate) fn into_bool(self) -> Result<MmapArray<bool, D>> {
        let valid = match self.view.as_slice_memory_order() {
            Some(bytes) => all_bools(bytes.iter()),
            None => all_bools(self.view.iter()),
        };
        if !valid {
            return Err(Error::InvalidBool { path: self.backing.path });
        }
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
        let valid = match self.view.as_slice_memory_order() {
            Some(bytes) => all_bools(bytes.iter()),
            None => all_bools(self.view.iter()),
        };
        if !valid {
            return Err(Error::InvalidBool { path: self.backing.path.clone() });
        }
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
