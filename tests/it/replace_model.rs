//! Random sequences of operations on `.npy` files at a few paths, two handles each, against
//! a model: open (read-only, read-write, copy-on-write), write through a guard, flush,
//! replace the file at a path (`save_npy`, `create_npy` with `overwrite(true)`), grow
//! (`append`, `push`), close and drop.
//!
//! The model holds the elements of each file *identity*: a replace makes a new identity at
//! its path, and the guards over the old one keep it. After every step, each live guard
//! sees its identity's elements (a copy-on-write guard its own), and each file at a path
//! whose identity no read-write guard maps is byte for byte what `save_npy` writes for the
//! model's elements (growth rewrites the header as `np.save` would write it).
//!
//! Only what the mapping contract allows is generated: a read-write guard maps an identity
//! no other guard maps (nothing changes the bytes under another guard). On Windows, which
//! renames over no file that a live map holds, a replace of a mapped identity is refused
//! (the typed error, the file unchanged, nothing left behind) and the model keeps it.
//!
//! `QUICKCHECK_TESTS` sets the number of sequences (20 by default, a few seconds), and
//! `QUICKCHECK_GENERATOR_SIZE` their greatest length (40 by default).

// Lengths and indices here are small; quickcheck properties take their arguments by value.
#![allow(clippy::cast_possible_truncation, clippy::needless_pass_by_value)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndmmap::npy::NpyOptions;
use ndmmap::prelude::*;
use ndmmap::{Error, MmapArray, MmapArrayMut};
use quickcheck::{Arbitrary, Gen, QuickCheck};

use crate::common;

/// The paths, and the handles per path.
const PATHS: usize = 2;
const SLOTS: usize = 2 * PATHS;

#[derive(Clone, Debug)]
enum Op {
    Open { slot: usize, kind: Kind },
    Write { slot: usize, at: usize, value: u32 },
    Flush { slot: usize },
    Replace { path: usize, create: bool, len: usize, base: u32 },
    Grow { slot: usize, n: usize, push: bool },
    Close { slot: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ReadOnly,
    ReadWrite,
    CopyOnWrite,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let slot = usize::arbitrary(g) % SLOTS;
        match u8::arbitrary(g) % 7 {
            0 | 1 => {
                let kind =
                    *g.choose(&[Kind::ReadOnly, Kind::ReadWrite, Kind::CopyOnWrite]).unwrap();
                Op::Open { slot, kind }
            }
            2 => Op::Write { slot, at: usize::arbitrary(g), value: u32::arbitrary(g) },
            3 => Op::Flush { slot },
            4 => Op::Replace {
                path: slot % PATHS,
                create: bool::arbitrary(g),
                len: usize::arbitrary(g) % 9,
                base: u32::arbitrary(g),
            },
            // Now and then past the first reservation (1 MiB): growth remaps.
            5 => {
                let n =
                    if u8::arbitrary(g) % 8 == 0 { 300_000 } else { 1 + usize::arbitrary(g) % 4 };
                Op::Grow { slot, n, push: bool::arbitrary(g) }
            }
            _ => Op::Close { slot },
        }
    }
}

/// Maps the file at `path` as `kind`. The model lets no guard change bytes another guard
/// maps, and nothing outside this test touches its temporary folder: the mapping contract
/// holds.
fn map(path: &Path, kind: Kind) -> Guard {
    match kind {
        // SAFETY: see above.
        Kind::ReadOnly => Guard::ReadOnly(unsafe { Array1::map_npy(path) }.unwrap()),
        // SAFETY: see above.
        Kind::ReadWrite => Guard::ReadWrite(unsafe { Array1::map_npy_mut(path) }.unwrap()),
        // SAFETY: see above.
        Kind::CopyOnWrite => Guard::CopyOnWrite(unsafe { Array1::map_npy_copy(path) }.unwrap()),
    }
}

enum Guard {
    ReadOnly(MmapArray<u32, Ix1>),
    ReadWrite(MmapArrayMut<u32, Ix1>),
    CopyOnWrite(MmapArrayMut<u32, Ix1>),
}

/// A live handle: its guard, the identity it maps, and a copy-on-write guard's own elements.
struct Live {
    guard: Guard,
    identity: usize,
    own: Option<Vec<u32>>,
}

impl Live {
    fn view(&self) -> Vec<u32> {
        match &self.guard {
            Guard::ReadOnly(a) => a.to_vec(),
            Guard::ReadWrite(a) | Guard::CopyOnWrite(a) => a.to_vec(),
        }
    }
}

struct World {
    paths: Vec<PathBuf>,
    scratch: PathBuf,
    /// The elements of each file identity ever made.
    files: Vec<Vec<u32>>,
    /// The identity at each path.
    at: Vec<usize>,
    slots: Vec<Option<Live>>,
    /// What `save_npy` wrote for each content checked so far.
    saved: RefCell<HashMap<Vec<u32>, Vec<u8>>>,
}

impl World {
    fn new(dir: &Path) -> World {
        let paths: Vec<PathBuf> = (0..PATHS).map(|p| dir.join(format!("f{p}.npy"))).collect();
        let mut files = Vec::new();
        for (p, path) in paths.iter().enumerate() {
            let values: Vec<u32> = (0..3).map(|i| 100 * p as u32 + i).collect();
            Array1::from(values.clone()).save_npy(path).unwrap();
            files.push(values);
        }
        World {
            paths,
            scratch: dir.join("scratch").join("model.npy"),
            files,
            at: (0..PATHS).collect(),
            slots: (0..SLOTS).map(|_| None).collect(),
            saved: RefCell::default(),
        }
    }

