//! Structured (record) `.npy` files: an event catalogue of `npy_record!` structs, created,
//! grown, viewed field by field (NumPy's `a['energy']`) and inspected; then, with NumPy at
//! hand (`NDMMAP_PYTHON`, or the crate's `.venv`), loaded by NumPy.
//!
//! ```text
//! cargo run --example records -- [PATH]
//! ```

// Small demo values only.
#![allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ndmmap::npy::{NpyRecord, RecordFieldsExt};
use ndmmap::prelude::*;

ndmmap::npy_record! {
    /// One detector event: `np.dtype([('id', '<i8'), ('hit', '<f4', (3,)), ('energy', '<f4')])`.
    #[derive(Debug)]
    struct Event { id: i64, hit: [f32; 3], energy: f32 }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = std::env::args().nth(1).map_or_else(|| dir.path().join("events.npy"), PathBuf::from);
    println!("dtype: {}", Event::layout());

    {
        // SAFETY: a new file that no other process touches while it is mapped.
        let mut events = unsafe { Array1::<Event>::create_npy(&path, 0)? };
        for i in 0..1000 {
            let e = Event { id: i, hit: [i as f32, 0.0, 1.0], energy: (i % 10) as f32 };
            events.push(ndarray::arr0(e).view())?;
        }
        events.close()?;
    }

    // SAFETY: as above.
    let events = unsafe { Array1::<Event>::map_npy(&path)? };
    let energy = events.field::<f32>("energy")?; // a['energy']: a strided view, no copy
    println!("{} events, mean energy {}", events.len(), energy.mean().unwrap_or(0.0));
    let header = ndmmap::npy::inspect(&path)?;
    println!("header: descr {} shape {:?}", header.descr, header.shape);
    numpy_loads(&path);
    Ok(())
}

/// Loads the file with NumPy, if there is one, and prints what it sees.
fn numpy_loads(path: &Path) {
    let python = std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        venv.exists().then_some(venv)
    });
    let Some(python) = python else {
        println!("(no NumPy: set NDMMAP_PYTHON to compare)");
        return;
    };
    let script = "import sys, numpy as np; a = np.load(sys.argv[1], mmap_mode='r'); \
                  print('numpy:', a.dtype, a.shape, 'mean energy', a['energy'].mean())";
    match Command::new(python).args(["-c", script]).arg(path).output() {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => println!("(NumPy did not run: {e})"),
    }
}
