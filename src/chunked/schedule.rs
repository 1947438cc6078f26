//! How the engine walks its operands: the checks before anything runs, the cut into
//! chunks along the outermost memory axis, and the helper thread that reads ahead and
//! writes behind.

use std::ops::Range;
use std::sync::mpsc;

use ndarray::{Axis, Dimension, Order};

use super::operand::{Footprint, Hooks, Parts, outer_axis_of};
use super::{EVICT_LAG, Zip};
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
            None => self.common_outer_axis(layouts)?,
        };
        let len = self.dim[axis];
        Ok(Slabs { axis, len, per_row: size / len })
    }

    /// The outermost memory axis of the mapped operands (or, if none is mapped, of the
    /// first), which must agree.
    fn common_outer_axis(&self, layouts: &[Footprint]) -> Result<usize> {
        let mapped: Vec<usize> =
            (0..layouts.len()).filter(|&i| self.hooks[i].addresses().is_some()).collect();
        let judged = if mapped.is_empty() { vec![0] } else { mapped };
        let mut first: Option<(usize, usize)> = None;
        for i in judged {
            let Some(axis) = layouts[i].outer_axis() else { continue };
            match first {
                None => first = Some((i, axis)),
                Some((_, expected)) if expected != axis => {
                    return Err(Error::LayoutMismatch { operand: i, expected, actual: axis });
                }
                Some(_) => {}
            }
        }
        Ok(first.map_or(0, |(_, axis)| axis))
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
        let contiguous = [Order::RowMajor, Order::ColumnMajor]
            .into_iter()
            .find(|&order| flat && self.dim.ndim() > 0 && self.parts.contiguous(order));
        let slabs = self.slabs(&self.parts.footprints(), contiguous)?;
        let Zip { parts, hooks, settings, mut progress, dim, .. } = self;
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
        let layouts = rest.footprints();
        let widest = layouts.iter().map(Footprint::elem).max().unwrap_or(1).max(1);
        let rows = (settings.chunk_bytes / per_row.saturating_mul(widest).max(1)).max(1);
        let total = len * per_row;
        let axis = slabs.axis;
        let spans = |start: usize, end: usize| -> Vec<Range<usize>> {
            layouts.iter().map(|l| l.span(axis, start..end)).collect()
        };

        if settings.read_ahead && len > 0 {
            for hook in &hooks {
                // Inputs only: measured, `MADV_SEQUENTIAL` on a new output file made the add
                // two to three times slower on cached data (1 GiB arrays).
                if let (Some(all), false) = (hook.addresses(), hook.writes()) {
                    hook.advise(Advice::Sequential, &all)?;
                }
            }
        }
        // Read-ahead and write-behind run on a helper thread, so that the computation never
        // waits for the kernel to queue I/O. The channel holds two jobs: if the disk falls
        // behind, the computation waits for it, and dirty pages stay bounded.
        let background = (settings.read_ahead || settings.write_behind) && len > 0;
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::sync_channel::<Job>(2);
            let io = background.then(|| {
                let hooks = &hooks;
                scope.spawn(move || run_io(hooks, &receiver, settings.evict_after_write))
            });
            let outcome = (|| {
                if settings.read_ahead
                    && len > 0
                    && sender.send(Job::ReadAhead(spans(0, rows.min(len)))).is_err()
                {
                    return Ok(());
                }
                let mut done = 0;
                while done < len {
                    let n = rows.min(len - done);
                    if settings.read_ahead
                        && done + n < len
                        && sender
                            .send(Job::ReadAhead(spans(done + n, (done + n + rows).min(len))))
                            .is_err()
                    {
                        return Ok(()); // the helper stopped on an error, reported below
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
                    if settings.write_behind && sender.send(Job::WriteBehind(this)).is_err() {
                        return Ok(());
                    }
                    if let Some(progress) = progress.as_mut() {
                        progress(done * per_row, total);
                    }
                }
                Ok(())
            })();
            drop(sender);
            let helper = io.map_or(Ok(()), |io| {
                io.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            outcome.and(helper.map_err(E::from))
        })?;
        flush_all(&hooks).map_err(E::from)
    }
}

/// Work for the I/O helper thread: spans of each operand, in operand order.
enum Job {
    /// Ask the kernel to read these spans (`MADV_WILLNEED`).
    ReadAhead(Vec<Range<usize>>),
    /// Start writing back these spans of the outputs.
    WriteBehind(Vec<Range<usize>>),
}

/// The I/O helper: runs jobs until the channel closes or one fails.
///
/// With `evict`, write-behind keeps the last [`EVICT_LAG`] chunks in flight and settles the
/// older ones: waits for their write-back and drops them from the page cache.
fn run_io(hooks: &[Hooks<'_>], jobs: &mpsc::Receiver<Job>, evict: bool) -> Result<()> {
    let lag = if evict { EVICT_LAG } else { 0 };
    let mut pending = std::collections::VecDeque::new();
    for job in jobs {
        match job {
            Job::ReadAhead(spans) => {
                // Outputs are not read ahead: measured, `MADV_WILLNEED` on a new file's
                // unwritten blocks costs more than the faults it saves (zeroed pages made
                // twice as slow a job), and the fault path reads what an output does need.
                for (hook, span) in hooks.iter().zip(&spans).filter(|(hook, _)| !hook.writes()) {
                    hook.advise(Advice::WillNeed, span)?;
                }
            }
            Job::WriteBehind(spans) => {
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
