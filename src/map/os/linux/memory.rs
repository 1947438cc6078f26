//! The memory available to this process on Linux: the smallest of its memory cgroup's
//! limit (v1 `memory.limit_in_bytes`, through `hierarchical_memory_limit`, or v2
//! `memory.max` of the cgroup and its ancestors) less the cgroup's anonymous memory, and
//! the machine's `MemAvailable`. These are files under `/proc` and `/sys`, read with
//! `std::fs`.

use std::path::{Path, PathBuf};

/// The memory available to this process in bytes, or `None` where it cannot be told
/// (`/proc` unreadable).
pub(crate) fn available_memory() -> Option<u64> {
    let machine = meminfo_available();
    let group = cgroup_room();
    match (machine, group) {
        (Some(m), Some(g)) => Some(m.min(g)),
        (m, g) => m.or(g),
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    field(&text, "MemAvailable:").map(|kib| kib.saturating_mul(1024))
}

/// The first number after `name` on the line that starts with it.
fn field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// The room left under this process's memory cgroup limit (limit less anonymous memory),
/// or `None` without a limit.
fn cgroup_room() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    room_in(&text, Path::new("/sys/fs/cgroup/memory"), Path::new("/sys/fs/cgroup"))
}

/// The room under the limits of the cgroups listed in `cgroups` (the format of
/// `/proc/self/cgroup`), with cgroup v1's memory controller mounted at `v1` and the v2
/// hierarchy at `v2`.
fn room_in(text: &str, v1: &Path, v2: &Path) -> Option<u64> {
    let mut room = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        let here = if controllers.split(',').any(|c| c == "memory") {
            v1_room(&v1.join(path))
        } else if controllers.is_empty() {
            v2_room(v2, path)
        } else {
            None
        };
        room = match (room, here) {
            (Some(a), Some(b)) => Some(u64::min(a, b)),
            (a, b) => a.or(b),
        };
    }
    room
}

/// Above this a cgroup "limit" means none (v1 writes `PAGE_COUNTER_MAX` pages as bytes).
const NO_LIMIT: u64 = 1 << 60;

/// cgroup v1: `hierarchical_memory_limit` (the smallest limit up the tree) less `total_rss`.
fn v1_room(dir: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
    let limit = field(&stat, "hierarchical_memory_limit ")?;
    if limit >= NO_LIMIT {
        return None;
    }
    let anon = field(&stat, "total_rss ").unwrap_or(0);
    Some(limit.saturating_sub(anon))
}

/// cgroup v2: the smallest `memory.max` from the cgroup up to the root, less the
/// cgroup's `anon`.
fn v2_room(root: &Path, path: &str) -> Option<u64> {
    let mut dir: PathBuf = root.join(path);
    let mut limit: Option<u64> = None;
    while dir.starts_with(root) && dir != root {
        if let Ok(text) = std::fs::read_to_string(dir.join("memory.max"))
            && let Ok(max) = text.trim().parse::<u64>()
        {
            limit = Some(limit.map_or(max, |l| l.min(max)));
        }
        if !dir.pop() {
            break;
        }
    }
    let limit = limit?;
    let anon = std::fs::read_to_string(root.join(path).join("memory.stat"))
        .ok()
        .and_then(|stat| field(&stat, "anon "))
        .unwrap_or(0);
    Some(limit.saturating_sub(anon))
}

#[cfg(test)]
mod tests;
