//! ndmmap (crate docs are written with the core).
#![deny(missing_docs, unsafe_code)]

mod npy;
