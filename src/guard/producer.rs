//! The guards in ndarray's argument positions, without `&*`: `Zip::from(&mut c).and(&a)`,
//! `azip!`, `par_azip!`, `for x in &a`, `&a + &b`, `&a * 2.0`, `x.dot(&a)`, `*c += &a`,
//! `c += 1.0`, and `{}`/`{:?}` printing as ndarray prints arrays.
//!
//! Everything here forwards to ndarray's own impls on [`ArrayRef`] (through `Deref`), so
//! the semantics (broadcasting, panics on shape mismatch, formatting and elision) are
//! ndarray's. One spelling still needs `&*`: a guard on the left of an operator whose
//! right side is a plain array (`&*guard + &array`), because Rust's coherence rules cannot
//! tell a `&ArrayRef` right-hand side from a scalar one (`&guard + 1.0`) in this crate.

use std::fmt;

use ndarray::linalg::Dot;
use ndarray::{
    Array, ArrayBase, ArrayRef, ArrayView, ArrayViewMut, Data, DataMut, DataOwned, DimMax,
    Dimension, IntoNdProducer, Ix1, Ix2, LinalgScalar, ScalarOperand,
};

use super::{MmapArray, MmapArrayMut, for_each_guard};

impl<'a, A: 'static, D: Dimension> IntoNdProducer for &'a mut MmapArrayMut<A, D> {
    type Item = &'a mut A;
    type Dim = D;
    type Output = ArrayViewMut<'a, A, D>;

    /// A writable view of the guard (`Zip::from(&mut c)`, `azip!((c in &mut c) ...)`).
    fn into_producer(self) -> ArrayViewMut<'a, A, D> {
        self.view_mut()
    }
}

impl<'a, A: 'static, D: Dimension> IntoIterator for &'a mut MmapArrayMut<A, D> {
    type Item = &'a mut A;
    type IntoIter = ndarray::iter::IterMut<'a, A, D>;

    /// The elements in logical (C) order, writable.
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// Binary operators between guards, guards and scalars, and arrays and guards; each
/// returns a new owned array, as ndarray's `&a + &b` does.
macro_rules! binary_ops {
    ($($trt:ident $mth:ident;)*) => {$(
        binary_ops!(@guard MmapArray $trt $mth);
        binary_ops!(@guard MmapArrayMut $trt $mth);
    )*};
    (@guard $guard:ident $trt:ident $mth:ident) => {
        binary_ops!(@by_ref [] &MmapArray<A, D> [] $guard $trt $mth);
        binary_ops!(@by_ref [] &MmapArrayMut<A, D> [] $guard $trt $mth);
        binary_ops!(@by_ref [] &ArrayRef<A, D> [] $guard $trt $mth);
        binary_ops!(@by_ref [S] &ArrayBase<S, D> [S: Data<Elem = A>,] $guard $trt $mth);

        impl<A, B, D> std::ops::$trt<B> for &$guard<A, D>
        where
            A: Clone + std::ops::$trt<B, Output = A> + 'static,
            B: ScalarOperand,
            D: Dimension,
        {
            type Output = Array<A, D>;

            /// As ndarray's operator: a new array in memory, of the full size, computed
            /// from every element of both operands. For arrays larger than memory, see
            /// [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            fn $mth(self, rhs: B) -> Array<A, D> {
                std::ops::$trt::$mth(&**self, rhs)
            }
        }

        impl<A, B, S, D, E> std::ops::$trt<&$guard<B, E>> for ArrayBase<S, D>
        where
            A: Clone + std::ops::$trt<B, Output = A> + 'static,
            B: Clone + 'static,
            S: DataOwned<Elem = A> + DataMut,
            D: Dimension + DimMax<E>,
            E: Dimension,
        {
            type Output = ArrayBase<S, <D as DimMax<E>>::Output>;

            /// As ndarray's operator: a new array in memory, of the full size, computed
            /// from every element of both operands. For arrays larger than memory, see
            /// [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            #[track_caller]
            fn $mth(self, rhs: &$guard<B, E>) -> Self::Output {
                std::ops::$trt::$mth(self, &**rhs)
            }
        }
    };
    // `lhs op &guard` for a borrowed left side (a guard, an `ArrayRef` or an `ArrayBase`),
    // which derefs to the `ArrayRef` whose operator this forwards to.
    (@by_ref [$($s:ident)?] $lhs:ty [$($bound:tt)*] $guard:ident $trt:ident $mth:ident) => {
        impl<A, B, $($s,)? D, E> std::ops::$trt<&$guard<B, E>> for $lhs
        where
            A: Clone + std::ops::$trt<B, Output = A> + 'static,
            B: Clone + 'static,
            $($bound)*
            D: Dimension + DimMax<E>,
            E: Dimension,
        {
            type Output = Array<A, <D as DimMax<E>>::Output>;

            /// As ndarray's operator: a new array in memory, of the full size, computed
            /// from every element of both operands. For arrays larger than memory, see
            /// [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            #[track_caller]
            fn $mth(self, rhs: &$guard<B, E>) -> Self::Output {
                std::ops::$trt::$mth(array_ref(self), &**rhs)
            }
        }
    };
}

