//! How the engine walks its operands: the checks before anything runs, the cut into
//! chunks along the outermost memory axis, and the two helper threads that read ahead and
//! write behind.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use ndarray::{Axis, Dimension, Order};

use super::budget::{self, Demand, Plan};
use super::operand::{Eviction, Footprint, Hooks, Parts};
use super::progress::Watch;
use super::{CancelToken, EngineSettings, Zip};
use crate::error::{Error, Result};
use crate::guard::pages::page_size;
use crate::layout::outer_axis_of;
use crate::layout::ranges::{finished_pages, near, without};
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
        let axis = self.cut_axis(layouts, contiguous);
        let len = self.dim[axis];
        Ok(Slabs { axis, len, per_row: size / len })
    }

    /// The axis a walk cuts along: the one the work asked for (`settings.cut`), else the
    /// outermost memory axis of `contiguous` when every
    /// operand is contiguous in that order (the walk then flattens them), else the
    /// [`common_outer_axis`](Self::common_outer_axis) of `layouts`.
    pub(super) fn cut_axis(&self, layouts: &[Footprint], contiguous: Option<Order>) -> usize {
        if let Some(axis) = self.settings.cut {
            return axis;
        }
        match contiguous {
            Some(order) => outer_axis_of(order, self.dim.ndim()),
            None => self.common_outer_axis(layouts),
        }
    }

    /// The axis the engine cuts along: the outermost memory axis of the first mapped
    /// operand (or, if none is mapped, of the first array). Mapped operands laid out
    /// otherwise (C order with Fortran order, a transposed view) cross the cut: see
    /// [`crossing`].
    ///
    /// When the mapped operands disagree, the axis is the one among their outermost axes
    /// whose thinnest chunk is smallest: a chunk along an axis must be thick enough for the
    /// operands that cross it (runs of a page at least, see [`thickness`]), and that
    /// thickness times the other axes is the least a chunk holds (row blocks of a tall
    /// C-order matrix, not column blocks, when writing it in Fortran order). A mapped
    /// operand that stays in place along an axis (the output of a reduction along it)
    /// adds its whole size to that axis's count, since every chunk touches all of it: a
    /// reduction into a mapped output is cut along the reduced axis only when the output
    /// is smaller than the thinnest chunk along the axis it keeps, and the input is a
    /// candidate even when it is not mapped.
    fn common_outer_axis(&self, layouts: &[Footprint]) -> usize {
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
            let thick = thickness(layouts, &crossing(layouts, &self.hooks, axis), axis, AXIS_PAGE);
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
    /// around it, then flushes: [`walk`](Self::walk) without an accumulator.
    pub(super) fn run<E: From<Error>>(
        self,
        flat: bool,
        mut work: impl FnMut(P, Axis) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        P: Parts<D>,
    {
        self.walk(flat, (), |(), chunk, axis| work(chunk, axis))
    }

    /// Folds `acc` through the chunks in order: `work(acc, chunk, axis)` gives the next
    /// accumulator, with the kernel hints around each chunk; then flushes and returns the
    /// last accumulator. `flat`: whether `work` is element-wise, so that operands all
    /// contiguous in one order may be flattened.
    ///
    /// Progress is reported after each chunk, and the cancellation token checked before
    /// each: once it is cancelled, the walk stops, releases and flushes as at its end, and
    /// returns [`Error::Cancelled`] with the slabs done along the cut axis, so that every
    /// operation built on the walk reports and stops alike.
    pub(super) fn walk<T, E: From<Error>>(
        mut self,
        flat: bool,
        mut acc: T,
        mut work: impl FnMut(T, P, Axis) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        P: Parts<D>,
    {
        let flat = flat && self.riders.is_empty();
        let contiguous = [Order::RowMajor, Order::ColumnMajor]
            .into_iter()
            .find(|&order| flat && self.dim.ndim() > 0 && self.parts.contiguous(order));
        let layouts = [self.parts.footprints(), self.riders.clone()].concat();
        let slabs = self.slabs(&layouts, contiguous)?;
        let Zip { parts, hooks, settings, progress, dim, riders, .. } = self;
        // A walk over indices alone (a matrix product's) counts the bytes of its riders.
        let counted = parts.footprints();
        let counted = if counted.iter().all(|f| f.elem() == 0) { &riders } else { &counted };
        let watch = Watch::new(progress, settings.cancel.clone(), counted);
        if dim.ndim() == 0 {
            return walk_point(parts, &hooks, &watch, acc, work);
        }
        let (mut rest, len, per_row) = match contiguous {
            Some(order) => (parts.flatten(order), slabs.len * slabs.per_row, 1),
            None => (parts, slabs.len, slabs.per_row),
        };
        let layouts = [rest.footprints(), riders].concat();
        let axis = slabs.axis;
        let (plan, kept) = io_plan(&settings, &hooks, &layouts, axis, len);
        let crossing = crossing(&layouts, &hooks, axis);
        let rows = chunk_rows(plan.chunk_bytes, per_row, &layouts, &crossing, axis);
        // Each operand's addresses for a run of rows: one range, or one per run of its own
        // for an operand that crosses the cut; none for the operands not `hinted`.
        let hinted = hinted(&hooks, &layouts, axis);
        let spans = |start: usize, end: usize| -> Vec<Vec<Range<usize>>> {
            let pieces = |(l, h): (&Footprint, &bool)| {
                if *h { l.pieces(axis, start..end) } else { Vec::new() }
            };
            layouts.iter().zip(&hinted).map(pieces).collect()
        };
        // The outputs that cross the cut, which read-ahead faults in writable: so that none
        // of their pages stays mapped behind the walk, they are released once more a chunk
        // later, and at the end. What is read ahead: their pieces and the inputs'. An output
        // in order is not: its pages are new, and its own faults cost less than asking.
        let faulted = faulted(&hooks, &crossing);
        let ahead_of = |start: usize, end: usize| -> Vec<Vec<Range<usize>>> {
            let wanted = hooks.iter().zip(&faulted).map(|(h, f)| !h.writes() || *f);
            let all = spans(start, end).into_iter().zip(wanted);
            all.map(|(pieces, w)| if w { pieces } else { Vec::new() }).collect()
        };
        if settings.read_ahead && len > 0 {
            advise_access(&hooks, &layouts, &crossing, axis)?;
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
        // Rows computed so far: read-ahead behind them is skipped, since pages it faulted in
        // there would stay mapped after their release.
        let computed = AtomicUsize::new(0);
        let (cancel, kept) = (watch.token(), &kept);
        let io = Io { hooks: &hooks, crossing: &crossing, plan, kept, computed: &computed, cancel };
        // The accumulator, and the rows done if the walk was cancelled.
        let (acc, stopped) = std::thread::scope(|scope| {
            let (read_tx, read_rx) = mpsc::sync_channel::<Job>(2 + ahead);
            let (write_tx, write_rx) = mpsc::sync_channel::<Job>(2);
            let reader = reading.then(|| scope.spawn(move || io.run(&read_rx, 0)));
            let writer = writing.then(|| scope.spawn(move || io.run(&write_rx, lag)));
            let outcome = (|| {
                // Rows up to which read-ahead has been asked for.
                let mut asked = 0;
                let mut done = 0;
                let mut previous: Vec<Vec<Range<usize>>> = vec![Vec::new(); hooks.len()];
                while done < len && !watch.cancelled() {
                    let n = rows.min(len - done);
                    let want = len.min(done + n + ahead.saturating_mul(rows));
                    while ahead > 0 && asked < want {
                        let end = want.min(asked + rows);
                        let job = Job::ReadAhead { until: end, pieces: ahead_of(asked, end) };
                        if read_tx.send(job).is_err() {
                            return Ok((acc, None)); // a helper stopped on an error, reported below
                        }
                        asked = end;
                    }
                    let (chunk, tail) = rest.split(Axis(axis), n);
                    rest = tail;
                    acc = work(acc, chunk, Axis(axis))?;
                    let this = spans(done, done + n);
                    done += n;
                    computed.store(done, Ordering::Release);
                    let finished = finished(&this, &spans(done, len));
                    if settings.release_after_use {
                        // The previous chunk's pages again: read-ahead that was under way
                        // while it was computed may have faulted some in after its release.
                        release(&hooks, &only(&previous, &faulted))?;
                        release(&hooks, &finished)?;
                    }
                    previous.clone_from(&finished);
                    if writing && write_tx.send(Job::WriteBack(finished)).is_err() {
                        return Ok((acc, None));
                    }
                    watch.report(done * per_row, len * per_row);
                }
                Ok((acc, (done < len).then_some(done)))
            })();
            drop((read_tx, write_tx));
            let join = |helper: Option<std::thread::ScopedJoinHandle<'_, Result<()>>>| {
                helper.map_or(Ok(()), |h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            };
            let (read, write) = (join(reader), join(writer));
            outcome.and_then(|acc| read.and(write).map(|()| acc).map_err(E::from))
        })?;
        if settings.release_after_use {
            // Whatever read-ahead left mapped as the walk ended.
            release(&hooks, &only(&spans(0, len), &faulted))?;
        }
        flush_all(&hooks).map_err(E::from)?;
        stopped.map_or(Ok(acc), |done| Err(E::from(slabs.cancelled(done, per_row))))
    }
}

/// [`Zip::walk`] over 0-dimensional operands: one element, no axis to cut along.
fn walk_point<P, T, E: From<Error>>(
    parts: P,
    hooks: &[Hooks<'_>],
    watch: &Watch<'_>,
    acc: T,
    mut work: impl FnMut(T, P, Axis) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if watch.cancelled() {
        return Err(E::from(Error::Cancelled { axis: 0, done: 0, len: 1 }));
    }
    let acc = work(acc, parts, Axis(0))?;
    watch.report(1, 1);
    flush_all(hooks).map(|()| acc).map_err(E::from)
}

/// The I/O plan for a walk with `settings` over `len` rows along `axis` of operands with
/// `hooks` and `layouts`, sized to the memory available now, and per operand the pages
/// that stay cached (sorted addresses).
///
/// Those are the input pages in the page cache as the walk begins (asked once, here). Out
/// of core there are none: every input page is read ahead and evicted after use, since the
/// kernel would drop it before it came round again, and the page cache is not asked.
/// Without read-ahead, every input page counts as cached, so that only out of core are
/// input pages evicted.
fn io_plan(
    settings: &EngineSettings,
    hooks: &[Hooks<'_>],
    layouts: &[Footprint],
    axis: usize,
    len: usize,
) -> (Plan, Vec<Vec<Range<usize>>>) {
    let mapped = || hooks.iter().filter_map(|h| h.addresses().map(|a| (a, h.writes())));
    let bytes = mapped().map(|(addresses, _)| addresses.len() as u64).sum();
    // Without a mapped operand and with the chunk size given, nothing depends on the memory
    // available, and asking costs a few file reads (a gather into memory runs in microseconds).
    let asked = bytes > 0 || settings.chunk_bytes.is_none();
    let available = if asked { budget::available_memory() } else { None };
    let in_core = !budget::out_of_core(bytes, available);
    let spans: Vec<Range<usize>> = layouts.iter().map(|l| l.span(axis, 0..len)).collect();
    let cached = |(h, span): (&Hooks<'_>, &Range<usize>)| match h.addresses() {
        Some(_) if h.writes() || !in_core => Vec::new(),
        Some(_) if settings.read_ahead => h.cached(span),
        _ => vec![span.clone()],
    };
    let kept: Vec<Vec<Range<usize>>> = hooks.iter().zip(&spans).map(cached).collect();
    // Kept ranges lie inside their operand's span and do not overlap.
    let each = hooks.iter().zip(&spans).zip(&kept);
    let mut inputs = each.filter(|((h, _), _)| h.addresses().is_some() && !h.writes());
    let cold = inputs.any(|((_, span), kept)| {
        kept.iter().map(ExactSizeIterator::len).sum::<usize>() < span.len()
    });
    let demand = Demand {
        chunk_bytes: settings.chunk_bytes,
        inputs: mapped().filter(|(_, writes)| !writes).count(),
        outputs: mapped().filter(|(_, writes)| *writes).count(),
        bytes,
        input_bytes: mapped().filter(|(_, writes)| !writes).map(|(a, _)| a.len() as u64).sum(),
        cold,
        keep_inputs: !settings.evict_after_read,
    };
    (budget::plan(demand, available), kept)
}

/// The page size the choice of the cut's axis assumes: fixed, so that the axis (and with
/// it the memory order of a raw file that `map_collect_raw` makes) is the same on every
/// machine. The chunks themselves use the real page size.
const AXIS_PAGE: usize = 4096;

/// Which operands cross the cut along `axis`: mapped ones whose own outermost memory axis
/// is another (a Fortran-order map in a walk along axis 0, say). Their chunks are not one
/// range of addresses but one run per slab of their own. An operand that stays in place
/// along `axis` does not cross it: every chunk touches all of it.
fn crossing(layouts: &[Footprint], hooks: &[Hooks<'_>], axis: usize) -> Vec<bool> {
    // One hook per footprint, which every other per-operand list of the walk relies on:
    // riders (a reduction's output) add both at once.
    debug_assert_eq!(layouts.len(), hooks.len(), "one hook per operand");
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

/// Which operands read-ahead faults in: the outputs that cross the cut.
fn faulted(hooks: &[Hooks<'_>], crossing: &[bool]) -> Vec<bool> {
    hooks.iter().zip(crossing).map(|(h, c)| h.writes() && *c).collect()
}

/// Which operands get hints (one range, or one per run of their own, per chunk): the
/// mapped ones, but not those that stay in place along the cut `axis` (a reduction's
/// output cut along the reduced axis), which every chunk touches: they are flushed at the
/// end.
fn hinted(hooks: &[Hooks<'_>], layouts: &[Footprint], axis: usize) -> Vec<bool> {
    let each = hooks.iter().zip(layouts);
    each.map(|(h, l)| h.addresses().is_some() && !l.stays_along(axis)).collect()
}

/// The kernel's advice for the walk: `MADV_SEQUENTIAL` on the maps of the inputs that do
/// not cross the cut (they are read front to back); `MADV_RANDOM` on the maps that cross
/// it, read or written, where the engine hints run by run: they are walked in many short
/// runs at once, and the kernel's read-ahead on a fault (up to the device's `read_ahead_kb`,
/// 8 MiB on the test machines, per run) would fill memory with pages used much later.
fn advise_access(
    hooks: &[Hooks<'_>],
    layouts: &[Footprint],
    crossing: &[bool],
    axis: usize,
) -> Result<()> {
    for ((hook, layout), &crosses) in hooks.iter().zip(layouts).zip(crossing) {
        // Not outputs in order: `MADV_SEQUENTIAL` on a new output file made the add several
        // times slower on cached data.
        let advice = match (hook.writes(), crosses) {
            (_, true) if layout.has_pieces(axis) => Advice::Random,
            (false, false) => Advice::Sequential,
            _ => continue,
        };
        if let Some(all) = hook.addresses() {
            hook.advise(advice, &all)?;
        }
    }
    Ok(())
}

/// How many rows along `axis` a chunk needs at least so that each operand that crosses
/// the cut (and gets hints, see [`Footprint::has_pieces`]) has runs of at least `page`
/// bytes, each page then read or written in at most two chunks; 1 without such operands.
fn thickness(layouts: &[Footprint], crossing: &[bool], axis: usize, page: usize) -> usize {
    layouts
        .iter()
        .zip(crossing)
        .filter(|(l, crosses)| **crosses && l.has_pieces(axis))
        .map(|(l, _)| page.div_ceil(l.run_bytes(axis)))
        .max()
        .unwrap_or(1)
}

/// Work for an I/O helper thread: pieces of each operand, in operand order.
enum Job {
    /// Fault these pieces in ahead of the computation (inputs readable, outputs that cross
    /// the cut writable), unless the computation has reached row `until` already.
    ReadAhead { until: usize, pieces: Vec<Vec<Range<usize>>> },
    /// The outputs are done with these pieces: write them back.
    WriteBack(Vec<Vec<Range<usize>>>),
}

/// Read-ahead faults pieces in at most this many bytes at a time, so that it stops soon
/// once the computation overtakes it.
const PREFAULT_STEP: usize = 1 << 20;

/// Read-ahead reads inputs in order this many bytes at a time, taking the inputs in turn:
/// one huge page.
const READ_AHEAD_STEP: usize = 2 << 20;

/// What an I/O helper thread works on.
#[derive(Clone, Copy)]
struct Io<'h, 'a> {
    hooks: &'h [Hooks<'a>],
    /// Which operands cross the cut.
    crossing: &'h [bool],
    /// The I/O plan (whether inputs in order are read through the fault path).
    plan: Plan,
    /// Per operand, the pages that were in the page cache as the walk began (sorted
    /// addresses): neither read ahead nor evicted. Empty out of core.
    kept: &'h [Vec<Range<usize>>],
    /// Rows computed so far.
    computed: &'h AtomicUsize,
    /// The walk's cancellation token: read-ahead stops once it is cancelled.
    cancel: Option<&'h CancelToken>,
}

impl Io<'_, '_> {
    /// Runs jobs until the channel closes or one fails. With `lag > 0`, write-back keeps
    /// the last `lag` chunks in flight and settles older ones: waits for their write-back
    /// and drops them from the page cache.
    fn run(self, jobs: &mpsc::Receiver<Job>, lag: usize) -> Result<()> {
        let mut pending = std::collections::VecDeque::new();
        // Where each operand's last settled pieces started: a walk that goes up through
        // memory has settled everything below.
        let mut settled: Vec<Option<usize>> = vec![None; self.hooks.len()];
        for job in jobs {
            match job {
                Job::ReadAhead { until, pieces } => self.read_ahead(until, &pieces)?,
                Job::WriteBack(spans) => {
                    for (hook, pieces) in self.hooks.iter().zip(&spans) {
                        pieces.iter().try_for_each(|span| hook.write_behind(span))?;
                    }
                    if lag > 0 {
                        pending.push_back(spans);
                        while pending.len() > lag {
                            let old = pending.pop_front().expect("not empty");
                            // Input pages the walk read from disk (all of them out of
                            // core) are dropped now where the plan says (they do not fit
                            // in memory): their memory is reused at once instead of new
                            // memory taken. Those cached as the walk began (`kept`) stay.
                            let evict = self.plan.evict_inputs;
                            for (k, (hook, pieces)) in self.hooks.iter().zip(&old).enumerate() {
                                let start = pieces.first().map(|p| p.start);
                                let last = &mut settled[k];
                                let upward = last.zip(start).is_some_and(|(l, s)| l < s);
                                *last = start.or(*last);
                                let kept = &self.kept[k];
                                let eviction =
                                    Eviction { inputs: evict, whole_folios_below: upward, kept };
                                pieces.iter().try_for_each(|span| hook.settle(span, eviction))?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads `pieces` ahead of the computation, unless the computation reaches row
    /// `until` first (then it stops: the computation has faulted them in itself, and pages
    /// faulted in behind it would stay mapped after their release).
    ///
    /// - Inputs, and outputs that cross the cut, are asked for with `MADV_WILLNEED`, one
    ///   request per piece, the inputs' first: the kernel reads them while the rest is
    ///   done. But when the plan says so ([`Plan::read_through_fault`]), the pages of
    ///   inputs in order that were not cached as the walk began are read into the page
    ///   cache through the fault path of a map of their own instead
    ///   ([`Hooks::read_ahead`]): large folios, read in large requests, not mapped here, so
    ///   the resident set stays at the chunk computed. This waits for the reads, in steps
    ///   of [`READ_AHEAD_STEP`], the inputs in turn so that they arrive together.
    /// - The pieces of outputs that cross the cut are then faulted in writable, so that the
    ///   computation does not take one fault per page on a map where the kernel's
    ///   fault-around and read-ahead are off (`MADV_RANDOM`).
    fn read_ahead(self, until: usize, pieces: &[Vec<Range<usize>>]) -> Result<()> {
        let overtaken = || {
            self.computed.load(Ordering::Acquire) >= until
                || self.cancel.is_some_and(CancelToken::is_cancelled)
        };
        let operands = || self.hooks.iter().zip(pieces).zip(self.crossing);
        let by_fault = |hook: &Hooks<'_>, crosses: bool| {
            self.plan.read_through_fault && !hook.writes() && !crosses
        };
        let asked = |writes: bool| {
            operands().filter(move |((hook, _), crosses)| {
                hook.writes() == writes && (**crosses || !writes) && !by_fault(hook, **crosses)
            })
        };
        for ((hook, pieces), _) in asked(false).chain(asked(true)) {
            pieces.iter().try_for_each(|span| hook.advise(Advice::WillNeed, span))?;
        }
        // Only the pages not cached as the walk began: the others need no reading.
        let queues: Vec<Vec<(&Hooks<'_>, Range<usize>)>> = operands()
            .zip(self.kept)
            .filter(|(((hook, _), crosses), _)| by_fault(hook, **crosses))
            .map(|(((hook, pieces), _), kept)| {
                // One read per step at most: from its first page not cached to its last.
                let each = pieces.iter().flat_map(|p| steps_of(p.clone(), READ_AHEAD_STEP));
                let cold = each.filter_map(|step| {
                    let gaps = without(step.clone(), near(kept, &step));
                    Some(gaps.first()?.start..gaps.last()?.end)
                });
                cold.map(|step| (hook, step)).collect()
            })
            .collect();
        let longest = queues.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..longest {
            for (hook, step) in queues.iter().filter_map(|queue| queue.get(k)) {
                if overtaken() {
                    return Ok(());
                }
                hook.read_ahead(step)?;
            }
        }
        for ((hook, pieces), _) in asked(true) {
            for piece in pieces {
                for step in steps_of(piece.clone(), PREFAULT_STEP) {
                    if overtaken() {
                        return Ok(());
                    }
                    hook.prefault(&step)?;
                }
            }
        }
        Ok(())
    }
}

/// `range` cut into pieces of at most `step` bytes.
fn steps_of(range: Range<usize>, step: usize) -> impl Iterator<Item = Range<usize>> {
    let end = range.end;
    (range.start..end).step_by(step).map(move |start| start..end.min(start + step))
}

/// The whole pages of each operand's pieces `this` that its pieces `later` (the rest of the
/// walk) do not share: a page shared with the next chunk is released, written back and
/// evicted with that chunk, so that no page is written back (or waited for) while it is
/// still being written. A run of an operand that crosses the cut may also share its end
/// pages with the runs beside it in memory, the pieces before and after it.
fn finished(this: &[Vec<Range<usize>>], later: &[Vec<Range<usize>>]) -> Vec<Vec<Range<usize>>> {
    let page = page_size();
    let operand = |(pieces, later): (&Vec<Range<usize>>, &Vec<Range<usize>>)| {
        let near = |k: usize| -> Vec<&Range<usize>> {
            later
                .get(k.saturating_sub(1)..later.len().min(k + 2))
                .unwrap_or_default()
                .iter()
                .collect()
        };
        let each = pieces.iter().enumerate();
        each.flat_map(|(k, piece)| finished_pages(piece, &near(k), page)).collect()
    };
    this.iter().zip(later).map(operand).collect()
}

/// The pieces of the operands marked in `mask`; none of the others.
fn only(pieces: &[Vec<Range<usize>>], mask: &[bool]) -> Vec<Vec<Range<usize>>> {
    pieces.iter().zip(mask).map(|(p, &m)| if m { p.clone() } else { Vec::new() }).collect()
}

/// Drops each operand's `pieces` from the resident set.
fn release(hooks: &[Hooks<'_>], pieces: &[Vec<Range<usize>>]) -> Result<()> {
    for (hook, pieces) in hooks.iter().zip(pieces) {
        pieces.iter().try_for_each(|piece| hook.release(piece))?;
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

impl Slabs {
    /// The error of a walk cancelled after `done` of its rows of `per_row` elements (single
    /// elements, when the walk flattens the arrays): the whole slabs done along the axis.
    fn cancelled(&self, done: usize, per_row: usize) -> Error {
        Error::Cancelled { axis: self.axis, done: done * per_row / self.per_row, len: self.len }
    }
}

/// How many rows of `per_row` elements along `axis` a chunk of `chunk_bytes` takes: the rows
/// that fit the chunk size (in bytes of the widest operand), but at least a page per run of
/// each operand that `crossing` marks: a wide matrix walked across its memory order (a
/// C-order input of thousands of columns into a Fortran-order file) is then cut near the
/// chunk size, with about a page per column in flight.
fn chunk_rows(
    chunk_bytes: usize,
    per_row: usize,
    layouts: &[Footprint],
    crossing: &[bool],
    axis: usize,
) -> usize {
    let widest = layouts.iter().map(Footprint::elem).max().unwrap_or(1).max(1);
    let fits = chunk_bytes / per_row.saturating_mul(widest).max(1);
    fits.max(thickness(layouts, crossing, axis, page_size()))
}

impl<P, D: Dimension> Zip<'_, P, D> {
    /// Folds whole chunks on rayon's thread pool, for [`Zip::par_fold`] and
    /// [`Zip::par_fold_chunks`]: each chunk is cut into up to [`PIECES`] pieces along the
    /// chunk axis (not flattened), each piece folded from `identity()` by `fold`, and the
    /// pieces' results merged by `combine`, then into the accumulator, chunk after chunk.
    #[cfg(feature = "rayon")]
    pub(super) fn par_fold_pieces<T, I, F, C>(self, identity: I, fold: F, combine: C) -> Result<T>
    where
        P: Parts<D> + Send,
        T: Send,
        I: Fn() -> T + Sync + Send,
        F: Fn(T, P) -> T + Sync + Send,
        C: Fn(T, T) -> T + Sync + Send,
    {
        use ndarray::parallel::prelude::*;
        let ndim = self.dim.ndim();
        let init = identity();
        self.walk(false, init, |acc, chunk: P, axis| {
            let pieces = if ndim == 0 { vec![chunk] } else { pieces_of(chunk, axis) };
            let value = pieces
                .into_par_iter()
                .map(|piece| fold(identity(), piece))
                .reduce(&identity, &combine);
            Ok::<T, Error>(combine(acc, value))
        })
    }
}

/// `chunk` cut along `axis` into up to [`PIECES`] pieces of near-equal length, in order.
#[cfg(feature = "rayon")]
fn pieces_of<P: Parts<D>, D: Dimension>(chunk: P, axis: Axis) -> Vec<P> {
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
    out
}

/// How many pieces [`Zip::par_fold`] cuts each chunk into: enough to balance any pool.
#[cfg(feature = "rayon")]
const PIECES: usize = 64;
