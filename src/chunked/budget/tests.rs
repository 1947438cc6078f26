use super::*;

const MIB: u64 = 1 << 20;

fn demand(inputs: usize, outputs: usize) -> Demand {
    let input_bytes = (3 << 29) / (inputs + outputs).max(1) as u64 * inputs as u64;
    Demand {
        chunk_bytes: None,
        inputs,
        outputs,
        bytes: 3 << 29,
        input_bytes,
        cold: false,
        keep_inputs: false,
    }
}

#[test]
fn plenty_of_memory_keeps_the_default_chunk_and_reads_two_ahead() {
    let plan = plan(demand(2, 1), Some(20 << 30));
    let expected = Plan {
        chunk_bytes: DEFAULT_CHUNK_BYTES,
        ahead: 2,
        lag: 4,
        read_through_fault: false,
        evict_inputs: false,
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
        evict_inputs: true,
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
fn inputs_read_from_disk_stay_cached_where_the_caller_asks_and_they_fit() {
    // Standardizing a cold 1 GiB matrix into a new file: 1 input, 1 output.
    let x = Demand { bytes: 2 << 30, input_bytes: 1 << 30, cold: true, ..demand(1, 1) };
    let keep = Demand { keep_inputs: true, ..x };
    for available in [Some(20 << 30), Some(3 << 29), None] {
        let plan = plan(keep, available);
        assert!(plan.read_through_fault && !plan.evict_inputs, "{available:?}: {plan:?}");
        // Not asked: evicted after use.
        assert!(super::plan(x, available).evict_inputs, "{available:?}");
    }
    // Asked, but not in a cgroup of 1 GiB: evicted after use.
    let plan = plan(keep, Some(1 << 30));
    assert!(plan.read_through_fault && plan.evict_inputs, "{plan:?}");
    // Inputs all cached: nothing read, nothing to evict.
    let cached = Demand { cold: false, ..x };
    assert!(!super::plan(cached, Some(20 << 30)).evict_inputs);
}

#[test]
fn a_chunk_size_the_caller_set_is_kept() {
    let set = Demand { chunk_bytes: Some(4096), ..demand(1, 1) };
    assert_eq!(plan(set, Some(64 * MIB)).chunk_bytes, 4096);
    assert_eq!(plan(set, Some(64 << 30)).chunk_bytes, 4096);
}

#[test]
fn available_memory_is_known_where_the_system_tells() {
    // Every platform of the table in the README answers (Linux, macOS, FreeBSD, Windows).
    assert!(available_memory().is_some_and(|bytes| bytes > 0));
}
