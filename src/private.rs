//! The seal on ndmmap's extension traits: they are implemented here and nowhere else.

/// Implemented only by ndmmap, for the types its extension traits are implemented for.
pub trait Sealed {}

impl<A, D> Sealed for ndarray::ArrayView<'_, A, D> {}
impl<A, D> Sealed for ndarray::ArrayViewMut<'_, A, D> {}
impl<A, D> Sealed for ndarray::Array<A, D> {}
