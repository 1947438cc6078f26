//! Arithmetic on ranges of addresses: the gaps between ranges, the ranges near another,
//! the whole pages a walk is done with. Pure: no I/O, no `unsafe`; the page size is an
//! argument.

use std::ops::Range;

/// The whole pages of `span` (addresses) that no page of any of `later` shares: the pages
/// a walk is done with once it has used `span` and has `later` still to use, in pages of
/// `page` bytes.
pub(crate) fn finished_pages(
    span: &Range<usize>,
    later: &[&Range<usize>],
    page: usize,
) -> Vec<Range<usize>> {
    if span.is_empty() {
        return Vec::new();
    }
    let whole = |r: &Range<usize>| r.start / page * page..r.end.div_ceil(page) * page;
    let mut later: Vec<Range<usize>> =
        later.iter().filter(|rest| !rest.is_empty()).map(|rest| whole(rest)).collect();
    later.sort_by_key(|rest| rest.start);
    without(whole(span), &later)
}

/// The parts of `range` that none of `holes` (sorted by their starts) covers, in order.
pub(crate) fn without<T: Copy + Ord>(range: Range<T>, holes: &[Range<T>]) -> Vec<Range<T>> {
    let mut pieces = Vec::new();
    let mut from = range.start;
    for hole in holes.iter().filter(|hole| hole.start < hole.end) {
        if hole.start >= range.end {
            break;
        }
        if hole.start > from {
            pieces.push(from..hole.start);
        }
        from = from.max(hole.end);
    }
    if from < range.end {
        pieces.push(from..range.end);
    }
    pieces
}

/// The ranges of `sorted` (sorted, disjoint) that overlap `range`.
pub(crate) fn near<'k>(sorted: &'k [Range<usize>], range: &Range<usize>) -> &'k [Range<usize>] {
    let first = sorted.partition_point(|r| r.end <= range.start);
    let end = first + sorted[first..].partition_point(|r| r.start < range.end);
    &sorted[first..end]
}

#[cfg(test)]
mod tests;
