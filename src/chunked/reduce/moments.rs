//! The numeric kernels of the variance reductions: the means and sums of squared
//! deviations of one chunk along an axis, in one read of the chunk from memory, and
//! Chan's merge of two such results.

use ndarray::{Array, ArrayRef, ArrayView, Axis, Dimension, RemoveAxis, Zip as NdZip};
use num_traits::{Float, FromPrimitive};

/// Bytes of a chunk [`moments`] reads twice while they stay in the core's cache (L2).
const BLOCK_BYTES: usize = 128 << 10;

/// The means and sums of squared deviations of `chunk` along `axis`: the chunk is cut
/// along `axis` into blocks that fit in the cache, each reduced by [`block_moments`] and
/// merged by Chan's formula, so that the chunk is read from memory once.
pub(super) fn moments<A: Float + FromPrimitive, D: Dimension + RemoveAxis>(
    chunk: &ArrayView<'_, A, D>,
    axis: Axis,
) -> (Array<A, D::Smaller>, Array<A, D::Smaller>) {
    let k = chunk.len_of(axis);
    let width = chunk.len() / k.max(1);
    let rows = (BLOCK_BYTES / std::mem::size_of::<A>() / width.max(1)).max(1);
    if k <= rows {
        return block_moments(chunk, axis);
    }
    let smaller = chunk.raw_dim().remove_axis(axis);
    let (mut mean, mut m2) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
    for start in (0..k).step_by(rows) {
        let end = k.min(start + rows);
        let block = chunk.slice_axis(axis, ndarray::Slice::from(start..end));
        let (block_mean, block_m2) = block_moments(&block, axis);
        chan_merge(&mut mean, &mut m2, start, &block_mean, &block_m2, end - start);
    }
    (mean, m2)
}

/// The means and sums of squared deviations of `chunk` along `axis`, by the corrected
/// two-pass method on the block, which is in the cache: the sums give each lane's mean `m`,
/// then a second pass sums `d = x - m` and `d²`, and `Σd² - (Σd)²/k` is the sum of squared
/// deviations with the rounding error of `m` taken out (Chan, Golub and Le Veque, "Algorithms
/// for computing the sample variance", 1983). Unlike the naive `Σx² - (Σx)²/k` it stays
/// accurate where the mean is large against the spread (`1e9` plus small values).
///
/// Both passes walk the block in its memory order with vector-friendly loops: whole rows
/// of a dense block at a time where `axis` is its outer axis (a C-order matrix reduced along
/// axis 0), each lane as one slice where `axis` is its inner axis (Fortran order), and
/// ndarray's `Zip`, one subview along `axis` at a time, in any other layout.
fn block_moments<A: Float + FromPrimitive, D: Dimension + RemoveAxis>(
    chunk: &ArrayView<'_, A, D>,
    axis: Axis,
) -> (Array<A, D::Smaller>, Array<A, D::Smaller>) {
    let smaller = chunk.raw_dim().remove_axis(axis);
    let k = chunk.len_of(axis);
    if k == 0 || smaller.size() == 0 {
        return (Array::zeros(smaller.clone()), Array::zeros(smaller));
    }
    let count = A::from_usize(k).expect("a count fits in a float");
    let mut chunk = chunk.view();
    if chunk.stride_of(axis) < 0 {
        chunk.invert_axis(axis); // the order of the terms does not matter
    }
    if k > 1 && chunk.stride_of(axis) == 1 {
        let (mut mean, mut m2) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
        NdZip::from(&mut mean).and(&mut m2).and(chunk.lanes(axis)).for_each(|mean, m2, lane| {
            (*mean, *m2) = lane_moments(lane.as_slice().expect("a lane of stride 1"), count);
        });
        return (mean, m2);
    }
    let width = smaller.size();
    let first = chunk.index_axis(axis, 0);
    let dense_rows = first.is_standard_layout()
        && (k == 1 || chunk.stride_of(axis).unsigned_abs() == width)
        && chunk.as_slice_memory_order().is_some();
    if let (true, Some(data)) = (dense_rows, chunk.as_slice_memory_order()) {
        let (mean, dev, sq) = row_moments(data, width, count);
        let shaped = |v| Array::from_shape_vec(smaller.clone(), v).expect("one value a lane");
        return finish(shaped(mean), &shaped(dev), shaped(sq), count);
    }
    let mut sum = Array::zeros(smaller.clone());
    for sub in chunk.axis_iter(axis) {
        NdZip::from(&mut sum).and(&sub).for_each(|s: &mut A, &x| *s = *s + x);
    }
    let mean = sum.mapv_into(|s| s / count);
    let (mut dev, mut sq) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
    for sub in chunk.axis_iter(axis) {
        NdZip::from(&mut dev).and(&mut sq).and(&mean).and(&sub).for_each(|d, q, &m, &x| {
            let e = x - m;
            *d = *d + e;
            *q = *q + e * e;
        });
    }
    finish(mean, &dev, sq, count)
}

