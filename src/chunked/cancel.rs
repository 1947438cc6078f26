//! Stopping a walk from outside: [`CancelToken`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag that stops the walks given it ([`Zip::cancel_on`](super::Zip::cancel_on)) within
/// one chunk: the walk returns [`Error::Cancelled`](crate::Error::Cancelled), which says
/// how much of its outputs is done.
///
/// Cheap to clone (clones share one flag) and to check; [`cancel`](Self::cancel) it from
/// any thread, a signal handler's thread or the walk's own progress callback. Once
/// cancelled it stays so: give each job a token of its own.
///
/// # Example
///
/// ```
/// use ndmmap::chunked::{CancelToken, Zip};
/// use ndmmap::prelude::*;
///
/// let token = CancelToken::new();
/// let stop = token.clone();
/// let mut a = Array1::<f64>::zeros(1000);
/// let err = Zip::from(&mut a)
///     .chunk_bytes(800) // 100 elements per chunk
///     .cancel_on(&token)
///     .progress(move |done, _| if done >= 3 * 800 { stop.cancel() })
///     .for_each(|x| *x = 1.0)
///     .unwrap_err();
/// assert!(matches!(err, ndmmap::Error::Cancelled { axis: 0, done: 300, len: 1000 }));
/// assert_eq!(a.sum(), 300.0); // the first 300 elements, and no others
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled.
    ///
    /// # Example
    ///
    /// ```
    /// let token = ndmmap::chunked::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every walk given this token or a clone of it: each stops before its next
    /// chunk.
    ///
    /// # Example
    ///
    /// ```
    /// let token = ndmmap::chunked::CancelToken::new();
    /// let clone = token.clone();
    /// std::thread::spawn(move || clone.cancel()).join().unwrap();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or a clone of it.
    ///
    /// # Example
    ///
    /// ```
    /// let token = ndmmap::chunked::CancelToken::new();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
