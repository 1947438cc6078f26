//! Structured dtypes (NumPy's record arrays): [`NpyRecord`], [`npy_record!`](crate::npy_record),
//! the [`RecordLayout`] of their fields, and zero-copy field views ([`RecordFieldsExt`]).
//!
//! A structured `.npy` header states its dtype as a list, as `np.save` writes it
//! (`dtype.descr`): `[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]`, with `('', '|V4')` entries
//! for padding (NumPy writes one for every gap of an `align=True` dtype and at its end), a
//! list for a nested record (`('p', [('a', '|u1'), ('b', '<i4')])`) and a third item for a
//! sub-array (`('pos', '<f4', (3,))`). Offsets follow from the order: each entry starts where
//! the previous one ended.
//!
//! Why a declarative macro rather than a derive in a companion proc-macro crate: the
//! correspondence needs no parsing beyond a struct's field list, which `macro_rules!` matches
//! directly; offsets come from `core::mem::offset_of!` and types from the [`NpyField`] trait,
//! both checked by the compiler; and a proc-macro crate would add `syn`/`quote` to every
//! user's build and a second crate to publish and keep in step for no extra checking. The
//! `Pod` proof is bytemuck's own derive, so the macro holds no `unsafe`.

use std::fmt::{self, Write as _};

use ndarray::{
    ArrayRef, ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, Dimension, IxDyn, ShapeBuilder,
};

use super::descr::{Descr, Kind};
use super::literal::{HeaderText, Node, Value};
use crate::error::{Error, HeaderError, Result};

mod fields;
mod parse;

pub use fields::RecordFieldsExt;
pub(super) use parse::parse;

/// A `#[repr(C)]` struct that is one record of a structured NumPy dtype.
///
/// Implement it with [`npy_record!`](crate::npy_record), which declares the struct, derives
/// bytemuck's `Pod` (so the struct has no padding bytes the compiler hides: NumPy's padding
/// is spelled as fields named `_...`, `[u8; N]`) and states each field's name, offset and
/// dtype. Records are [`NpyElement`](crate::npy::NpyElement)s: [`MapNpy`](crate::MapNpy),
/// [`SaveNpyExt`](crate::SaveNpyExt), [`read_npy`](crate::npy::read_npy) and growth work on
/// them as on numbers, after a check of the file's fields against [`layout`](Self::layout)
/// (names, offsets, dtypes, nesting, sub-arrays, itemsize).
///
/// A record type has at least one byte, and its layout's itemsize is its size: a type of
/// zero bytes (`npy_record!(struct Z {})`), or a hand-written layout that states another
/// itemsize, has no dtype, and every path refuses it with a typed error
/// ([`Error::DtypeMismatch`] against a file, [`Error::Npy`] with
/// [`HeaderError::UnsupportedDtype`] when saved or created).
///
/// # Example
///
/// ```
/// use ndmmap::npy::NpyRecord;
///
/// ndmmap::npy_record!(struct Point { x: f32, y: f32, id: i64 });
/// assert_eq!(Point::layout().to_string(), "[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]");
/// ```
pub trait NpyRecord: bytemuck::Pod + Send + Sync + 'static {
    /// The record's fields as NumPy's dtype states them.
    fn layout() -> RecordLayout;
}

/// The fields of a structured dtype: names, offsets, dtypes and the itemsize.
///
/// [`Display`](fmt::Display) writes NumPy's `dtype.descr`, as `np.save` writes it (with
/// `('', '|V<n>')` for gaps), e.g. `[('a', '|u1'), ('', '|V7'), ('b', '<f8')]`. Two layouts are
/// equal when NumPy's dtypes are (padding is only where the fields are not).
///
/// # Example
///
/// ```
/// use ndmmap::npy::NpyRecord;
///
/// ndmmap::npy_record!(struct Aligned { a: u8, _pad: [u8; 7], b: f64 });
/// let layout = Aligned::layout();
/// assert_eq!(layout.itemsize(), 16);
/// assert_eq!(layout.to_string(), "[('a', '|u1'), ('', '|V7'), ('b', '<f8')]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordLayout {
    fields: Vec<Field>,
    itemsize: usize,
}

/// One named field of a [`RecordLayout`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Field {
    name: String,
    offset: usize,
    ty: Ty,
}

/// The dtype of one field of a record, as [`NpyField::field_type`] gives it.
///
/// # Example
///
/// ```
/// use ndmmap::npy::NpyField;
///
/// assert_eq!(<[f32; 3]>::field_type().to_string(), "'<f4', (3,)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldType(Ty);