    /// Whether a read-write guard maps `identity`.
    fn written(&self, identity: usize) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|l| l.identity == identity && matches!(l.guard, Guard::ReadWrite(_)))
    }

    fn mapped(&self, identity: usize) -> bool {
        self.slots.iter().flatten().any(|l| l.identity == identity)
    }

    fn close(&mut self, slot: usize) {
        if let Some(live) = self.slots[slot].take() {
            match live.guard {
                Guard::ReadWrite(a) => a.close().unwrap(),
                Guard::ReadOnly(a) => drop(a),
                Guard::CopyOnWrite(a) => drop(a),
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Open { slot, kind } => {
                self.close(slot);
                let path = &self.paths[slot / 2];
                let identity = self.at[slot / 2];
                // The mapping contract: a writer maps alone.
                if self.written(identity) || (kind == Kind::ReadWrite && self.mapped(identity)) {
                    return;
                }
                let guard = map(path, kind);
                let own = (kind == Kind::CopyOnWrite).then(|| self.files[identity].clone());
                self.slots[slot] = Some(Live { guard, identity, own });
            }
            Op::Write { slot, at, value } => {
                let Some(live) = &mut self.slots[slot] else { return };
                let (a, model) = match &mut live.guard {
                    Guard::ReadOnly(_) => return,
                    Guard::ReadWrite(a) => (a, &mut self.files[live.identity]),
                    Guard::CopyOnWrite(a) => (a, live.own.as_mut().unwrap()),
                };
                if model.is_empty() {
                    return;
                }
                let at = at % model.len();
                a[at] = value;
                model[at] = value;
            }
            Op::Flush { slot } => {
                if let Some(Guard::ReadWrite(a) | Guard::CopyOnWrite(a)) =
                    self.slots[slot].as_ref().map(|l| &l.guard)
                {
                    a.flush().unwrap();
                }
            }
            Op::Replace { path, create, len, base } => {
                let values: Vec<u32> = (0..len as u32).map(|i| base.wrapping_add(i)).collect();
                let target = &self.paths[path];
                let replace = || -> Result<(), Error> {
                    if create {
                        let options = NpyOptions::new().overwrite(true);
                        // SAFETY: a new file, which no guard maps.
                        let mut c =
                            unsafe { Array1::<u32>::create_npy_with(target, len, &options) }?;
                        c.assign(&Array1::from(values.clone()));
                        c.close()
                    } else {
                        Array1::from(values.clone()).save_npy(target)
                    }
                };
                if cfg!(windows) && self.mapped(self.at[path]) {
                    // Windows renames over no file that a live map holds: refused, and the
                    // file at the path stays the one the guards map.
                    common::replace_under_a_map(target, replace);
                    return;
                }
                replace().unwrap();
                self.files.push(values);
                self.at[path] = self.files.len() - 1;
            }
            Op::Grow { slot, n, push } => {
                let Some(Live { guard: Guard::ReadWrite(a), identity, .. }) = &mut self.slots[slot]
                else {
                    return;
                };
                let model = &mut self.files[*identity];
                let start = model.len() as u32;
                if push {
                    a.push(ndarray::arr0(start).view()).unwrap();
                    model.push(start);
                } else {
                    let rows: Vec<u32> = (0..n as u32).map(|i| start.wrapping_add(i)).collect();
                    a.append(ArrayView1::from(&rows)).unwrap();
                    model.extend(rows);
                }
            }
            Op::Close { slot } => self.close(slot),
        }
    }

    /// What `save_npy` writes for `values`, written once per distinct content.
    fn saved(&self, values: &[u32]) -> Vec<u8> {
        let mut saved = self.saved.borrow_mut();
        saved
            .entry(values.to_vec())
            .or_insert_with(|| {
                Array1::from(values.to_vec()).save_npy(&self.scratch).unwrap();
                std::fs::read(&self.scratch).unwrap()
            })
            .clone()
    }

    /// Checks every live guard and every file at a path that no writer maps.
    fn check(&self, step: usize, op: &Op) -> Result<(), String> {
        for (slot, live) in self.slots.iter().enumerate() {
            let Some(live) = live else { continue };
            let expected = live.own.as_ref().unwrap_or(&self.files[live.identity]);
            if live.view() != *expected {
                return Err(format!(
                    "step {step} ({op:?}): handle {slot} sees {:?}, not {expected:?}",
                    live.view()
                ));
            }
        }
        for (p, path) in self.paths.iter().enumerate() {
            let identity = self.at[p];
            if self.written(identity) {
                continue;
            }
            let found = std::fs::read(path).unwrap();
            let expected = self.saved(&self.files[identity]);
            if found != expected {
                return Err(format!(
                    "step {step} ({op:?}): {} holds {} bytes, not save_npy's {} of {:?}",
                    path.display(),
                    found.len(),
                    expected.len(),
                    self.files[identity].len()
                ));
            }
        }
        Ok(())
    }
}

fn files_and_guards_follow_the_model(ops: Vec<Op>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scratch")).unwrap();
    let mut world = World::new(dir.path());
    for (step, op) in ops.iter().enumerate() {
        world.apply(op);
        world.check(step, op)?;
    }
    for slot in 0..SLOTS {
        world.close(slot);
    }
    world.check(ops.len(), &Op::Close { slot: SLOTS })
}

#[test]
fn files_and_guards_follow_the_model_through_replaces_and_growth() {
    let env = |name: &str, default: usize| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    QuickCheck::new()
        .rng(Gen::new(env("QUICKCHECK_GENERATOR_SIZE", 40)))
        .tests(env("QUICKCHECK_TESTS", 20) as u64)
        .quickcheck(files_and_guards_follow_the_model as fn(Vec<Op>) -> Result<(), String>);
}
