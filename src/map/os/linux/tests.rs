use std::io::Write;

use super::super::unix::SAMPLES;
use super::{cached, evict, page_size, read_through_fault};

#[test]
fn reading_through_the_fault_path_reads_the_range_and_stops_at_the_end_of_the_file() {
    let mut file = tempfile::tempfile().unwrap();
    let page = page_size();
    file.write_all(&vec![7u8; 4 * page]).unwrap();
    // Inside the file, at an offset that is not page-aligned: read.
    assert!(read_through_fault(&file, 100, 2 * page as u64).unwrap());
    // Past its end (a file that shrank under a map): an error, not SIGBUS.
    let err = read_through_fault(&file, 2 * page as u64, 4 * page as u64).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(read_through_fault(&file, 0, 0).unwrap());
}

#[test]
fn cached_ranges_are_the_pages_in_the_page_cache_clipped_to_the_range() {
    // On the crate's own disk: a tmpfs (often /tmp) keeps its pages whatever is asked.
    let mut file = tempfile::tempfile_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let p = page_size() as u64;
    // A page per write: one large write may make one large folio, which the kernel
    // evicts only whole.
    for _ in 0..8 {
        file.write_all(&vec![7u8; page_size()]).unwrap();
    }
    file.sync_all().unwrap();
    evict(&file, 2 * p, 3 * p).unwrap();
    assert_eq!(cached(&file, 0, 8 * p), Some(vec![0..2 * p, 5 * p..8 * p]));
    // A range that starts inside a page and ends inside another: clipped to it.
    assert_eq!(cached(&file, 100, 6 * p), Some(vec![100..2 * p, 5 * p..6 * p + 100]));
    assert_eq!(cached(&file, 3 * p, p), Some(vec![]));
    assert_eq!(cached(&file, 5, 0), Some(vec![]));
}

#[test]
fn a_large_range_whose_sampled_pages_are_cached_counts_as_cached() {
    let mut file = tempfile::tempfile_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let p = page_size() as u64;
    let pages = 4 * SAMPLES as u64;
    for _ in 0..pages {
        file.write_all(&vec![7u8; page_size()]).unwrap();
    }
    file.sync_all().unwrap();
    // Page 5 lies between samples (every fourth page): not seen.
    evict(&file, 5 * p, p).unwrap();
    let whole: Vec<_> = std::iter::once(0..pages * p).collect();
    assert_eq!(cached(&file, 0, pages * p), Some(whole));
    // Page 8 is sampled: the whole range is asked, page by page.
    evict(&file, 8 * p, p).unwrap();
    assert_eq!(cached(&file, 0, pages * p), Some(vec![0..5 * p, 6 * p..8 * p, 9 * p..pages * p]));
}