/// A field's dtype.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Ty {
    /// A number.
    Plain(Descr),
    /// A nested record.
    Record(RecordLayout),
    /// A sub-array of a non-array type, in C order.
    Array(Box<Ty>, Vec<usize>),
}

impl Ty {
    fn size(&self) -> usize {
        match self {
            Ty::Plain(descr) => descr.size(),
            Ty::Record(layout) => layout.itemsize,
            Ty::Array(elem, shape) => shape.iter().product::<usize>() * elem.size(),
        }
    }

    /// The first field (by path) whose byte order is not native.
    fn non_native(&self) -> Option<(String, Descr)> {
        match self {
            Ty::Plain(descr) => (!descr.is_native()).then(|| (String::new(), *descr)),
            Ty::Record(layout) => layout.non_native(),
            Ty::Array(elem, _) => elem.non_native(),
        }
    }

    /// Byte-swaps, in place, the scalars of one value of this type that are not native.
    fn swap_to_native(&self, bytes: &mut [u8]) {
        match self {
            Ty::Plain(descr) if !descr.is_native() => {
                let unit =
                    if descr.kind() == Kind::Complex { descr.size() / 2 } else { descr.size() };
                for scalar in bytes.chunks_exact_mut(unit.max(1)) {
                    scalar.reverse();
                }
            }
            Ty::Plain(_) => {}
            Ty::Record(layout) => layout.swap_to_native(bytes),
            Ty::Array(elem, _) => {
                for item in bytes.chunks_exact_mut(elem.size().max(1)) {
                    elem.swap_to_native(item);
                }
            }
        }
    }

    /// The same type with every number in native byte order.
    fn native(&self) -> Ty {
        match self {
            Ty::Plain(descr) => {
                Ty::Plain(Descr::native(descr.kind(), descr.size()).unwrap_or(*descr))
            }
            Ty::Record(layout) => Ty::Record(layout.native()),
            Ty::Array(elem, shape) => Ty::Array(Box::new(elem.native()), shape.clone()),
        }
    }

    /// `'<f4'`, `[...]`, or `'<f4', (3,)` for a sub-array.
    fn write_descr(&self, out: &mut String) {
        match self {
            Ty::Plain(descr) => {
                let _ = write!(out, "'{descr}'");
            }
            Ty::Record(layout) => {
                let _ = write!(out, "{layout}");
            }
            Ty::Array(elem, shape) => {
                elem.write_descr(out);
                out.push_str(", ");
                out.push_str(&shape_repr(shape));
            }
        }
    }
}

impl fmt::Display for FieldType {
    /// What follows the name in NumPy's descr entry: `'<f4'`, or `'<f4', (3,)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.0.write_descr(&mut out);
        f.write_str(&out)
    }
}

/// Python's repr of a shape tuple.
fn shape_repr(shape: &[usize]) -> String {
    let items: Vec<String> = shape.iter().map(ToString::to_string).collect();
    if items.len() == 1 { format!("({},)", items[0]) } else { format!("({})", items.join(", ")) }
}