/// The array a borrowed left operand derefs to (itself, for an `ArrayRef`).
fn array_ref<A, D>(array: &ArrayRef<A, D>) -> &ArrayRef<A, D> {
    array
}

binary_ops! {
    Add add;
    Sub sub;
    Mul mul;
    Div div;
    Rem rem;
    BitAnd bitand;
    BitOr bitor;
    BitXor bitxor;
    Shl shl;
    Shr shr;
}

/// Compound assignment: `*c += &a` (into any array) and `c += &a`, `c += 1.0` (into a
/// writable guard), in place, as ndarray's `+=` on arrays.
macro_rules! assign_ops {
    ($($trt:ident $mth:ident;)*) => {$(
        assign_ops!(@rhs MmapArray $trt $mth);
        assign_ops!(@rhs MmapArrayMut $trt $mth);

        impl<A, D> std::ops::$trt<A> for MmapArrayMut<A, D>
        where
            A: ScalarOperand + std::ops::$trt<A>,
            D: Dimension,
        {
            /// As ndarray's operator: in place, but every page of the guard stays mapped in
            /// the process until it is dropped. For arrays larger than memory, see
            /// [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            fn $mth(&mut self, rhs: A) {
                std::ops::$trt::$mth(&mut **self, rhs);
            }
        }
    )*};
    (@rhs $guard:ident $trt:ident $mth:ident) => {
        assign_ops!(@into [] ArrayRef<A, D> [] $guard $trt $mth);
        assign_ops!(@into [S] ArrayBase<S, D> [S: DataMut<Elem = A>,] $guard $trt $mth);
        assign_ops!(@into [] MmapArrayMut<A, D> [] $guard $trt $mth);
    };
    // `lhs op= &guard` for a writable left side (an `ArrayRef`, an `ArrayBase` or a
    // writable guard), which derefs to the `ArrayRef` whose operator this forwards to.
    (@into [$($s:ident)?] $lhs:ty [$($bound:tt)*] $guard:ident $trt:ident $mth:ident) => {
        impl<A, $($s,)? D, E> std::ops::$trt<&$guard<A, E>> for $lhs
        where
            A: Clone + std::ops::$trt<A> + 'static,
            $($bound)*
            D: Dimension,
            E: Dimension,
        {
            /// As ndarray's operator: in place, but every page of both operands stays mapped
            /// in the process until the guards are dropped. For arrays larger than memory,
            /// see [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            #[track_caller]
            fn $mth(&mut self, rhs: &$guard<A, E>) {
                std::ops::$trt::$mth(array_mut(self), &**rhs);
            }
        }
    };
}

/// The array a writable left operand derefs to (itself, for an `ArrayRef`).
fn array_mut<A, D>(array: &mut ArrayRef<A, D>) -> &mut ArrayRef<A, D> {
    array
}

