//! How much memory the engine may keep in flight, and the I/O plan sized to it: chunk size,
//! read-ahead depth, and how many written chunks stay in flight.
//!
//! The memory available to the process comes from the operating system (`map`): on Linux
//! the smallest of its memory cgroup's room and `MemAvailable`; see the platform table in
//! the README for the others.

use super::DEFAULT_CHUNK_BYTES;

/// The memory available to this process in bytes, or `None` where the system cannot tell
/// (see `map::available_memory`).
pub(super) fn available_memory() -> Option<u64> {
    crate::map::available_memory()
}

/// The I/O plan of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// Bytes of the widest operand per chunk.
    pub(super) chunk_bytes: usize,
    /// How many chunks of each input to ask the kernel for ahead of the one computed.
    pub(super) ahead: usize,
    /// How many written chunks of each output stay in flight before the oldest is waited
    /// for and evicted.
    pub(super) lag: usize,
    /// Whether inputs are read from disk: out of core (the mapped operands do not fit in
    /// the memory available), or some input is not all in the page cache. Then inputs in
    /// order are read ahead through the fault path of a map of their own (large folios)
    /// rather than with `MADV_WILLNEED` (single pages), in chunks of at most
    /// [`OUT_OF_CORE_CHUNK_BYTES`]. See [`plan`].
    pub(super) read_through_fault: bool,
    /// Whether the input pages the walk reads from disk are evicted from the page cache a
    /// few chunks after their use, as written output pages are: unless the caller asked to
    /// keep them and they fit in memory ([`inputs_fit`]).
    pub(super) evict_inputs: bool,
    /// Whether the input pages that were in the page cache as the walk began are neither
    /// read ahead nor evicted (the operands fit in memory); out of core, every input page
    /// is read (and evicted as [`evict_inputs`](Self::evict_inputs) says).
    pub(super) keep_cached: bool,
}

/// What the plan depends on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Demand {
    /// The chunk size the caller set, if any.
    pub(super) chunk_bytes: Option<usize>,
    /// Mapped operands read only.
    pub(super) inputs: usize,
    /// Mapped operands written.
    pub(super) outputs: usize,
    /// Bytes of all the mapped operands together.
    pub(super) bytes: u64,
    /// Bytes of the mapped inputs together.
    pub(super) input_bytes: u64,
    /// Whether the caller asked to keep the input pages read from disk where they fit.
    pub(super) keep_inputs: bool,
    /// Whether some mapped input is not all in the page cache.
    pub(super) cold: bool,
}

/// The largest chunk the plan picks out of core: read-ahead's step (one huge page), so
/// that the computation follows it closely. On the `Numeric.add` job under 128 MiB and
/// 1 GiB memory cgroups, 2 MiB chunks were as fast as 8 MiB ones, within the noise
/// (`benches/README.md`).
const OUT_OF_CORE_CHUNK_BYTES: usize = 2 << 20;

/// The smallest chunk the plan picks when memory is short.
const MIN_CHUNK_BYTES: usize = 1 << 20;

/// Memory from which the plan reads two chunks ahead instead of one, where inputs are read
/// with `MADV_WILLNEED`. Read-ahead through the fault path waits for its reads: with one
/// chunk ahead the computation caught up with it under a 1 GiB cap, so it always reads
/// two.
const ROOMY: u64 = 1 << 30;

/// The plan for `demand` with `available` bytes of memory (`None`: unknown, plan as for a
/// large machine).
///
/// A quarter of the memory available is the engine's to keep in flight: per input, the
/// chunk computed and those read ahead; per output, the chunk written, the two queued for
/// write-back and those in flight. The chunk size ([`DEFAULT_CHUNK_BYTES`] at most, a
/// power of two) is cut until that fits, down to [`MIN_CHUNK_BYTES`]. Under a 128 MiB
/// memory cgroup (the `Numeric.add` job, inputs cold), 2 MiB chunks beat a fixed 8 MiB
/// (`benches/README.md`).
///
/// Out of core (the mapped operands larger than the memory available), inputs are read
/// through the fault path (large folios) and evicted after use: on the `Numeric.add` job
/// under 128 MiB and 1 GiB memory cgroups, half the time of `MADV_WILLNEED`. Evicting the
/// inputs matters under 1 GiB: without it, some runs were much slower, with CPU time spent
/// in the computation, as the page cache grew into new memory (on a virtual machine that
/// hands free 2 MiB blocks back to its host, each costs a fault there) instead of reusing
/// its own.
///
/// Where the operands fit but some input is not all cached (`demand.cold`), the pages not
/// cached are read and evicted the same way, and the cached ones left alone: faster than
/// `MADV_WILLNEED` on the `Numeric.add` job with cold inputs. Keeping the pages read was
/// slower, on that job and even on a standardization, which reads its input twice: the
/// page cache grows into fresh memory (on a virtual machine that hands free memory back
/// to its host, each fresh 2 MiB block can cost a fault there), which cost more than the
/// second read from disk saved. The caller may still ask to keep them
/// (`demand.keep_inputs`): then they stay where they fit ([`inputs_fit`]). The figures
/// behind these choices are in `benches/README.md`.
pub(super) fn plan(demand: Demand, available: Option<u64>) -> Plan {
    let out_of_core = out_of_core(demand.bytes, available);
    let available = available.unwrap_or(u64::MAX);
    let read_through_fault = out_of_core || demand.cold;
    let ahead = if read_through_fault || available >= ROOMY { 2 } else { 1 };
    let lag = 4;
    let units = demand.inputs * (1 + ahead) + demand.outputs * (3 + lag);
    let share = usize::try_from(available / 4).unwrap_or(usize::MAX);
    let fitted = (share / units.max(1)).clamp(MIN_CHUNK_BYTES, DEFAULT_CHUNK_BYTES);
    let fitted = if fitted.is_power_of_two() { fitted } else { fitted.next_power_of_two() / 2 };
    let fitted = if read_through_fault { fitted.min(OUT_OF_CORE_CHUNK_BYTES) } else { fitted };
    let chunk_bytes = demand.chunk_bytes.unwrap_or(fitted);
    let fit = inputs_fit(demand.input_bytes, Some(available));
    let evict_inputs = read_through_fault && !(demand.keep_inputs && fit);
    Plan { chunk_bytes, ahead, lag, read_through_fault, evict_inputs, keep_cached: !out_of_core }
}

/// Whether mapped inputs of `input_bytes` in all may stay in the page cache after a walk
/// with `available` bytes of memory (`None`: unknown, taken as plenty): when they fit in
/// the three quarters of it that the engine does not keep for its chunks in flight.
pub(super) fn inputs_fit(input_bytes: u64, available: Option<u64>) -> bool {
    available.is_none_or(|available| input_bytes <= available / 4 * 3)
}

/// Whether mapped operands of `bytes` in all are out of core with `available` bytes of
/// memory (`None`: unknown, taken as plenty).
pub(super) fn out_of_core(bytes: u64, available: Option<u64>) -> bool {
    available.is_some_and(|available| bytes > available)
}

#[cfg(test)]
mod tests;