/// Python's repr of a field name (names ndmmap writes are Rust identifiers).
fn name_repr(name: &str) -> String {
    if name.contains('\'') && !name.contains('"') {
        format!("\"{name}\"")
    } else {
        format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A type that can be a field of an [`NpyRecord`]: the numbers (`i8`..`u64`, `f32`, `f64`,
/// `Complex<f32>`, `Complex<f64>`, and `half::f16` with the `half` feature), records, and
/// arrays `[T; N]` of them (NumPy's sub-arrays, `('pos', '<f4', (3,))`; `[[f64; 2]; 2]` is
/// `(2, 2)`).
///
/// # Example
///
/// ```
/// use ndmmap::npy::NpyField;
///
/// assert_eq!(<[[f64; 2]; 3]>::field_type().to_string(), "'<f8', (3, 2)");
/// ```
pub trait NpyField: bytemuck::Pod {
    /// The field's dtype.
    fn field_type() -> FieldType;
}

macro_rules! plain_field {
    ($($ty:ty => $descr:expr;)*) => {$(
        impl NpyField for $ty {
            fn field_type() -> FieldType {
                FieldType(Ty::Plain($descr))
            }
        }
    )*};
}

plain_field! {
    i8 => Descr::I8;
    i16 => Descr::I16;
    i32 => Descr::I32;
    i64 => Descr::I64;
    u8 => Descr::U8;
    u16 => Descr::U16;
    u32 => Descr::U32;
    u64 => Descr::U64;
    f32 => Descr::F32;
    f64 => Descr::F64;
    num_complex::Complex<f32> => Descr::COMPLEX_F32;
    num_complex::Complex<f64> => Descr::COMPLEX_F64;
}

#[cfg(feature = "half")]
plain_field! {
    half::f16 => Descr::F16;
}

impl<T: NpyField, const N: usize> NpyField for [T; N] {
    fn field_type() -> FieldType {
        FieldType(match T::field_type().0 {
            Ty::Array(elem, mut shape) => {
                shape.insert(0, N);
                Ty::Array(elem, shape)
            }
            other => Ty::Array(Box::new(other), vec![N]),
        })
    }
}

impl<R: NpyRecord> NpyField for R {
    fn field_type() -> FieldType {
        FieldType(Ty::Record(R::layout()))
    }
}

impl RecordLayout {
    /// The layout of a record of `itemsize` bytes with these `(name, offset, type)` fields, in
    /// declaration order; fields whose name starts with `_` are padding and left out (NumPy
    /// states them as `('', '|V<n>')` gaps). What [`npy_record!`](crate::npy_record) calls.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::npy::{NpyField, RecordLayout};
    ///
    /// let layout = RecordLayout::new(16, [("a", 0, u8::field_type()), ("b", 8, f64::field_type())]);
    /// assert_eq!(layout.to_string(), "[('a', '|u1'), ('', '|V7'), ('b', '<f8')]");
    /// ```
    #[must_use]
    pub fn new<'a>(
        itemsize: usize,
        fields: impl IntoIterator<Item = (&'a str, usize, FieldType)>,
    ) -> RecordLayout {
        let fields = fields
            .into_iter()
            .filter(|(name, _, _)| !name.starts_with('_'))
            .map(|(name, offset, ty)| Field { name: name.to_owned(), offset, ty: ty.0 })
            .collect();
        RecordLayout { fields, itemsize }
    }

    /// The size of one record in bytes (NumPy's `itemsize`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::npy::NpyRecord;
    ///
    /// ndmmap::npy_record!(struct P { x: f32, pos: [f32; 3] });
    /// assert_eq!(P::layout().itemsize(), 16);
    /// ```
    #[must_use]
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    /// The names of the fields, in order (padding left out), like NumPy's `dtype.names`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::npy::NpyRecord;
    ///
    /// ndmmap::npy_record!(struct P { x: f32, _pad: [u8; 4], id: i64 });
    /// assert_eq!(P::layout().names().collect::<Vec<_>>(), ["x", "id"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// The offset and type of field `name`.
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn non_native(&self) -> Option<(String, Descr)> {
        self.fields.iter().find_map(|f| {
            f.ty.non_native().map(|(path, descr)| {
                (if path.is_empty() { f.name.clone() } else { format!("{}.{path}", f.name) }, descr)
            })
        })
    }

    /// Whether every field is in this machine's byte order.
    pub(crate) fn is_native(&self) -> bool {
        self.non_native().is_none()
    }

    fn native(&self) -> RecordLayout {
        RecordLayout {
            fields: self
                .fields
                .iter()
                .map(|f| Field { name: f.name.clone(), offset: f.offset, ty: f.ty.native() })
                .collect(),
            itemsize: self.itemsize,
        }
    }

    /// Byte-swaps the non-native fields of whole records in `bytes`, in place.
    pub(crate) fn swap_to_native(&self, bytes: &mut [u8]) {
        for record in bytes.chunks_exact_mut(self.itemsize.max(1)) {
            for field in &self.fields {
                let end = field.offset.saturating_add(field.ty.size());
                if let Some(value) = record.get_mut(field.offset..end) {
                    field.ty.swap_to_native(value);
                }
            }
        }
    }

    /// The first field (`name` or `outer.inner`) where two layouts differ, or `None`.
    fn first_difference(&self, other: &RecordLayout) -> Option<String> {
        for (i, field) in self.fields.iter().enumerate() {
            match other.fields.get(i) {
                Some(theirs) if theirs == field => {}
                Some(theirs) if theirs.name == field.name && theirs.offset == field.offset => {
                    if let (Ty::Record(a), Ty::Record(b)) = (&field.ty, &theirs.ty)
                        && let Some(inner) = a.first_difference(b)
                    {
                        return Some(format!("{}.{inner}", field.name));
                    }
                    return Some(field.name.clone());
                }
                _ => return Some(field.name.clone()),
            }
        }
        if let Some(extra) = other.fields.get(self.fields.len()) {
            return Some(extra.name.clone());
        }
        (self.itemsize != other.itemsize).then(|| "(itemsize)".to_owned())
    }

    /// Whether the fields follow each other with no gap and fill the record: a packed
    /// dtype, NumPy's default.
    fn is_packed(&self) -> bool {
        let mut at = 0usize;
        for field in &self.fields {
            if field.offset != at {
                return false;
            }
            at = at.saturating_add(field.ty.size());
        }
        at == self.itemsize
    }

    /// Where two layouts have the same fields and differ only in padding, what to change
    /// in the record type: pack it, or spell out NumPy's padding.
    fn padding_hint(&self, file: &RecordLayout) -> &'static str {
        let same_fields = self.fields.len() == file.fields.len()
            && self.fields.iter().zip(&file.fields).all(|(a, b)| a.name == b.name && a.ty == b.ty);
        match (same_fields, self.is_packed(), file.is_packed()) {
            (true, false, true) => {
                "; the file's dtype is packed (NumPy's default, without align=True): declare \
                 the record #[repr(C, packed)], without `_` padding fields"
            }
            (true, true, false) => {
                "; the file's dtype has padding (align=True): spell it as `_pad: [u8; N]` \
                 fields where the file's descr has ('', '|VN')"
            }
            _ => "",
        }
    }

    /// Checks a file's layout (`found`) against the expected one.
    ///
    /// With `convert` (a converting read), fields in the other byte order are accepted.
    pub(crate) fn check(
        &self,
        found: &RecordLayout,
        path: &std::path::Path,
        convert: bool,
    ) -> Result<()> {
        let native = found.native();
        if let Some(field) = self.first_difference(&native) {
            return Err(Error::RecordMismatch {
                path: path.to_path_buf(),
                field,
                expected: self.to_string(),
                found: found.to_string(),
                hint: self.padding_hint(&native),
            });
        }
        if !convert && let Some((field, descr)) = found.non_native() {
            return Err(Error::ByteOrder {
                path: path.to_path_buf(),
                descr: format!("field '{field}' {descr}"),
            });
        }
        Ok(())
    }
}

impl fmt::Display for RecordLayout {
    /// NumPy's `dtype.descr`, as `np.save` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("[");
        let mut at = 0;
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push_str(", ");
            }
            first = false;
        };
        for field in &self.fields {
            if field.offset > at {
                sep(&mut out);
                let _ = write!(out, "('', '|V{}')", field.offset - at);
            }
            sep(&mut out);
            let _ = write!(out, "({}, ", name_repr(&field.name));
            field.ty.write_descr(&mut out);
            out.push(')');
            at = at.max(field.offset.saturating_add(field.ty.size()));
        }
        if self.itemsize > at {
            sep(&mut out);
            let _ = write!(out, "('', '|V{}')", self.itemsize - at);
        }
        out.push(']');
        f.write_str(&out)
    }
}

