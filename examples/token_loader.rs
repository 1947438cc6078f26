//! nanoGPT's data loader on a token file: random batches of 1024-token windows from a
//! file of `u16` tokens, each batch gathered by [`ndmmap::chunked::Zip::select_windows`]
//! (read from the file; the pages of windows not in the page cache asked for at once),
//! then split into inputs and targets (the targets are the inputs shifted by one token), as
//! nanoGPT's `get_batch` does with `np.memmap`.
//!
//! ```text
//! cargo run --release --example token_loader                      # 256 MiB of tokens
//! cargo run --release --example token_loader -- --mib 2048 --cold  # each batch from disk
//! cargo run --release --example token_loader -- --help
//! ```
//!
//! Token `i` of the file is `(i * 2654435761 mod 2^32) >> 16 mod 50257`; the program checks
//! every window of every batch against that formula.

// Sizes become `f64` for reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// The shared helpers compare small integers held exactly in f64.
#![allow(clippy::float_cmp)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, drop_from_cache, work_dir};

/// GPT-2's vocabulary size.
const VOCAB: u32 = 50_257;

/// Token `i` of the file.
fn token(i: usize) -> u16 {
    // Wraps on purpose: a multiplicative hash of the position.
    #[allow(clippy::cast_possible_truncation)]
    let hashed = (i as u32).wrapping_mul(2_654_435_761) >> 16;
    u16::try_from(hashed % VOCAB).expect("below the vocabulary size")
}

/// Writes `path` as `n` tokens unless it already has that length.
fn ensure_tokens(path: &Path, n: usize) -> BoxResult<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 2 * n as u64) {
        return Ok(());
    }
    let mut file = File::create(path)?;
    let mut chunk = Vec::with_capacity(1 << 20);
    for start in (0..n).step_by(1 << 20) {
        chunk.clear();
        chunk.extend((start..n.min(start + (1 << 20))).map(token));
        file.write_all(bytemuck::cast_slice(&chunk))?;
    }
    file.sync_all()?;
    Ok(())
}

/// A small random number generator (xorshift64*), so that the example needs no crate.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        // The value has 53 bits, and `n` fits in one too.
        #[allow(clippy::cast_possible_truncation)]
        let below = (value % n as u64) as usize;
        below
    }
}

struct Args {
    dir: Option<PathBuf>,
    mib: usize,
    batches: usize,
    batch: usize,
    block: usize,
    cold: bool,
}

fn parse_args() -> BoxResult<Args> {
    let mut parsed = Args { dir: None, mib: 256, batches: 20, batch: 64, block: 1024, cold: false };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => parsed.dir = Some(PathBuf::from(value()?)),
            "--mib" => parsed.mib = value()?.parse()?,
            "--batches" => parsed.batches = value()?.parse()?,
            "--batch" => parsed.batch = value()?.parse()?,
            "--block" => parsed.block = value()?.parse()?,
            "--cold" => parsed.cold = true,
            "--help" | "-h" => {
                println!(
                    "usage: token_loader [--dir DIR] [--mib N] [--batches N] [--batch N] [--block N] [--cold]\n\
                     \x20 --dir DIR    keep tokens.bin in DIR and reuse it (default: a temporary folder)\n\
                     \x20 --mib N      size of the token file in MiB (default: 256)\n\
                     \x20 --batches N  batches to draw (default: 20)\n\
                     \x20 --batch N    windows per batch (default: 64)\n\
                     \x20 --block N    tokens per window (default: 1024)\n\
                     \x20 --cold       drop the file from the page cache before each batch"
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown option {flag}; try --help").into()),
        }
    }
    Ok(parsed)
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-tokens-")?;
    let path = dir.join("tokens.bin");
    let n = args.mib << 19; // u16 tokens
    ensure_tokens(&path, n)?;
    println!("tokens: {} ({n} u16 tokens, {} MiB)", path.display(), args.mib);
    if n <= args.block {
        return Err("the file is shorter than a window".into());
    }

    // SAFETY: the file lives in a folder this program made or was given for its own use;
    // no other process writes or truncates it while it is mapped.
    let data = unsafe { Array1::<u16>::map_file(&path)? };
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut times = Vec::with_capacity(args.batches);
    for _ in 0..args.batches {
        // Windows one token longer than the block: inputs and targets shifted by one.
        let starts: Vec<usize> =
            (0..args.batch).map(|_| random.below(n - args.block - 1)).collect();
        if args.cold {
            drop_from_cache(&path)?;
        }
        let t0 = Instant::now();
        let windows = chunked::Zip::from(&data).select_windows(&starts, args.block + 1)?;
        times.push(t0.elapsed().as_secs_f64());
        let (x, y) = (windows.slice(s![.., ..args.block]), windows.slice(s![.., 1..]));
        for (b, &start) in starts.iter().enumerate() {
            let expected = |k: usize| token(start + k);
            if x.row(b).iter().enumerate().any(|(k, &t)| t != expected(k))
                || y.row(b).iter().enumerate().any(|(k, &t)| t != expected(k + 1))
            {
                return Err(format!("window {b} at {start} differs from the file's tokens").into());
            }
        }
    }
    let first = times.first().copied().unwrap_or(0.0);
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{} batches of {} x {} tokens ({}): first {:.3} ms, median {:.3} ms; every window checked",
        args.batches,
        args.batch,
        args.block,
        if args.cold { "cold" } else { "cached after the first" },
        first * 1e3,
        median * 1e3,
    );
    Ok(())
}
