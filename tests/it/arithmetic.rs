//! ndarray's operations on mapped data, each compared against the same operation on owned
//! arrays built from the same elements.
// Exact float comparisons are intended: both sides run the same operations on the same
// small integers and halves, which are exact in f64.
#![allow(clippy::float_cmp)]

use std::path::Path;

use ndarray::{Zip, azip};
use ndmmap::prelude::*;

use crate::{halves, read_bytes, temp_file, write_elems};

const ROWS: usize = 6;
const COLS: usize = 5;

/// Two input files of `ROWS * COLS` f64 elements each and their owned twins.
struct Inputs {
    dir: tempfile::TempDir,
    a_data: Vec<f64>,
    b_data: Vec<f64>,
}

impl Inputs {
    fn new() -> Self {
        let (dir, a_path) = temp_file("a.bin");
        let n = u32::try_from(ROWS * COLS).unwrap();
        let a_data = halves(n);
        let b_data: Vec<f64> = (0..n).map(|i| f64::from(i * i) - 100.0).collect();
        write_elems(&a_path, &a_data);
        write_elems(&dir.path().join("b.bin"), &b_data);
        Inputs { dir, a_data, b_data }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn map<D: Dimension>(&self, name: &str, options: &MapOptions<D>) -> MmapArray<f64, D> {
        // SAFETY: no other process touches files in this fresh temporary folder.
        unsafe { Array::<f64, D>::map_file_with(self.path(name), options) }.unwrap()
    }

    fn a(&self) -> MmapArray<f64, Ix2> {
        self.map("a.bin", &MapOptions::new().shape((ROWS, COLS)))
    }

    fn b(&self) -> MmapArray<f64, Ix2> {
        self.map("b.bin", &MapOptions::new().shape((ROWS, COLS)))
    }

    fn owned_a(&self) -> Array2<f64> {
        Array2::from_shape_vec((ROWS, COLS), self.a_data.clone()).unwrap()
    }

    fn owned_b(&self) -> Array2<f64> {
        Array2::from_shape_vec((ROWS, COLS), self.b_data.clone()).unwrap()
    }

    fn create_c(&self) -> MmapArrayMut<f64, Ix2> {
        // SAFETY: no other process touches files in this fresh temporary folder.
        unsafe { Array2::<f64>::create_file(self.path("c.bin"), (ROWS, COLS)) }.unwrap()
    }
}

/// The file's elements, read with `read`, as f64.
fn file_f64(path: &Path) -> Vec<f64> {
    crate::elems(&read_bytes(path))
}

/// The 2002 `Numeric.add(a, b, c)` job: `Zip` adds two mapped arrays into a created file.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn zip_adds_into_a_created_output() {
    let inputs = Inputs::new();
    let (a, b) = (inputs.a(), inputs.b());
    let mut c = inputs.create_c();
    Zip::from(&mut *c).and(&*a).and(&*b).for_each(|c, &a, &b| *c = a + b);
    let expected = &inputs.owned_a() + &inputs.owned_b();
    assert_eq!(*c, expected);
    c.close().unwrap();
    assert_eq!(file_f64(&inputs.path("c.bin")), expected.into_raw_vec_and_offset().0);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn azip_multiplies_in_place() {
    let inputs = Inputs::new();
    let (a, b) = (inputs.a(), inputs.b());
    let mut c = inputs.create_c();
    azip!((c in &mut *c, &a in &*a, &b in &*b) *c = a * b - 1.0);
    let expected = &inputs.owned_a() * &inputs.owned_b() - 1.0;
    assert_eq!(*c, expected);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn compound_assignment_and_binary_operators() {
    let inputs = Inputs::new();
    let (a, b) = (inputs.a(), inputs.b());
    let mut c = inputs.create_c();
    c.fill(1.0);
    *c += &*a;
    *c -= &*b;
    *c *= 2.0;
    let expected = (1.0 + &inputs.owned_a() - &inputs.owned_b()) * 2.0;
    assert_eq!(*c, expected);

    // `&*a + &*b` allocates an owned array, leaving both files alone.
    let sum: Array2<f64> = &*a + &*b;
    assert_eq!(sum, &inputs.owned_a() + &inputs.owned_b());
    let scaled: Array2<f64> = &*a * 3.0;
    assert_eq!(scaled, inputs.owned_a() * 3.0);
    // A mapped operand on the right of an owned array works too.
    let owned_plus_mapped = inputs.owned_b() + &*a;
    assert_eq!(owned_plus_mapped, sum);
    // Broadcasting a mapped row over a mapped matrix.
    let row = a.row(0);
    let broadcast = &*b + &*row;
    assert_eq!(broadcast, &inputs.owned_b() + &inputs.owned_a().row(0));
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn slicing_matches_owned_slicing() {
    let inputs = Inputs::new();
    let a = inputs.a();
    let owned = inputs.owned_a();
    assert_eq!(a.slice(s![..;2, 1..]), owned.slice(s![..;2, 1..]));
    assert_eq!(a.slice(s![..;-1, ..;-2]), owned.slice(s![..;-1, ..;-2]));
    assert_eq!(a.slice(s![3, ..]), owned.row(3));
    assert_eq!(a.t(), owned.t());
    assert_eq!(a.column(4).to_vec(), owned.column(4).to_vec());
    // Slicing a writable map writes through to the file.
    let mut c = inputs.create_c();
    c.slice_mut(s![1..;2, ..]).fill(5.0);
    let mut expected = Array2::<f64>::zeros((ROWS, COLS));
    expected.slice_mut(s![1..;2, ..]).fill(5.0);
    c.close().unwrap();
    assert_eq!(file_f64(&inputs.path("c.bin")), expected.into_raw_vec_and_offset().0);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reductions_match_owned_reductions() {
    let inputs = Inputs::new();
    let (a, b) = (inputs.a(), inputs.b());
    let (oa, ob) = (inputs.owned_a(), inputs.owned_b());
    assert_eq!(a.sum(), oa.sum());
    assert_eq!(a.sum(), 217.5); // 0.5 * (0 + 1 + ... + 29)
    assert_eq!(a.sum_axis(Axis(0)), oa.sum_axis(Axis(0)));
    assert_eq!(b.sum_axis(Axis(1)), ob.sum_axis(Axis(1)));
    assert_eq!(a.mean(), oa.mean());
    let fold = |x: &ArrayRef<f64, Ix2>| x.fold(0.0, |acc, &v| acc + v * v);
    assert_eq!(fold(&a), fold(&oa));
    let min = b.fold(f64::INFINITY, |m, &v| m.min(v));
    assert_eq!(min, -100.0);
    assert_eq!(min, ob.fold(f64::INFINITY, |m, &v| m.min(v)));
    let max = b.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    assert_eq!(max, 29.0 * 29.0 - 100.0);
    assert_eq!(a.dot(&b.t()), oa.dot(&ob.t()));
}

/// The same bytes seen through a Fortran-order shape and through custom (also negative)
/// strides equal `from_shape_vec` with the same shape builder over the same elements.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fortran_and_strided_layouts_match_from_shape_vec() {
    let inputs = Inputs::new();
    let data = inputs.a_data.clone();

    let f = inputs.map("a.bin", &MapOptions::new().shape((ROWS, COLS).f()));
    let owned_f = Array2::from_shape_vec((ROWS, COLS).f(), data.clone()).unwrap();
    assert_eq!(*f, owned_f);
    assert_eq!(f[[1, 0]], 0.5); // the second element in the file
    assert_eq!(f.strides(), owned_f.strides());
    assert_eq!(f.t(), inputs.owned_a().into_shape_with_order((COLS, ROWS)).unwrap());

    // Every third element, 2 rows of 5 with stride 15 and 3.
    let strided = (2, 5).strides((15, 3));
    let s = inputs.map("a.bin", &MapOptions::new().shape(strided));
    let owned_s = Array2::from_shape_vec(strided, data.clone()).unwrap();
    assert_eq!(*s, owned_s);
    assert_eq!(s[[1, 4]], data[15 + 12]);

    // Negative strides: the rows backwards, the columns forwards.
    let minus_cols = (-isize::try_from(COLS).unwrap()).cast_unsigned();
    let backwards = (ROWS, COLS).strides((minus_cols, 1));
    let n = inputs.map("a.bin", &MapOptions::new().shape(backwards));
    let owned_n = Array2::from_shape_vec(backwards, data.clone()).unwrap();
    assert_eq!(*n, owned_n);
    assert_eq!(n.row(0).to_vec(), data[(ROWS - 1) * COLS..]);
    assert_eq!(*n, inputs.owned_a().slice(s![..;-1, ..]));

    // Both axes backwards, as a writable copy-on-write map.
    let both = (ROWS, COLS).strides((minus_cols, (-1isize).cast_unsigned()));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut w = unsafe {
        Array2::<f64>::map_file_copy_with(inputs.path("a.bin"), &MapOptions::new().shape(both))
    }
    .unwrap();
    assert_eq!(*w, Array2::from_shape_vec(both, data.clone()).unwrap());
    assert_eq!(w[[0, 0]], *data.last().unwrap());
    *w += 1.0;
    assert_eq!(*w, inputs.owned_a().slice(s![..;-1, ..;-1]).mapv(|x| x + 1.0));
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn dynamic_dimension_arrays() {
    let inputs = Inputs::new();
    let shape = IxDyn(&[2, 3, 5]);
    let a = inputs.map("a.bin", &MapOptions::new().shape(shape.clone()));
    let owned = ArrayD::from_shape_vec(shape.clone(), inputs.a_data.clone()).unwrap();
    assert_eq!(*a, owned);
    assert_eq!(a.ndim(), 3);
    assert_eq!(a.sum_axis(Axis(2)), owned.sum_axis(Axis(2)));
    let f = inputs.map("a.bin", &MapOptions::new().shape(shape.clone().f()));
    assert_eq!(*f, ArrayD::from_shape_vec(shape.f(), inputs.a_data.clone()).unwrap());
    // Without a shape an IxDyn array is flat.
    let flat = inputs.map::<IxDyn>("a.bin", &MapOptions::new());
    assert_eq!(flat.shape(), &[ROWS * COLS]);
    // Writable IxDyn: created, then added into.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c =
        unsafe { ArrayD::<f64>::create_file(inputs.path("c.bin"), IxDyn(&[2, 3, 5])) }.unwrap();
    Zip::from(&mut *c).and(&*a).and(&*f).for_each(|c, &x, &y| *c = x - y);
    assert_eq!(*c, &*owned - &*f);
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn parallel_zip_and_par_azip() {
    let inputs = Inputs::new();
    let (a, b) = (inputs.a(), inputs.b());
    let mut c = inputs.create_c();
    Zip::from(&mut *c).and(&*a).and(&*b).par_for_each(|c, &a, &b| *c = a + b);
    assert_eq!(*c, &inputs.owned_a() + &inputs.owned_b());
    par_azip!((c in &mut *c, &a in &*a) *c *= a);
    assert_eq!(*c, (&inputs.owned_a() + &inputs.owned_b()) * &inputs.owned_a());
    let total: f64 = a.view().into_par_iter().sum();
    assert_eq!(total, inputs.owned_a().sum());
    c.close().unwrap();
    let expected = (&inputs.owned_a() + &inputs.owned_b()) * &inputs.owned_a();
    assert_eq!(file_f64(&inputs.path("c.bin")), expected.into_raw_vec_and_offset().0);
}
