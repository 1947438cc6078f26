//! How the engine walks its operands: the checks before anything runs, the cut into
//! chunks along the outermost memory axis, and the helper thread that reads ahead and
//! writes behind.

use std::ops::Range;
use std::sync::mpsc;

use ndarray::{Axis, Dimension, Order};

use super::budget::{self, Demand, Plan};
use super::operand::{Footprint, Hooks, Parts, outer_axis_of};
use super::{Settings, Zip};
use crate::error::{Error, Result};
use crate::options::Advice;

impl<P, D: Dimension> Zip<'_, P, D> {
    /// The checks done before anything runs: shapes, then layouts.
    fn slabs(&mut self, layouts: &[Footprint], contiguous: Option<Order>) -> Result<Slabs> {
        if let Some(err) = self.mismatch.take() {
            return Err(err);
        }
        let ndim = self.dim.ndim();
        let size = self.dim.size();
        if ndim == 0 || size == 0 {
            return Ok(Slabs { axis: 0, len: usize::from(size > 0), per_row: size });
        }
        let axis = match contiguous {
            Some(order) => outer_axis_of(order, ndim),
            None => self.common_outer_axis(layouts),
        };
        let len = self.dim[axis];
        Ok(Slabs { axis, len, per_row: size / len })
    }

    /// The axis the engine cuts along: the outermost memory axis of the first mapped
    /// operand (or, if none is mapped, of the first array). Mapped operands laid out
    /// otherwise (C order with Fortran order, a transposed view) cross the cut: see
    /// [`crossing`].
    ///
    /// When the mapped operands disagree, the axis is the one among their outermost axes
    /// whose thinnest chunk is smallest: a chunk along an axis must be thick enough for the
    /// operands that cross it ([`CROSSING_RUN`]), and that thickness times the other axes
    /// is what a chunk holds (row blocks of a tall C-order matrix, not column blocks, when
    /// writing it in Fortran order). A mapped operand that stays in place along an axis (the
    /// output of a reduction along it) adds its whole size to that axis's count, since
    /// every chunk touches all of it: a reduction into a mapped output is cut along the
    /// reduced axis only when the output is smaller than the thinnest chunk along the
    /// axis it keeps, and the input is a candidate even when it is not mapped.
    pub(super) fn common_outer_axis(&self, layouts: &[Footprint]) -> usize {
        let mapped: Vec<usize> =
            (0..layouts.len()).filter(|&i| self.hooks[i].addresses().is_some()).collect();
        // Without a mapped operand, the first array (not indices) decides; a reduction's
        // input (the first array) is a candidate beside its mapped output.
        let first_array = (0..layouts.len()).find(|&i| layouts[i].elem() > 0);
        let mut deciders = mapped.clone();
        if mapped.is_empty() || !self.riders.is_empty() {
            deciders.extend(first_array);
        }
        let mut candidates: Vec<usize> = Vec::new();
        for axis in deciders.iter().filter_map(|&i| layouts[i].outer_axis()) {
            if !candidates.contains(&axis) {
                candidates.push(axis);
            }
        }
        let size = self.dim.size();
        let thinnest = |axis: usize| -> usize {
            let thick = thickness(layouts, &crossing(layouts, &self.hooks, axis), axis);
            let len = self.dim[axis].max(1);
            // A mapped operand that stays in place along the axis (the output of a
            // reduction along it) is touched by every chunk, so it stays resident whole.
            let resident: usize = (0..layouts.len())
                .filter(|&i| self.hooks[i].addresses().is_some() && layouts[i].stays_along(axis))
                .map(|i| layouts[i].elements())
                .sum();
            thick.min(len) * (size / len) + resident
        };
        // The first candidate wins ties: the first mapped operand's own order.
        let best = candidates.iter().copied().min_by_key(|&axis| thinnest(axis));
        best.unwrap_or(0)
    }

    /// Runs `work` on each chunk in order (with the chunk axis), with the kernel hints
    /// around it, then flushes. `flat`: whether `work` is element-wise, so that operands
    /// all contiguous in one order may be flattened.
    pub(super) fn run<E: From<Error>>(
        mut self,
        flat: bool,
        mut work: impl FnMut(P, Axis) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        P: Parts<D>,
    {
        let flat = flat && self.riders.is_empty();
        let contiguous = [Order::RowMajor, Order::ColumnMajor]
            .into_iter()
            .find(|&order| flat && self.dim.ndim() > 0 && self.parts.contiguous(order));
        let layouts = [self.parts.footprints(), self.riders.clone()].concat();
        let slabs = self.slabs(&layouts, contiguous)?;
        let Zip { parts, hooks, settings, mut progress, dim, riders, .. } = self;
        if dim.ndim() == 0 {
            // One element, no axis to cut along.
            work(parts, Axis(0))?;
            if let Some(progress) = progress.as_mut() {
                progress(1, 1);
            }
            return flush_all(&hooks).map_err(E::from);
        }
        let (mut rest, len, per_row) = match contiguous {
            Some(order) => (parts.flatten(order), slabs.len * slabs.per_row, 1),
            None => (parts, slabs.len, slabs.per_row),
        };
        let layouts = [rest.footprints(), riders].concat();
        let plan = io_plan(&settings, &hooks);
        let widest = layouts.iter().map(Footprint::elem).max().unwrap_or(1).max(1);
        let axis = slabs.axis;
        let crossing = crossing(&layouts, &hooks, axis);
        let thick = thickness(&layouts, &crossing, axis);
        let rows = (plan.chunk_bytes / per_row.saturating_mul(widest).max(1)).max(thick).max(1);
        let total = len * per_row;
        // Crossing operands get no per-chunk hints (their chunks are not one range): their
        // spans are empty, and their whole maps are released and written back every few
        // chunks instead. Operands that stay in place along the cut (a reduction's output,
        // cut along the reduced axis) are touched by every chunk: they get no hints either,
        // and are only flushed at the end.
        let spans = |start: usize, end: usize| -> Vec<Range<usize>> {
            let span = |(l, &crosses): (&Footprint, &bool)| {
                if crosses || l.stays_along(axis) { 0..0 } else { l.span(axis, start..end) }
            };
            layouts.iter().zip(&crossing).map(span).collect()
        };
        let wholes: Vec<Range<usize>> = hooks
            .iter()
            .zip(&crossing)
            .map(|(h, &crosses)| if crosses { h.addresses().unwrap_or(0..0) } else { 0..0 })
            .collect();
        let any_crossing = crossing.contains(&true);

        if settings.read_ahead && len > 0 {
            advise_sequential(&hooks, &wholes)?;
        }
        // Read-ahead and write-behind run on two helper threads, so that the computation
        // never waits for the kernel to queue I/O, and reads are never queued behind a wait
        // for write-back (one helper for both made cold inputs slower than a plain `Zip`).
        // The channels hold a few jobs: if the disk falls behind, the computation waits
        // for it, and memory stays bounded.
        let ahead = if settings.read_ahead { plan.ahead } else { 0 };
        let lag =
            if settings.evict_after_write && settings.release_after_use { plan.lag } else { 0 };
        let reading = ahead > 0 && len > 0;
        let writing = settings.write_behind && len > 0;
        std::thread::scope(|scope| {
            let (read_tx, read_rx) = mpsc::sync_channel::<Job>(2 + ahead);
            let (write_tx, write_rx) = mpsc::sync_channel::<Job>(2);
            let hooks_ref = &hooks;
            let reader = reading.then(|| scope.spawn(move || run_io(hooks_ref, &read_rx, 0)));
            let writer = writing.then(|| scope.spawn(move || run_io(hooks_ref, &write_rx, lag)));
            let outcome = (|| {
                // Rows up to which read-ahead has been asked for.
                let mut asked = 0;
                let mut done = 0;
                let mut chunks = 0usize;
                while done < len {
                    let n = rows.min(len - done);
                    let want = len.min(done + n + ahead.saturating_mul(rows));
                    while ahead > 0 && asked < want {
                        let end = want.min(asked + rows);
                        if read_tx.send(Job::ReadAhead(spans(asked, end))).is_err() {
                            return Ok(()); // a helper stopped on an error, reported below
                        }
                        asked = end;
                    }
                    let (chunk, tail) = rest.split(Axis(axis), n);
                    rest = tail;
                    work(chunk, Axis(axis))?;
                    let this = spans(done, done + n);
                    done += n;
                    if settings.release_after_use {
                        for ((hook, span), later) in hooks.iter().zip(&this).zip(spans(done, len)) {
                            hook.release_finished(span, &later)?;
                        }
                    }
                    if writing && write_tx.send(Job::WriteBack(this)).is_err() {
                        return Ok(());
                    }
                    chunks += 1;
                    if any_crossing && (chunks.is_multiple_of(CROSSING_PERIOD) || done == len) {
                        release_whole(&hooks, &wholes, settings.release_after_use)?;
                        if writing && write_tx.send(Job::WriteBack(wholes.clone())).is_err() {
                            return Ok(());
                        }
                    }
                    if let Some(progress) = progress.as_mut() {
                        progress(done * per_row, total);
                    }
                }
                Ok(())
            })();
            drop((read_tx, write_tx));
            let join = |helper: Option<std::thread::ScopedJoinHandle<'_, Result<()>>>| {
                helper.map_or(Ok(()), |h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            };
            let (read, write) = (join(reader), join(writer));
            outcome.and(read.and(write).map_err(E::from))
        })?;
        flush_all(&hooks).map_err(E::from)
    }
}

