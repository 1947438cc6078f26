//! The kernels against ndarray's own means and variances, in every layout they take a
//! path for.

// Small counts and values, exact in f64.
#![allow(clippy::cast_precision_loss)]

use ndarray::{Array, Array2, Array3, ArrayView, Axis, Dimension, RemoveAxis, ShapeBuilder, s};

use super::{BLOCK_BYTES, chan_merge, moments};

/// Checks `moments` of `x` along `axis` against ndarray's own means and variances (Welford's
/// method, a different algorithm): the sums of squared deviations are the population
/// variances times the axis length.
fn check<D: Dimension + RemoveAxis>(x: &ArrayView<'_, f64, D>, axis: Axis) {
    let (mean, m2) = moments(x, axis);
    let k = x.len_of(axis);
    let expected_mean = x.mean_axis(axis).expect("a non-empty axis");
    let expected_m2 = x.var_axis(axis, 0.0) * k as f64;
    for (got, want) in mean.iter().zip(&expected_mean).chain(m2.iter().zip(&expected_m2)) {
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{got} against {want}");
    }
}

/// Eighths from 0 to 12.5, in an order that looks random.
fn small(i: usize) -> usize {
    (i * 7919) % 101
}

fn values(shape: &[usize]) -> Vec<f64> {
    let n: usize = shape.iter().product();
    (0..n).map(|i| small(i) as f64 / 8.0).collect()
}

#[test]
fn moments_agree_with_ndarray_in_every_layout() {
    let c = Array2::from_shape_vec((50, 6), values(&[50, 6])).unwrap();
    let f = Array2::from_shape_vec((50, 6).f(), values(&[50, 6])).unwrap();
    // Dense rows (C order along axis 0), one lane per slice (Fortran order along axis 0),
    // and the general walk (C order along its inner axis).
    for x in [&c, &f] {
        check(&x.view(), Axis(0));
        check(&x.view(), Axis(1));
    }
    // A reversed axis, a strided view, a middle axis of three.
    check(&c.slice(s![..;-1, ..]), Axis(0));
    check(&c.slice(s![..;3, 1..5]), Axis(0));
    let cube = Array3::from_shape_vec((4, 9, 5), values(&[4, 9, 5])).unwrap();
    check(&cube.view(), Axis(1));
    check(&cube.view().permuted_axes([2, 0, 1]), Axis(2));
    // One row: zero deviations.
    check(&c.slice(s![..1, ..]), Axis(0));
}

#[test]
fn moments_of_a_chunk_larger_than_a_block_merge_the_blocks() {
    // Three blocks and a part of one, in C and Fortran order.
    let rows = 3 * BLOCK_BYTES / size_of::<f64>() / 4 + 5;
    let c = Array2::from_shape_vec((rows, 4), values(&[rows, 4])).unwrap();
    let f = Array2::from_shape_vec((rows, 4).f(), values(&[rows, 4])).unwrap();
    check(&c.view(), Axis(0));
    check(&f.view(), Axis(0));
}

#[test]
fn moments_of_an_empty_axis_or_result_are_zeros() {
    let empty = Array2::<f64>::zeros((0, 3));
    let (mean, m2) = moments(&empty.view(), Axis(0));
    assert_eq!((mean, m2), (Array::zeros(3), Array::zeros(3)));
    let (mean, m2) = moments(&empty.view(), Axis(1));
    assert!(mean.is_empty() && m2.is_empty());
}

#[test]
fn moments_stay_accurate_where_the_mean_is_large_against_the_spread() {
    // 1e9 plus eighths (exact in f64): the exact means and sums of squared deviations,
    // from integers, are 1e9 + Σv / 8k and (kΣv² - (Σv)²) / 64k for the eighths v.
    let (k, width) = (5000, 3);
    let x = Array2::from_shape_fn((k, width), |(i, j)| 1e9 + small(i * width + j) as f64 / 8.0);
    let (mean, m2) = moments(&x.view(), Axis(0));
    for j in 0..width {
        let v: Vec<i128> = (0..k).map(|i| small(i * width + j) as i128).collect();
        let (sum, squares) = (v.iter().sum::<i128>(), v.iter().map(|v| v * v).sum::<i128>());
        let n = k as i128;
        let exact_mean = 1e9 + sum as f64 / (8 * n) as f64;
        let exact_m2 = (n * squares - sum * sum) as f64 / (64 * n) as f64;
        assert!((mean[j] - exact_mean).abs() <= 1e-6, "{} against {exact_mean}", mean[j]);
        assert!((m2[j] - exact_m2).abs() <= 1e-9 * exact_m2, "{} against {exact_m2}", m2[j]);
    }
}

#[test]
fn chan_merge_of_two_parts_is_the_whole() {
    let x = Array2::from_shape_vec((30, 3), values(&[30, 3])).unwrap();
    let (mut mean, mut m2) = moments(&x.slice(s![..11, ..]), Axis(0));
    let (mean_b, m2_b) = moments(&x.slice(s![11.., ..]), Axis(0));
    chan_merge(&mut mean, &mut m2, 11, &mean_b, &m2_b, 19);
    let (whole_mean, whole_m2) = moments(&x.view(), Axis(0));
    for (got, want) in mean.iter().zip(&whole_mean).chain(m2.iter().zip(&whole_m2)) {
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{got} against {want}");
    }
}