/// Declares a `#[repr(C)]` struct that is one record of a structured NumPy dtype, and
/// implements [`NpyRecord`](crate::npy::NpyRecord) for it.
///
/// The struct derives `Clone`, `Copy` and bytemuck's `Pod` and `Zeroable` (so your crate
/// needs `bytemuck = { version = "1", features = ["derive"] }`); add any other derives and
/// attributes before `struct`. Field types are [`NpyField`](crate::npy::NpyField)s: numbers,
/// `[T; N]` sub-arrays, other records.
///
/// # Packed and aligned dtypes
///
/// NumPy's dtypes are packed unless made with `align=True`:
/// `np.dtype([('t', '<f8'), ('x', '<f4'), ('id', '<u1')])` is 13 bytes, each field right
/// after the one before. Write such a record `#[repr(C, packed)]`: its layout is then
/// NumPy's, and a packed record array maps like any other (its alignment is 1, so it maps
/// wherever the data starts).
///
/// An `align=True` dtype has padding (`('', '|V7')` in its descr): spell it as a field named
/// `_...` of type `[u8; N]` in a `#[repr(C)]` struct, since `Pod` allows no padding the
/// compiler would hide. A struct with such hidden padding fails to compile, with a message
/// that names both remedies.
///
/// Rust cannot borrow a field of a packed struct (`&r.t` may be misaligned), so read fields
/// of packed records by value (`r.t`, `{ r.t }` in a `format!`), or take them from a whole
/// array with [`field_values`](crate::npy::RecordFieldsExt::field_values), which copies.
/// The zero-copy [`field`](crate::npy::RecordFieldsExt::field) views work for the fields
/// whose offsets and record size are multiples of the field's alignment, and give an error
/// naming `field_values` for the others.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// ndmmap::npy_record! {
///     /// A particle, as `np.dtype([('id', '<i8'), ('pos', '<f4', (3,)), ('m', '<f4')])`.
///     #[derive(Debug, PartialEq)]
///     pub struct Particle { pub id: i64, pub pos: [f32; 3], pub m: f32 }
/// }
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("particles.npy");
/// let particles = Array1::from_elem(4, Particle { id: 1, pos: [0.0, 1.0, 2.0], m: 0.5 });
/// particles.save_npy(&path)?;
/// let mapped = unsafe { Array1::<Particle>::map_npy(&path)? };
/// assert_eq!(mapped[3], particles[3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A packed record, NumPy's default `np.dtype([('t', '<f8'), ('x', '<f4'), ('y', '<f4'),
/// ('id', '<u4')])` of 20 bytes:
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::{NpyRecord, RecordFieldsExt};
///
/// ndmmap::npy_record! {
///     #[repr(C, packed)]
///     pub struct Sample { pub t: f64, pub x: f32, pub y: f32, pub id: u32 }
/// }
/// assert_eq!(Sample::layout().itemsize(), 20);
/// assert_eq!(Sample::layout().to_string(), "[('t', '<f8'), ('x', '<f4'), ('y', '<f4'), ('id', '<u4')]");
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("samples.npy");
/// let samples = Array1::from_shape_fn(3, |i| Sample { t: i as f64, x: 1.0, y: 2.0, id: 7 });
/// samples.save_npy(&path)?;
/// let mapped = unsafe { Array1::<Sample>::map_npy(&path)? };
/// assert_eq!({ mapped[2].t }, 2.0); // a packed field is read by value
/// assert_eq!(mapped.field_values::<f64>("t")?, array![0.0, 1.0, 2.0]); // copied out
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Padding the compiler would insert is refused at compile time; spell it as NumPy does, or
/// pack the struct. `#[repr(C, packed)]` comes first, right after the doc comments (the
/// macro puts it in place of its `#[repr(C)]`):
///
/// ```compile_fail
/// // np.dtype([('a', 'u1'), ('b', '<f8')], align=True) needs `_pad: [u8; 7]` after `a`;
/// // np.dtype([('a', 'u1'), ('b', '<f8')]) needs #[repr(C, packed)].
/// ndmmap::npy_record!(struct Aligned { a: u8, b: f64 });
/// ```
#[macro_export]
macro_rules! npy_record {
    // Packed: `#[repr(C, packed)]` first after the doc comments, in place of `#[repr(C)]`
    // (two `repr` attributes would be refused by bytemuck's derive).
    (
        $(#[doc = $doc:expr])*
        #[repr(C, packed)]
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $crate::npy_record! {
            @emit [C, packed] $(#[doc = $doc])* $(#[$meta])*
            $vis struct $name { $($(#[$fmeta])* $fvis $field: $ty),* }
        }
    };
    (
        @emit [$($repr:tt)*]
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr($($repr)*)]
        #[derive(Clone, Copy, ::bytemuck::Pod, ::bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        // The fields fill the struct: no padding (bytemuck's derive refuses it too, in
        // words that do not say what to do).
        const _: () = ::core::assert!(
            ::core::mem::size_of::<$name>() == 0 $(+ ::core::mem::size_of::<$ty>())*,
            ::core::concat!(
                "npy_record!: struct ", ::core::stringify!($name), " has padding between or ",
                "after its fields; for NumPy's default (packed) dtype write ",
                "#[repr(C, packed)] as its first attribute after the doc comments; for an align=True dtype add the padding ",
                "as `_pad: [u8; N]` fields where NumPy's descr has ('', '|VN')",
            ),
        );

        impl $crate::npy::NpyRecord for $name {
            fn layout() -> $crate::npy::RecordLayout {
                $crate::npy::RecordLayout::new(
                    ::core::mem::size_of::<$name>(),
                    [$((
                        ::core::stringify!($field),
                        ::core::mem::offset_of!($name, $field),
                        <$ty as $crate::npy::NpyField>::field_type(),
                    )),*],
                )
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $crate::npy_record! {
            @emit [C] $(#[$meta])*
            $vis struct $name { $($(#[$fmeta])* $fvis $field: $ty),* }
        }
    };
}

#[cfg(test)]
// quickcheck properties take their arguments by value.
#[allow(clippy::needless_pass_by_value)]
mod tests;
