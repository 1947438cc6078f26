use std::ops::Range;

use super::{finished_pages, near, without};

#[test]
fn finished_pages_leave_out_every_page_a_later_range_shares() {
    for p in [4096, 16384, 65536] {
        let finished =
            |span: Range<usize>, later: &[&Range<usize>]| finished_pages(&span, later, p);
        // In order: the page shared with the next chunk waits for it; the last chunk
        // finishes everything.
        assert_eq!(finished(10..3 * p + 5, &[&(3 * p + 5..9 * p)]), vec![0..3 * p]);
        assert_eq!(finished(10..3 * p + 5, &[]), vec![0..4 * p]);
        assert_eq!(finished(10..3 * p + 5, &[&(0..0)]), vec![0..4 * p]);
        // A run between the ends of two others (columns of a Fortran-order array): both
        // shared pages wait.
        let later = [&(0..p + 8), &(5 * p - 8..6 * p)];
        assert_eq!(finished(p + 8..5 * p - 8, &later), vec![2 * p..4 * p]);
        // A later range inside: two pieces around it.
        assert_eq!(finished(0..8 * p, &[&(3 * p + 1..4 * p)]), vec![0..3 * p, 4 * p..8 * p]);
        // Nothing finished when a later range covers it all, or when the span is empty.
        assert!(finished(p..2 * p, &[&(0..4 * p)]).is_empty());
        assert!(finished(5..5, &[]).is_empty());
    }
}

#[test]
fn without_leaves_the_gaps_between_sorted_holes() {
    assert_eq!(without(0..10, &[]), vec![0..10]);
    assert_eq!(without(0..10, &[2..4, 6..7]), vec![0..2, 4..6, 7..10]);
    // Holes that overlap each other, reach past either end, or are empty.
    assert_eq!(without(0..10, &[1..5, 3..6, 6..6, 9..20]), vec![0..1, 6..9]);
    assert_eq!(without(5..10, &[0..6, 12..14]), vec![6..10]);
    assert!(without(0..10, &[0..5, 5..10]).is_empty());
    assert!(without(3..3, &[]).is_empty());
}

#[test]
fn near_finds_the_ranges_that_overlap() {
    let sorted = [0..4, 6..8, 10..12, 20..30];
    assert_eq!(near(&sorted, &(5..11)), &[6..8, 10..12]);
    assert_eq!(near(&sorted, &(4..6)), &[] as &[Range<usize>]);
    assert_eq!(near(&sorted, &(3..7)), &[0..4, 6..8]);
    assert_eq!(near(&sorted, &(11..100)), &[10..12, 20..30]);
    assert!(near(&sorted, &(30..40)).is_empty());
    assert!(near(&[], &(0..1)).is_empty());
}