/// The I/O plan for a run with `settings` over operands with `hooks`, sized to the memory
/// available now.
fn io_plan(settings: &Settings, hooks: &[Hooks<'_>]) -> Plan {
    let mapped = || hooks.iter().filter_map(|h| h.addresses().map(|a| (a, h.writes())));
    let demand = Demand {
        chunk_bytes: settings.chunk_bytes,
        inputs: mapped().filter(|(_, writes)| !writes).count(),
        outputs: mapped().filter(|(_, writes)| *writes).count(),
    };
    budget::plan(demand, budget::available_memory())
}

/// Bytes of each run a crossing operand's page holds along the cut axis, at least, per chunk.
const CROSSING_RUN: usize = 64 << 10;

/// Every how many chunks the whole maps of crossing operands are released and written back.
const CROSSING_PERIOD: usize = 4;

/// Which operands cross the cut along `axis`: mapped ones whose own outermost memory axis
/// is another (a Fortran-order map in a walk along axis 0, say). Their chunks are not one
/// range of addresses but one run per slab of their own. An operand that stays in place
/// along `axis` does not cross it: every chunk touches all of it.
fn crossing(layouts: &[Footprint], hooks: &[Hooks<'_>], axis: usize) -> Vec<bool> {
    layouts
        .iter()
        .zip(hooks)
        .map(|(l, h)| {
            h.addresses().is_some()
                && !l.stays_along(axis)
                && l.outer_axis().is_some_and(|own| own != axis)
        })
        .collect()
}

/// `MADV_SEQUENTIAL` on the maps of the inputs that do not cross the cut (those have a
/// `whole` span): they are read front to back.
fn advise_sequential(hooks: &[Hooks<'_>], wholes: &[Range<usize>]) -> Result<()> {
    for (hook, whole) in hooks.iter().zip(wholes) {
        // Inputs only: measured, `MADV_SEQUENTIAL` on a new output file made the add two
        // to three times slower on cached data (1 GiB arrays).
        if let (Some(all), false, true) = (hook.addresses(), hook.writes(), whole.is_empty()) {
            hook.advise(Advice::Sequential, &all)?;
        }
    }
    Ok(())
}

/// Drops the whole maps of the crossing operands (their `wholes`) from the resident set,
/// if `release`.
fn release_whole(hooks: &[Hooks<'_>], wholes: &[Range<usize>], release: bool) -> Result<()> {
    if release {
        for (hook, whole) in hooks.iter().zip(wholes) {
            hook.release_finished(whole, &(0..0))?;
        }
    }
    Ok(())
}

/// How many rows along `axis` a chunk needs at least, so that the operands that cross the
/// cut get runs of at least [`CROSSING_RUN`] bytes and touch each page in at most two
/// chunks (1 without crossing operands).
fn thickness(layouts: &[Footprint], crossing: &[bool], axis: usize) -> usize {
    layouts
        .iter()
        .zip(crossing)
        .filter(|(_, crosses)| **crosses)
        .map(|(l, _)| CROSSING_RUN.div_ceil(l.run_bytes(axis)))
        .max()
        .unwrap_or(1)
}

/// Work for an I/O helper thread: spans of each operand, in operand order.
enum Job {
    /// Ask the kernel to read these spans of the inputs (`MADV_WILLNEED`).
    ReadAhead(Vec<Range<usize>>),
    /// The outputs are done with these spans: write them back.
    WriteBack(Vec<Range<usize>>),
}

/// An I/O helper: runs jobs until the channel closes or one fails. With `lag > 0`,
/// write-back keeps the last `lag` chunks in flight and settles older ones: waits for their
/// write-back and drops them from the page cache.
fn run_io(hooks: &[Hooks<'_>], jobs: &mpsc::Receiver<Job>, lag: usize) -> Result<()> {
    let mut pending = std::collections::VecDeque::new();
    for job in jobs {
        match job {
            Job::ReadAhead(spans) => {
                // Outputs are not read ahead: measured, `MADV_WILLNEED` on a new file's
                // pages costs more than it saves.
                for (hook, span) in hooks.iter().zip(&spans) {
                    if !hook.writes() {
                        hook.advise(Advice::WillNeed, span)?;
                    }
                }
            }
            Job::WriteBack(spans) => {
                for (hook, span) in hooks.iter().zip(&spans) {
                    hook.write_behind(span)?;
                }
                if lag > 0 {
                    pending.push_back(spans);
                    while pending.len() > lag {
                        let old = pending.pop_front().expect("not empty");
                        for (hook, span) in hooks.iter().zip(&old) {
                            hook.settle(span)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Flushes every output.
fn flush_all(hooks: &[Hooks<'_>]) -> Result<()> {
    hooks.iter().try_for_each(Hooks::flush)
}

/// How a run walks the arrays: `len` rows along `axis`, each of `per_row` elements.
struct Slabs {
    axis: usize,
    len: usize,
    per_row: usize,
}

impl<P, D: Dimension> Zip<'_, P, D> {
    /// As [`run`](Self::run) without flattening, handing `work` each chunk cut into up to
    /// [`PIECES`] pieces along the chunk axis, for a parallel fold.
    #[cfg(feature = "rayon")]
    pub(super) fn run_pieces(self, mut work: impl FnMut(Vec<P>)) -> Result<()>
    where
        P: Parts<D>,
    {
        let ndim = self.dim.ndim();
        self.run(false, |chunk: P, axis| {
            if ndim == 0 {
                work(vec![chunk]);
                return Ok::<(), Error>(());
            }
            let mut left = chunk.footprints()[0].len_of(axis.index());
            let pieces = PIECES.min(left).max(1);
            let mut out = Vec::with_capacity(pieces);
            let mut rest = chunk;
            for k in (2..=pieces).rev() {
                let take = left.div_ceil(k);
                let (piece, tail) = rest.split(axis, take);
                out.push(piece);
                rest = tail;
                left -= take;
            }
            out.push(rest);
            work(out);
            Ok(())
        })
    }
}

/// How many pieces [`Zip::par_fold`] cuts each chunk into: enough to balance any pool.
#[cfg(feature = "rayon")]
const PIECES: usize = 64;
