//! Round-trip properties, and stable-Rust fuzzing of the header parser through the public
//! API (a short run by default, a long one `#[ignore]`d, run by hand).

use super::*;

/// An array of `dims` (up to 4 axes of 0..5) filled by `fill`, in C or Fortran order, or
/// with its axes permuted by `perm` (neither, in general).
fn arbitrary_array<A: Clone>(dims: &[u8], layout: u8, fill: impl Fn(usize) -> A) -> ArrayD<A> {
    let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
    let len = shape.iter().product();
    let data: Vec<A> = (0..len).map(fill).collect();
    let c = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
    match layout % 3 {
        0 => c,
        1 => {
            let mut f =
                ArrayD::from_shape_vec(IxDyn(&shape).f(), c.iter().cloned().collect()).unwrap();
            f.assign(&c);
            f
        }
        _ => {
            // A rotation of the axes: not contiguous in either order unless trivial.
            let n = shape.len();
            let axes: Vec<usize> = (0..n).map(|i| (i + 1) % n.max(1)).collect();
            c.permuted_axes(axes)
        }
    }
}

/// `save_npy`, then `map_npy` gives the same array, and `inspect` the shape and order NumPy's
/// rules give for the array's layout.
fn save_then_map<A: NpyElement + Pod + PartialEq + std::fmt::Debug>(a: &ArrayD<A>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.npy");
    a.save_npy(&path).unwrap();
    let header = npy::inspect(&path).unwrap();
    let fortran = numpy_fortran_order(a.shape(), a.strides());
    // SAFETY: no other process touches files in this fresh temporary folder.
    let map = unsafe { ArrayD::<A>::map_npy(&path) }.unwrap();
    let same =
        map.view() == a.view() && header.shape == a.shape() && header.fortran_order == fortran;
    // The file length is exactly header + data.
    let len = std::fs::metadata(&path).unwrap().len();
    same && len == header.data_offset + (a.len() * size_of::<A>()) as u64
        && header.data_offset.is_multiple_of(64)
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn prop_save_then_map() {
    fn f64s(dims: Vec<u8>, layout: u8, scale: i16) -> bool {
        let a = arbitrary_array(&dims, layout, |i| {
            f64::from(u32::try_from(i).unwrap()) * f64::from(scale) / 8.0
        });
        save_then_map(&a)
    }
    fn u8s(dims: Vec<u8>, layout: u8, start: u8) -> bool {
        #[allow(clippy::cast_possible_truncation)] // wrapping on purpose
        let a = arbitrary_array(&dims, layout, |i| start.wrapping_add(i as u8));
        save_then_map(&a)
    }
    QuickCheck::new().tests(300).quickcheck(f64s as fn(Vec<u8>, u8, i16) -> bool);
    QuickCheck::new().tests(300).quickcheck(u8s as fn(Vec<u8>, u8, u8) -> bool);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn prop_create_then_inspect() {
    fn prop(dims: Vec<u8>, fortran: bool) -> TestResult {
        let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.npy");
        let dim = if fortran { IxDyn(&shape).f() } else { IxDyn(&shape).into_shape_with_order() };
        // SAFETY: no other process touches files in this fresh temporary folder.
        let mut map = unsafe { ArrayD::<f64>::create_npy(&path, dim) }.unwrap();
        let strides = map.strides().to_vec();
        map.iter_mut().enumerate().for_each(|(i, x)| *x = f64::from(u32::try_from(i).unwrap()));
        let expected = map.to_owned();
        map.close().unwrap();
        let header = npy::inspect(&path).unwrap();
        let read: ArrayD<f64> = npy::read_npy(&path).unwrap();
        TestResult::from_bool(
            header.shape == shape
                && header.fortran_order == numpy_fortran_order(&shape, &strides)
                && read == expected,
        )
    }
    QuickCheck::new().tests(300).quickcheck(prop as fn(Vec<u8>, bool) -> TestResult);
}

// ---------------------------------------------------------------------------------------
// Stable-Rust fuzzing of the header parser, through the public API (run by hand)
// ---------------------------------------------------------------------------------------

/// xorshift64*: a small seeded generator (no dependency, reproducible from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)] // n is small; the modulo bias is irrelevant
        let r = (self.next() % n.max(1) as u64) as usize;
        r
    }
}