assign_ops! {
    AddAssign add_assign;
    SubAssign sub_assign;
    MulAssign mul_assign;
    DivAssign div_assign;
    RemAssign rem_assign;
    BitAndAssign bitand_assign;
    BitOrAssign bitor_assign;
    BitXorAssign bitxor_assign;
    ShlAssign shl_assign;
    ShrAssign shr_assign;
}

/// `x.dot(&a)` with a guard on the right, for the 1-D and 2-D cases ndarray implements.
macro_rules! dot {
    ($($guard:ident: $lhs:ty, $rhs:ty => $out:ty;)*) => {$(
        impl<A: LinalgScalar> Dot<$guard<A, $rhs>> for ArrayRef<A, $lhs> {
            type Output = $out;

            /// As ndarray's `dot`, reading every page of the guard, which stays mapped in the
            /// process until it is dropped. For arrays larger than memory, see
            /// [what stays out of core](https://github.com/ndmmap/ndmmap#what-stays-out-of-core).
            #[track_caller]
            fn dot(&self, rhs: &$guard<A, $rhs>) -> $out {
                Dot::dot(self, &**rhs)
            }
        }
    )*};
}

dot! {
    MmapArray: Ix1, Ix1 => A;
    MmapArray: Ix1, Ix2 => Array<A, Ix1>;
    MmapArray: Ix2, Ix1 => Array<A, Ix1>;
    MmapArray: Ix2, Ix2 => Array<A, Ix2>;
    MmapArrayMut: Ix1, Ix1 => A;
    MmapArrayMut: Ix1, Ix2 => Array<A, Ix1>;
    MmapArrayMut: Ix2, Ix1 => Array<A, Ix1>;
    MmapArrayMut: Ix2, Ix2 => Array<A, Ix2>;
}

/// `{:?}`: the file, the mode, the element type and the data's offset, then ndarray's
/// `Debug` of the array (elements, eliding the middle of large arrays unless `{:#?}`,
/// shape, strides, layout).
fn debug_guard<A: fmt::Debug, D: Dimension>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    array: &ArrayRef<A, D>,
    backing: &super::Backing,
) -> fmt::Result {
    /// ndarray's `Debug` of the array, as a field.
    struct Elements<'a, A, D>(&'a ArrayRef<A, D>);
    impl<A: fmt::Debug, D: Dimension> fmt::Debug for Elements<'_, A, D> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(self.0, f)
        }
    }
    f.debug_struct(name)
        .field("path", &backing.path)
        .field("mode", &backing.mode)
        .field("elem", &std::any::type_name::<A>())
        .field("offset", &backing.offset)
        .field("array", &Elements(array))
        .finish()
}

/// What both guards do alike when read, written once (`guard::for_each_guard` applies it
/// to each): `Zip::from(&a)` and `azip!((x in &a) ...)`, `for x in &a`, `{:?}` and `{}`.
macro_rules! read_traits {
    ($guard:ident, $($examples:tt)*) => {
        impl<'a, A: 'static, D: Dimension> IntoNdProducer for &'a $guard<A, D> {
            type Item = &'a A;
            type Dim = D;
            type Output = ArrayView<'a, A, D>;

            /// A read-only view of the guard, so that `Zip::from(&a)` and
            /// `azip!((x in &a) ...)` take the guard as they take an array.
            fn into_producer(self) -> ArrayView<'a, A, D> {
                self.view()
            }
        }

        impl<'a, A: 'static, D: Dimension> IntoIterator for &'a $guard<A, D> {
            type Item = &'a A;
            type IntoIter = ndarray::iter::Iter<'a, A, D>;

            /// The elements in logical (C) order, as `for x in &array` gives them.
            fn into_iter(self) -> Self::IntoIter {
                self.iter()
            }
        }

        impl<A: fmt::Debug + 'static, D: Dimension> fmt::Debug for $guard<A, D> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                debug_guard(f, stringify!($guard), self, &self.backing)
            }
        }

        /// `{}`: exactly ndarray's `Display` of the array (`[[1, 2], [3, 4]]`, eliding the
        /// middle of large arrays unless `{:#}`).
        impl<A: fmt::Display + 'static, D: Dimension> fmt::Display for $guard<A, D> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

for_each_guard!(read_traits);
