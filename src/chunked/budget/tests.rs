use std::path::Path;

use super::*;

const MIB: u64 = 1 << 20;

fn demand(inputs: usize, outputs: usize) -> Demand {
    Demand { chunk_bytes: None, inputs, outputs, bytes: 3 << 29, cold: false }
}

#[test]
fn plenty_of_memory_keeps_the_default_chunk_and_reads_two_ahead() {
    let plan = plan(demand(2, 1), Some(20 << 30));
    let expected = Plan {
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        ahead: 2,
        lag: 4,
        read_through_fault: false,
        keep_cached: true,
    };
    assert_eq!(plan, expected);
    assert_eq!(super::plan(demand(2, 1), None), plan);
}

#[test]
fn a_small_cgroup_gets_smaller_chunks_and_two_ahead_out_of_core() {
    // The `Numeric.add` job under a 128 MiB cap: 2 inputs x 3 chunks + 1 output x 7 chunks = 13
    // chunks in a quarter of 118 MiB: 2.3 MiB, so 2 MiB.
    let plan = plan(demand(2, 1), Some(118 * MIB));
    let expected = Plan {
        chunk_bytes: 2 << 20,
        ahead: 2,
        lag: 4,
        read_through_fault: true,
        keep_cached: false,
    };
    assert_eq!(plan, expected);
    // 1 GiB, still out of core: at most 2 MiB.
    assert_eq!(super::plan(demand(2, 1), Some(1000 * MIB)).chunk_bytes, 2 << 20);
    // Arrays that fit: one chunk ahead below 1 GiB, as before.
    let small = Demand { bytes: 64 * MIB, ..demand(2, 1) };
    assert_eq!(super::plan(small, Some(118 * MIB)).ahead, 1);
    // Never below the floor, however little memory.
    assert_eq!(super::plan(demand(6, 0), Some(MIB)).chunk_bytes, MIN_CHUNK_BYTES);
}

#[test]
fn operands_larger_than_memory_are_read_through_the_fault_path() {
    // The `Numeric.add` job: 3 x 512 MiB.
    let add = demand(2, 1);
    assert!(plan(add, Some(128 * MIB)).read_through_fault);
    assert!(plan(add, Some(1024 * MIB)).read_through_fault);
    assert!(!plan(add, Some(2048 * MIB)).read_through_fault);
    assert!(!plan(add, None).read_through_fault);
    // Out of core, no input page is kept cached.
    assert!(!plan(add, Some(1024 * MIB)).keep_cached);
}

#[test]
fn inputs_that_fit_but_are_not_cached_are_read_through_the_fault_path() {
    let cold = Demand { cold: true, ..demand(2, 1) };
    for available in [Some(2048 * MIB), Some(20 << 30), None] {
        let plan = plan(cold, available);
        assert!(plan.read_through_fault && plan.keep_cached, "{plan:?}");
        assert_eq!((plan.chunk_bytes, plan.ahead), (2 << 20, 2));
    }
    // Out of core, cold or not, the same plan.
    assert_eq!(plan(cold, Some(1024 * MIB)), plan(demand(2, 1), Some(1024 * MIB)));
}

#[test]
fn a_chunk_size_the_caller_set_is_kept() {
    let set = Demand { chunk_bytes: Some(4096), ..demand(1, 1) };
    assert_eq!(plan(set, Some(64 * MIB)).chunk_bytes, 4096);
    assert_eq!(plan(set, Some(64 << 30)).chunk_bytes, 4096);
}

#[test]
fn meminfo_field_is_read_in_kib() {
    let text =
        "MemTotal:       24684096 kB\nMemFree:        17427072 kB\nMemAvailable:   22712380 kB\n";
    assert_eq!(field(text, "MemAvailable:"), Some(22_712_380));
    assert_eq!(field(text, "Cached:"), None);
}

#[test]
fn cgroup_v1_limit_less_anonymous_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("memory"), dir.path().join("unified"));
    std::fs::create_dir_all(v1.join("jobs/capped")).unwrap();
    std::fs::write(
        v1.join("jobs/capped/memory.stat"),
        "cache 1000\nrss 5\nhierarchical_memory_limit 134217728\ntotal_cache 9\ntotal_rss 4194304\n",
    )
    .unwrap();
    let cgroups = "5:devices:/\n4:memory:/jobs/capped\n0::/\n";
    assert_eq!(room_in(cgroups, &v1, &v2), Some(128 * MIB - 4 * MIB));
    // No limit: v1 reports PAGE_COUNTER_MAX.
    std::fs::write(
        v1.join("jobs/capped/memory.stat"),
        "hierarchical_memory_limit 9223372036854771712\ntotal_rss 4194304\n",
    )
    .unwrap();
    assert_eq!(room_in(cgroups, &v1, &v2), None);
}

#[test]
fn cgroup_v2_smallest_max_up_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("memory"), dir.path().join("unified"));
    let leaf = v2.join("a/b");
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::write(v2.join("a/memory.max"), "268435456\n").unwrap();
    std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
    std::fs::write(leaf.join("memory.stat"), "anon 8388608\nfile 77\n").unwrap();
    assert_eq!(room_in("0::/a/b\n", &v1, &v2), Some(256 * MIB - 8 * MIB));
    // Without any limit on the way up, no room is known.
    std::fs::write(v2.join("a/memory.max"), "max\n").unwrap();
    assert_eq!(room_in("0::/a/b\n", &v1, &v2), None);
    assert_eq!(room_in("garbage", Path::new("/nonexistent"), Path::new("/nonexistent")), None);
}

#[test]
fn available_memory_is_known_on_linux() {
    if cfg!(target_os = "linux") {
        assert!(available_memory().is_some_and(|bytes| bytes > 0));
    }
}