/// Tokens a structure-aware mutation splices into a header.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b",",
    b":",
    b"'",
    b"\"",
    b" ",
    b"\n",
    b"\t",
    b"#",
    b"\\",
    b"'descr'",
    b"'shape'",
    b"'fortran_order'",
    b"True",
    b"False",
    b"None",
    b"u'",
    b"b'",
    b"'<f8'",
    b"'>f8'",
    b"'|b1'",
    b"'<c16'",
    b"'<U3'",
    b"'|O'",
    b"[('a', '<f8')]",
    b"'<M8[s]'",
    b"0",
    b"1",
    b"-1",
    b"-0",
    b"1L",
    b"0x10",
    b"0o7",
    b"0b1",
    b"1_000",
    b"2.5",
    b"1e3",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"99999999999999999999999",
    b"\xff",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\x00",
    b"\x93NUMPY",
    b"'''",
    b"((",
    b"))",
    b",,",
];

/// Seed files: real headers (from `save_npy`, so from the writer) and hand-made lenient ones.
fn fuzz_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut save = |write: &dyn Fn(&Path)| {
        let path = dir.join("seed.npy");
        write(&path);
        seeds.push(std::fs::read(&path).unwrap());
    };
    save(&|p| array![[1.0f64, 2.0], [3.0, 4.0]].save_npy(p).unwrap());
    save(&|p| array![[1u8, 2, 3]].t().save_npy(p).unwrap());
    save(&|p| ArrayD::<i16>::zeros(IxDyn(&[])).save_npy(p).unwrap());
    save(&|p| ArrayD::<Complex<f32>>::zeros(IxDyn(&[3, 0, 2])).save_npy(p).unwrap());
    save(&|p| array![true, false].save_npy(p).unwrap());
    save(&|p| Array3::<u64>::zeros((2, 1, 2)).save_npy(p).unwrap());
    seeds.push(raw_npy(2, &aligned(2, &f8_dict("(2, 3)")), &six_f64()));
    seeds.push(raw_npy(
        3,
        &aligned(3, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2)} # é"),
        &six_f64(),
    ));
    seeds.push(raw_npy(
        1,
        b"{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": u\"<f8\"}\n",
        &six_f64(),
    ));
    seeds
}

/// One mutation of `input`, guided by `seeds` and `TOKENS`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = input.len();
    match rng.below(10) {
        0 if len > 0 => input[rng.below(len)] ^= 1 << rng.below(8),
        1 if len > 0 => input[rng.below(len)] = u8::try_from(rng.below(256)).unwrap(),
        2 => input.truncate(rng.below(len + 1)),
        3 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len + 1);
            input.splice(at..at, token.iter().copied());
        }
        4 if len > 0 => {
            let (a, b) = (rng.below(len), rng.below(len));
            input.drain(a.min(b)..a.max(b));
        }
        5 if len > 0 => {
            // Overwrite the header with a token (replace a value).
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len);
            let end = (at + token.len()).min(len);
            input.splice(at..end, token.iter().copied());
        }
        6 if len >= 12 => {
            // A new length field: small, near the real one, or huge.
            let value = match rng.below(3) {
                0 => rng.below(200) as u64,
                1 => (len as u64)
                    .saturating_sub(10)
                    .wrapping_add(rng.below(9) as u64)
                    .wrapping_sub(4),
                _ => rng.next(),
            };
            if input[6] == 1 {
                input[8..10].copy_from_slice(&value.to_le_bytes()[..2]);
            } else {
                input[8..12].copy_from_slice(&value.to_le_bytes()[..4]);
            }
        }
        7 if len >= 8 => {
            input[6] = [1, 2, 3, 0, 4][rng.below(5)];
            input[7] = u8::from(rng.below(8) == 0);
        }
        8 => {
            // Splice: a prefix of the input and a suffix of another seed.
            let other = &seeds[rng.below(seeds.len())];
            let (a, b) = (rng.below(len + 1), rng.below(other.len() + 1));
            input.truncate(a);
            input.extend_from_slice(&other[b..]);
        }
        _ if len > 0 => {
            // Duplicate a range.
            let (a, b) = (rng.below(len), rng.below(len));
            let piece = input[a.min(b)..a.max(b)].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, piece);
        }
        _ => input.extend_from_slice(&seeds[rng.below(seeds.len())]),
    }
}

/// The name of an outcome, for the summary.
fn outcome(result: &Result<npy::NpyHeader, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(Error::Npy { detail, .. }) => {
            let debug = format!("{detail:?}");
            debug.split([' ', '{', '(']).next().unwrap_or("").to_owned()
        }
        Err(other) => format!("other {other:?}"),
    }
}

