//! The address ranges the engine hints by: [`Footprint::pieces`] against the addresses of
//! the elements, computed one by one.

use std::collections::BTreeMap;
use std::ops::Range;

use ndarray::{Array, ArrayView, Axis, IntoDimension, IxDyn, ShapeBuilder, Slice};

use super::{ChunkView, MAX_PIECES};

/// The addresses of the elements at `rows` along `axis` of `view`, grouped by run: by the
/// indices along the axes other than `axis` whose strides are longer than `axis`'s, each
/// run from its lowest byte to one past its highest.
fn runs_by_hand(
    view: &ArrayView<'_, u32, IxDyn>,
    axis: usize,
    rows: Range<usize>,
) -> Vec<Range<usize>> {
    let strides = view.strides();
    let step = |k: usize| strides[k].unsigned_abs();
    let outer: Vec<usize> = (0..view.ndim())
        .filter(|&k| k != axis && view.shape()[k] > 1 && step(k) > step(axis))
        .collect();
    let slab = view.slice_axis(Axis(axis), Slice::from(rows));
    let mut groups: BTreeMap<Vec<usize>, Range<usize>> = BTreeMap::new();
    for (index, x) in slab.indexed_iter() {
        let index = index.into_dimension();
        let key: Vec<usize> = outer.iter().map(|&k| index[k]).collect();
        let at = std::ptr::from_ref(x) as usize;
        let run = groups.entry(key).or_insert(at..at + 4);
        *run = run.start.min(at)..run.end.max(at + 4);
    }
    groups.into_values().collect()
}

/// `pieces` equals the runs computed element by element, for C, Fortran, transposed,
/// sliced and reversed views of two and three axes, every cut axis and several row ranges;
/// and an empty row range gives as many (empty) pieces, so that piece `k` pairs with
/// piece `k`.
#[test]
fn pieces_are_the_runs_of_each_layout() {
    let c =
        Array::from_shape_fn((40, 6, 5), |(i, j, k)| u32::try_from(i * 30 + j * 5 + k).unwrap());
    let f = Array::from_shape_fn((40, 6, 5).f(), |(i, j, k)| {
        u32::try_from(i * 30 + j * 5 + k).unwrap()
    });
    let views: Vec<ArrayView<'_, u32, IxDyn>> = vec![
        c.view().into_dyn(),
        f.view().into_dyn(),
        c.view().permuted_axes([2, 0, 1]).into_dyn(),
        c.slice(ndarray::s![..;3, 1..5, ..;-1]).into_dyn(),
        f.slice(ndarray::s![..;-2, .., 1..4]).into_dyn(),
        f.index_axis(Axis(1), 2).into_dyn(),
        c.index_axis(Axis(2), 4).into_dyn(),
    ];
    for view in &views {
        let footprint = view.footprint();
        for axis in 0..view.ndim() {
            let len = view.shape()[axis];
            for rows in [0..len, 0..1, 1..len.min(3), len / 2..len] {
                let mut pieces = footprint.pieces(axis, rows.clone());
                let count = pieces.len();
                pieces.sort_by_key(|r| r.start);
                let mut expected = runs_by_hand(view, axis, rows.clone());
                expected.sort_by_key(|r| r.start);
                let what = format!(
                    "shape {:?} strides {:?} axis {axis} rows {rows:?}",
                    view.shape(),
                    view.strides()
                );
                assert_eq!(pieces, expected, "{what}");
                assert_eq!(footprint.pieces(axis, len..len).len(), count, "{what}: empty rows");
            }
        }
    }
}

/// A Fortran-order matrix with more columns than [`MAX_PIECES`] gets no pieces (no hints)
/// when walked in row blocks, rather than ranges that cover other chunks' rows.
#[test]
fn too_many_runs_get_no_pieces() {
    let wide = Array::<u32, _>::zeros((4, MAX_PIECES + 1).f());
    let footprint = wide.view().footprint();
    assert!(footprint.pieces(0, 0..2).is_empty());
    assert!(!footprint.has_pieces(0));
    assert_eq!(footprint.pieces(1, 0..2).len(), 1, "cut along its own outer axis: one range");
    let fits = Array::<u32, _>::zeros((4, MAX_PIECES).f());
    assert_eq!(fits.view().footprint().pieces(0, 0..2).len(), MAX_PIECES);
}