/// The corrected means and sums of squared deviations from the first-pass means `mean`,
/// the sums of deviations `dev` and of their squares `sq` over `count` elements.
fn finish<A: Float, E: Dimension>(
    mut mean: Array<A, E>,
    dev: &Array<A, E>,
    mut sq: Array<A, E>,
    count: A,
) -> (Array<A, E>, Array<A, E>) {
    NdZip::from(&mut mean).and(&mut sq).and(dev).for_each(|m, q, &d| {
        *m = *m + d / count;
        *q = not_negative(*q - d * d / count);
    });
    (mean, sq)
}

/// `x`, or zero where rounding made it negative; NaN stays NaN (unlike [`Float::max`]).
fn not_negative<A: Float>(x: A) -> A {
    if x < A::zero() { A::zero() } else { x }
}

/// Elements summed side by side in [`lane_moments`], so that the sums do not wait on each
/// other and the compiler can keep them in vector registers.
const LANES: usize = 8;

/// The mean and sum of squared deviations of one contiguous lane of `count` elements
/// (corrected two-pass, as in [`moments`]).
fn lane_moments<A: Float>(lane: &[A], count: A) -> (A, A) {
    let total = |acc: [A; LANES]| acc.iter().fold(A::zero(), |a, &b| a + b);
    let (body, tail) = lane.split_at(lane.len() - lane.len() % LANES);
    let mut sums = [A::zero(); LANES];
    for block in body.chunks_exact(LANES) {
        for (s, &x) in sums.iter_mut().zip(block) {
            *s = *s + x;
        }
    }
    let mean = tail.iter().fold(total(sums), |a, &x| a + x) / count;
    let (mut devs, mut squares) = ([A::zero(); LANES], [A::zero(); LANES]);
    for block in body.chunks_exact(LANES) {
        for ((d, q), &x) in devs.iter_mut().zip(&mut squares).zip(block) {
            let e = x - mean;
            *d = *d + e;
            *q = *q + e * e;
        }
    }
    let (dev, sq) = tail.iter().fold((total(devs), total(squares)), |(d, q), &x| {
        let e = x - mean;
        (d + e, q + e * e)
    });
    (mean + dev / count, not_negative(sq - dev * dev / count))
}

/// The first-pass means and the sums of deviations and squared deviations of `data`, rows
/// of `width` elements each (a dense chunk whose reduced axis is its outer one).
fn row_moments<A: Float>(data: &[A], width: usize, count: A) -> (Vec<A>, Vec<A>, Vec<A>) {
    let mut mean = vec![A::zero(); width];
    for row in data.chunks_exact(width) {
        for (s, &x) in mean.iter_mut().zip(row) {
            *s = *s + x;
        }
    }
    for m in &mut mean {
        *m = *m / count;
    }
    let (mut dev, mut sq) = (vec![A::zero(); width], vec![A::zero(); width]);
    for row in data.chunks_exact(width) {
        for (((d, q), &m), &x) in dev.iter_mut().zip(&mut sq).zip(&mean).zip(row) {
            let e = x - m;
            *d = *d + e;
            *q = *q + e * e;
        }
    }
    (mean, dev, sq)
}

/// Chan's merge of `(count_b, mean_b, m2_b)` into `(count_a, mean, m2)` (`count_a > 0`).
pub(super) fn chan_merge<A: Float + FromPrimitive, E: Dimension>(
    mean: &mut ArrayRef<A, E>,
    m2: &mut ArrayRef<A, E>,
    count_a: usize,
    mean_b: &ArrayRef<A, E>,
    m2_b: &ArrayRef<A, E>,
    count_b: usize,
) {
    let float = |n: usize| A::from_usize(n).expect("a count fits in a float");
    let (na, nb, n) = (float(count_a), float(count_b), float(count_a + count_b));
    NdZip::from(mean).and(m2).and(mean_b).and(m2_b).for_each(|mean, m2, &mean_b, &m2_b| {
        let delta = mean_b - *mean;
        *mean = *mean + delta * nb / n;
        *m2 = *m2 + m2_b + delta * delta * na * nb / n;
    });
}

#[cfg(test)]
mod tests;
