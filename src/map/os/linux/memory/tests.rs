use std::path::Path;

use super::*;

const MIB: u64 = 1 << 20;

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