/// N mutations (env `NPY_FUZZ_ITERS`, default 200,000) of real headers through `inspect`,
/// `read_npy` and `map_npy` on files in /dev/shm, seeded by `NPY_FUZZ_SEED`: no panic, only
/// typed errors, and every accepted header is consistent with the file. Run with
/// `cargo test --release --all-features --test it -- --ignored npy::props::fuzz --nocapture`.
#[test]
#[ignore = "a fuzzing run: minutes; run by hand"]
fn fuzz_headers_through_the_public_api() {
    let iters: u64 = std::env::var("NPY_FUZZ_ITERS").map_or(200_000, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("NPY_FUZZ_SEED").map_or(0x5EED_CAFE, |v| v.parse().unwrap());
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    fuzz(dir.path(), iters, seed);
}

/// The same loop, short and bounded, in every run of the suite: the first 5,000 inputs of
/// the long run's default seed (under a second on this machine's debug build).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fuzz_headers_briefly() {
    let dir = tempfile::tempdir().unwrap();
    fuzz(dir.path(), 5_000, 0x5EED_CAFE);
}

/// `iters` mutations of real headers, seeded by `seed`, with the files in `dir`; see
/// [`fuzz_headers_through_the_public_api`].
fn fuzz(dir: &Path, iters: u64, seed: u64) {
    let seeds = fuzz_seeds(dir);
    let path = dir.join("fuzz.npy");
    let mut rng = Rng(seed | 1);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut read_ok, mut mapped) = (0u64, 0u64);
    let start = std::time::Instant::now();
    for i in 0..iters {
        let seed_file = &seeds[rng.below(seeds.len())];
        let input = if rng.below(4) == 0 {
            // The whole file: magic, version, length field, header and data.
            let mut input = seed_file.clone();
            for _ in 0..=rng.below(6) {
                mutate(&mut rng, &mut input, &seeds);
            }
            input
        } else {
            // The header text alone, then a file with a length field that fits it, so that
            // the mutations reach the parser rather than the framing.
            let major = seed_file[6];
            let prefix = if major == 1 { 10 } else { 12 };
            let len_field = &seed_file[8..prefix];
            let header_len = len_field.iter().rev().fold(0usize, |n, &b| n * 256 + usize::from(b));
            let (text, data) = seed_file[prefix..].split_at(header_len);
            let mut text = text.to_vec();
            for _ in 0..=rng.below(4) {
                mutate(&mut rng, &mut text, &seeds);
            }
            if major == 1 && text.len() > usize::from(u16::MAX) {
                text.truncate(usize::from(u16::MAX));
            }
            raw_npy(major, &text, data)
        };
        // A new file each time: truncating one that holds unwritten data makes ext4 write it
        // back first (its `auto_da_alloc` heuristic), which costs milliseconds per input.
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, &input).unwrap();
        let result = std::panic::catch_unwind(|| {
            let header = npy::inspect(&path);
            let read = npy::read_npy::<f64, IxDyn>(&path);
            // SAFETY: this loop alone writes the file, and not while the map lives.
            let map = unsafe { ArrayD::<u8>::map_npy(&path) };
            (header, read, map.map(|m| m.len()))
        });
        let Ok((header, read, map)) = result else {
            let crash = dir.join(format!("crash-{i}.npy"));
            std::fs::write(&crash, &input).unwrap();
            panic!("panic on input {i} (seed {seed}): {:?}", input.escape_ascii().to_string());
        };
        if let Ok(h) = &header {
            assert!(h.data_offset <= input.len() as u64, "header past the end: {h:?}");
            if let Ok(a) = &read {
                assert_eq!(a.shape(), h.shape.as_slice());
                read_ok += 1;
            }
            if let Ok(len) = map {
                assert_eq!(len, h.shape.iter().product::<usize>());
                mapped += 1;
            }
        } else {
            assert!(read.is_err() && map.is_err(), "inspect failed but a read succeeded");
        }
        *outcomes.entry(outcome(&header)).or_default() += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{iters} inputs in {secs:.1} s ({:.0}/s), seed {seed}: read_npy ok {read_ok}, map_npy ok {mapped}",
        f64::from(u32::try_from(iters).unwrap_or(u32::MAX)) / secs
    );
    for (name, count) in &outcomes {
        eprintln!("  {name:24} {count}");
    }
    assert!(outcomes.len() > 8, "the mutations reach few outcomes: {outcomes:?}");
}
