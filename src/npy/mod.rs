//! `.npy` support.
