//! What a walk tells its caller and hears from it: progress, through the caller's callback
//! behind a lock (so that any thread of a walk may report) or the progress bar of feature
//! `progress-bar`, and cancellation.

use std::sync::{Mutex, PoisonError};

use super::CancelToken;
use super::operand::Footprint;

/// A walk's progress callback and cancellation token, with the bytes its operands hold per
/// element, in which progress is counted.
pub(super) struct Watch<'a> {
    progress: Option<Progress<'a>>,
    cancel: Option<CancelToken>,
    elem_bytes: u64,
}

impl<'a> Watch<'a> {
    /// The watch of a walk over operands of `layouts`: progress counts the bytes of their
    /// elements (indices count none).
    pub(super) fn new(
        progress: Option<Callback<'a>>,
        cancel: Option<CancelToken>,
        layouts: &[Footprint],
    ) -> Self {
        // At least one byte per element, so that a walk with nothing to count still reports
        // how far it got.
        let elem_bytes = layouts.iter().map(|l| l.elem() as u64).sum::<u64>().max(1);
        Self { progress: progress.map(Progress::new), cancel, elem_bytes }
    }

    /// Reports `elements` done of `total` (per operand), in bytes of all the operands.
    pub(super) fn report(&self, elements: usize, total: usize) {
        if let Some(progress) = &self.progress {
            progress.report(
                (elements as u64).saturating_mul(self.elem_bytes),
                (total as u64).saturating_mul(self.elem_bytes),
            );
        }
    }

    /// Whether the walk's token is cancelled.
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// The token, for helper threads that stop on it too.
    pub(super) fn token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }
}

/// The caller's progress callback, `f(bytes done, bytes in all)`, as a [`Zip`](super::Zip)
/// holds it (a `Box`, so that the Zip stays covariant in its lifetime).
pub(super) type Callback<'a> = Box<dyn FnMut(u64, u64) + Send + 'a>;

/// The caller's progress callback during a walk: callable from any thread, one call at a
/// time.
pub(super) struct Progress<'a>(Mutex<Callback<'a>>);

impl<'a> Progress<'a> {
    pub(super) fn new(report: Callback<'a>) -> Self {
        Self(Mutex::new(report))
    }

    /// Calls the callback with `done` of `total` bytes. A callback that panicked before
    /// (its panic went up through the walk) is called again as it is.
    pub(super) fn report(&self, done: u64, total: u64) {
        let mut report = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        report(done, total);
    }
}

/// A callback that draws a progress bar of bytes on standard error (none when standard
/// error is not a terminal), finished when the walk is done.
#[cfg(feature = "progress-bar")]
pub(super) fn bar() -> impl FnMut(u64, u64) + Send {
    let style = indicatif::ProgressStyle::with_template(
        "{wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    )
    .expect("a valid template");
    let bar = indicatif::ProgressBar::new(0).with_style(style);
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done == total {
            bar.finish();
        }
    }
}
