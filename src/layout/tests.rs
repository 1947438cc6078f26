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
    // Each axis fits a `usize`; their product does not, whether an address has 64 bits or 32.
    let root = 1 << (usize::BITS / 2 + 8);
    let err = layout::<Ix2>((root, root)).unwrap_err();
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
    let p = place(&opts::<Ix1>(), F64, 80, Purpose::Read).unwrap();
    assert_eq!((p.layout.dim[0], p.end()), (10, 80));
    let p = place(&opts::<Ix1>().offset(16), F64, 80, Purpose::Read).unwrap();
    assert_eq!((p.layout.dim[0], p.offset, p.end()), (8, 16, 80));
}

#[test]
fn inferred_axis_in_f_order() {
    let o = opts::<Ix2>().shape_inferred((3, INFER), Order::ColumnMajor);
    let p = place(&o, F64, 3 * 5 * 8, Purpose::Read).unwrap();
    assert_eq!(p.layout.dim, Ix2(3, 5));
    assert_eq!(p.layout.strides, Ix2(1, 3));
}

#[test]
fn plan_errors() {
    let e = place(&opts::<Ix1>(), F64, 81, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::NotAMultiple { available: 81, unit: 8, .. }));
    let e = place(&opts::<Ix1>().offset(3), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::Misaligned { offset: 3, align, .. } if align == align_of::<f64>()));
    let e = place(&opts::<Ix1>().offset(88), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::OffsetPastEnd { offset: 88, len: 80, .. }));
    let e = place(&opts::<Ix1>().shape(11), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::TooShort { needed: 88, available: 80, .. }));
    let e = place(&opts::<Ix2>(), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::ShapeRequired { ndim: 2, .. }));
    let two = opts::<Ix2>().shape_inferred((INFER, INFER), Order::RowMajor);
    let e = place(&two, F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::MultipleInferredAxes { count: 2, .. }));
    let e = place(&opts::<Ix1>().shape(4).len(16), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::TooShort { needed: 32, available: 16, .. }));
}

#[test]
fn writable_maps_grow_only_when_asked() {
    let short = opts::<Ix1>().shape(11);
    assert!(matches!(place(&short, F64, 80, Purpose::Write), Err(Error::TooShort { .. })));
    let p = place(&short.extend_file(true), F64, 80, Purpose::Write).unwrap();
    assert_eq!(p.end(), 88);
    let e = place(&opts::<Ix1>().extend_file(true), F64, 80, Purpose::Read).unwrap_err();
    assert!(matches!(e, Error::InvalidOption { .. }));
}

#[test]
fn len_maps_part_of_a_file() {
    let p = place(&opts::<Ix1>().offset(8).len(16), F64, 80, Purpose::Read).unwrap();
    assert_eq!((p.layout.dim[0], p.end()), (2, 24));
}

#[test]
fn memory_order_follows_numpy_rule() {
    assert_eq!(memory_order(&[3, 4], &[4, 1]), Some(Order::RowMajor));
    assert_eq!(memory_order(&[3, 4], &[1, 3]), Some(Order::ColumnMajor));
    // Both: C, as NumPy's header writer chooses.
    assert_eq!(memory_order(&[1, 4], &[1, 1]), Some(Order::RowMajor));
    assert!(is_contiguous(&[1, 4], &[1, 1], Order::ColumnMajor));
    assert!(is_contiguous(&[0, 4], &[0, 0], Order::ColumnMajor));
    assert_eq!(memory_order(&[3, 4], &[8, 2]), None);
    assert_eq!(memory_order(&[3, 4], &[-4, 1]), None);
}

#[test]
fn outermost_axis_is_the_longest_step() {
    assert_eq!(outermost_axis(&[3, 4], &[4, 1]), Some(0));
    assert_eq!(outermost_axis(&[3, 4], &[1, 3]), Some(1));
    assert_eq!(outermost_axis(&[1, 4], &[4, 1]), Some(1));
    assert_eq!(outermost_axis(&[1, 1], &[1, 1]), None);
    assert_eq!(outermost_axis(&[3, 4], &[-4, 1]), Some(0));
}

#[test]
fn outer_axis_of_an_order_is_the_outermost_axis_of_its_strides() {
    assert_eq!(outer_axis_of(Order::RowMajor, 3), 0);
    assert_eq!(outer_axis_of(Order::ColumnMajor, 3), 2);
    assert_eq!(outer_axis_of(Order::RowMajor, 0), 0);
    assert_eq!(outer_axis_of(Order::ColumnMajor, 0), 0);
    let dims = [3, 4, 5];
    let c = Ix3(3, 4, 5).default_strides();
    let f = Ix3(3, 4, 5).fortran_strides();
    for (order, strides) in [(Order::RowMajor, c), (Order::ColumnMajor, f)] {
        let strides = signed_strides(&strides);
        assert_eq!(Some(outer_axis_of(order, 3)), outermost_axis(&dims, &strides));
    }
}

#[test]
fn address_span_reaches_both_ways() {
    assert_eq!(address_span(1000, 8, &[3, 4], &[4, 1]), 1000..1000 + 12 * 8);
    assert_eq!(address_span(1000, 8, &[3], &[-2]), 1000 - 4 * 8..1008);
    assert_eq!(address_span(1000, 8, &[3, 0], &[1, 1]), 0..0);
}
