//! [`NpzArchive`]: open a `.npz` archive, list its members, read any member into memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array, Dimension};

use crate::error::{Error, HeaderError, NpzError, Result};
use crate::fs::{file_len, open};
use crate::map::file::read_at;
use crate::npy::NpyElement;
use crate::npy::header::{self, DEFAULT_MAX_HEADER_SIZE, ParsedHeader};
use crate::npy::read::{converting_dim, header_dtype_text, native_byte_order, to_array};
use crate::options::{Settings, settings_setters};

/// The default [`NpzOptions::max_read_size`]: 4 GiB.
const DEFAULT_MAX_READ_SIZE: u64 = 4 << 30;

/// The memory [`NpzArchive::read`] reserves for a deflated member before inflating it: the
/// size the archive states is only a claim until the data arrives, so the buffer starts at
/// most this large and grows with the data.
const INFLATE_START_CAPACITY: usize = 1 << 20;

/// Zip's signatures of a local file header and of a central directory header.
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;

/// The zip compression methods NumPy writes.
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// Options for opening `.npz` archives and mapping or reading their members.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::{NpzArchive, NpzOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npz");
/// ndmmap::npz::save_npz(&path, &[("x", &array![1u8, 2, 3])])?;
/// let options = NpzOptions::new().max_read_size(1 << 20).advise(Advice::Sequential);
/// let archive = NpzArchive::open_with(&path, &options)?;
/// assert_eq!(archive.read::<u8, Ix1>("x")?, array![1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NpzOptions {
    pub(crate) max_header_size: usize,
    pub(crate) max_read_size: u64,
    pub(crate) settings: Settings,
}

impl Default for NpzOptions {
    fn default() -> Self {
        NpzOptions {
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_read_size: DEFAULT_MAX_READ_SIZE,
            settings: Settings::default(),
        }
    }
}

impl NpzOptions {
    /// The defaults: NumPy's `.npy` header limit of 10,000 characters, a read limit of
    /// 4 GiB per member, no lock, no advice.
    ///
    /// # Example
    ///
    /// ```
    /// let options = ndmmap::npz::NpzOptions::new();
    /// assert!(format!("{options:?}").contains("10000"));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses member `.npy` headers longer than `chars` (NumPy's `max_header_size`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npz::{NpzArchive, NpzOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1u8])])?;
    /// let err = NpzArchive::open_with(&path, &NpzOptions::new().max_header_size(50));
    /// assert!(matches!(err, Err(ndmmap::Error::Npz { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_header_size(mut self, chars: usize) -> Self {
        self.max_header_size = chars;
        self
    }

    /// The most bytes [`NpzArchive::read`] may inflate for one member (4 GiB by default):
    /// a guard against zip bombs, which state (or fake) a huge uncompressed size. Mapping a
    /// stored member reads nothing and is not limited.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npz::{NpzArchive, NpzOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &Array1::<f64>::zeros(1000))])?;
    /// let archive = NpzArchive::open_with(&path, &NpzOptions::new().max_read_size(1024))?;
    /// assert!(matches!(archive.read::<f64, Ix1>("x"), Err(ndmmap::Error::Npz { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_read_size(mut self, bytes: u64) -> Self {
        self.max_read_size = bytes;
        self
    }

    settings_setters! {
        NpzOptions,
        setup: r#"use ndmmap::prelude::*;
use ndmmap::npz::{NpzArchive, NpzOptions};

let dir = tempfile::tempdir()?;
let path = dir.path().join("a.npz");
ndmmap::npz::save_npz(&path, &[("x", &array![1u8, 2, 3, 4])])?;"#,
        map: r#"NpzArchive::open_with(&path, &options)?.map::<u8, Ix1>("x")"#,
        map_mut: r#"NpzArchive::open_with(&path, &options)?.map_mut::<u8, Ix1>("x")"#,
    }
}

/// How a member is stored in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed (`np.savez`): can be mapped in place.
    Stored,
    /// Deflate-compressed (`np.savez_compressed`): can only be read.
    Deflated,
}

/// One array of a `.npz` archive, as [`NpzArchive::members`] lists it: what its `.npy`
/// header says, and where it lies in the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpzMember {
    /// NumPy's key for the member: its file name without the `.npy` suffix (`"x"` for
    /// `x.npy`, what `np.load(path).files` lists).
    pub name: String,
    /// The member's file name in the archive, e.g. `"x.npy"`.
    pub file_name: String,
    /// The dtype as NumPy writes it, e.g. `"<f8"`, or for a structured dtype its list,
    /// `"[('x', '>f4'), ('y', '>f4')]"`.
    pub descr: String,
    /// The logical shape; empty for a 0-d array.
    pub shape: Vec<usize>,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Whether the data's byte order is this machine's, every field of a structured dtype
    /// included.
    pub native_byte_order: bool,
    /// Stored or deflated.
    pub compression: Compression,
    /// For a stored member, where its array data starts, in bytes from the start of the
    /// archive file; `None` for a compressed member.
    pub data_offset: Option<u64>,
    /// The member's uncompressed size (its whole `.npy` file).
    pub size: u64,
    /// The member's size in the archive.
    pub compressed_size: u64,
    /// Where the local header starts.
    pub(crate) header_start: u64,
    /// Where the member's `.npy` file starts (after the local header).
    pub(crate) data_start: u64,
    /// Where its central directory header starts.
    pub(crate) central_header_start: u64,
    /// The length of the member's `.npy` header: its array data starts this far into it.
    pub(crate) npy_header_len: u64,
}

impl NpzMember {
    /// Whether the member can be mapped: stored, in native byte order (every field of a
    /// structured dtype too), with its data aligned for elements of `align` bytes.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npz::NpzArchive;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1.0f64, 2.0])])?;
    /// let archive = NpzArchive::open(&path)?;
    /// assert!(archive.member("x")?.is_mappable(align_of::<f64>()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_mappable(&self, align: usize) -> bool {
        self.native_byte_order
            && self.data_offset.is_some_and(|offset| offset.is_multiple_of(align.max(1) as u64))
    }
}

/// A `.npz` archive (what `np.savez` and `np.savez_compressed` write), opened: its
/// members listed from the zip central directory and their `.npy` headers.
///
/// Stored members [`map`](Self::map) in place, without reading them, in every mode
/// [`MapNpy`](crate::MapNpy) offers; any member [`read`](Self::read)s into an owned array.
/// NumPy's own `np.load(path, mmap_mode='r')` cannot map `.npz` members (it ignores the mode
/// and reads them).
///
/// The archive keeps the file it opened open for as long as it lives, as NumPy's `NpzFile`
/// does: every read and map goes through that open file, never through the path again. An
/// archive replaced at its path (by [`save_npz`](super::save_npz), [`NpzWriter`](super::NpzWriter)
/// or NumPy, which write a new file and rename it over the old one) is a different file: this
/// archive goes on reading and mapping the members it listed, from the file it opened. Two
/// maps need their own open of the archive and re-open its path, checking that the file
/// there is still the one opened ([`Error::FileReplaced`] if not):
/// [`map_mut`](Self::map_mut), which needs the file open for writing, and any map with a
/// [`lock`](NpzOptions::lock), since a lock belongs to one open file.
///
/// Opening checks the whole container, so that a malformed archive is refused at once with
/// an [`Error::Npz`] naming the member: a truncated or inconsistent central directory,
/// names pointing outside the archive, duplicate names, members that overlap or run past
/// the central directory, stored members whose sizes disagree, compression methods other
/// than stored and deflate, encryption, and invalid `.npy` headers. Members whose names do
/// not end in `.npy` are not arrays and are not listed.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::{Compression, NpzArchive, NpzWriter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.npz");
/// let mut writer = NpzWriter::create(&path)?;
/// writer.add("x", &array![[1.0f32, 2.0], [3.0, 4.0]])?;
/// writer.add_compressed("labels", &array![7i64, 8])?;
/// writer.finish()?;
///
/// let archive = NpzArchive::open(&path)?;
/// let names: Vec<_> = archive.members().iter().map(|m| m.name.as_str()).collect();
/// assert_eq!(names, ["x", "labels"]);
/// assert_eq!(archive.member("labels")?.compression, Compression::Deflated);
/// let x = unsafe { archive.map::<f32, Ix2>("x")? };
/// assert_eq!(x.sum(), 10.0);
/// assert_eq!(archive.read::<i64, Ix1>("labels")?, array![7, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NpzArchive {
    pub(crate) path: PathBuf,
    /// The archive, open for reading from [`open`](Self::open) on: what every read and map
    /// goes through. Reads are positional, so threads sharing the archive do not move each
    /// other's place in it.
    pub(crate) file: File,
    pub(crate) members: Vec<NpzMember>,
    pub(crate) options: NpzOptions,
}

impl NpzArchive {
    /// Opens the archive at `path` and lists its members.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] and other open errors; [`Error::Npz`] for a malformed archive or
    /// member (see [`NpzArchive`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("a", &array![1i32, 2]), ("b", &array![3i32])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// assert_eq!(archive.member("b")?.shape, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &NpzOptions::new())
    }

    /// Opens the archive at `path` with options.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npz::{NpzArchive, NpzOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("a", &array![1i32, 2])])?;
    /// let archive = NpzArchive::open_with(&path, &NpzOptions::new())?;
    /// assert_eq!(archive.members().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: &NpzOptions) -> Result<Self> {
        let path = path.as_ref();
        let file = open(path, false)?;
        let members = list(path, &file, options)?;
        Ok(NpzArchive { path: path.to_path_buf(), file, members, options: options.clone() })
    }

    /// The archive's path, as given.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("a", &array![1u8])])?;
    /// assert_eq!(ndmmap::npz::NpzArchive::open(&path)?.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive's arrays, in the order of its central directory.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("a", &array![[1u8, 2]])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let a = &archive.members()[0];
    /// assert_eq!((a.name.as_str(), a.descr.as_str(), a.shape.as_slice()), ("a", "|u1", &[1, 2][..]));
    /// assert_eq!(a.data_offset.map(|o| o % 64), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn members(&self) -> &[NpzMember] {
        &self.members
    }

    /// The member called `name`: its file name (`"x.npy"`) or NumPy's key (`"x"`), looked up
    /// in that order, as `np.load(path)[name]` does. The order matters only in an archive
    /// that holds both `x.npy` and `x.npy.npy` (what `np.savez(f, **{"x": a, "x.npy": b})`
    /// writes): `"x.npy"` is then the file `x.npy`, whose key is `"x"`, and `b` is reached as
    /// `"x.npy.npy"`.
    ///
    /// # Errors
    ///
    /// [`Error::Npz`] with [`NpzError::NotFound`], listing the names there are.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("a", &array![1u8])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// assert_eq!(archive.member("a.npy")?.name, "a");
    /// assert!(archive.member("b").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn member(&self, name: &str) -> Result<&NpzMember> {
        let by_file_name = self.members.iter().find(|m| m.file_name == name);
        by_file_name.or_else(|| self.members.iter().find(|m| m.name == name)).ok_or_else(|| {
            let available = self.members.iter().map(|m| m.name.clone()).collect();
            self.error(Some(name), NpzError::NotFound { available })
        })
    }

    /// Reads the member `name` into an owned array, whether stored or compressed,
    /// converting byte order (of a structured dtype's fields too) and checking `bool`s as
    /// [`read_npy`](crate::npy::read_npy) does (`np.load(path)[name]`). The data's CRC-32 is
    /// checked. A deflated member's buffer grows as it inflates, whatever size the archive
    /// states.
    ///
    /// # Errors
    ///
    /// [`Error::Npz`] if there is no such member, if it is larger than
    /// [`max_read_size`](NpzOptions::max_read_size), if its data is shorter or longer than
    /// stated, or its checksum is wrong; [`Error::DtypeMismatch`], [`Error::RankMismatch`],
    /// [`Error::RecordMismatch`], [`Error::InvalidBool`]; [`Error::Io`] if reading fails,
    /// memory for the data running out included.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz_compressed(&path, &[("flags", &array![true, false])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// assert_eq!(archive.read::<bool, Ix1>("flags")?, array![true, false]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<A: NpyElement, D: Dimension>(&self, name: &str) -> Result<Array<A, D>> {
        let member = self.member(name)?;
        let bytes = self.member_bytes(member)?;
        let parsed = header::parse(&bytes, self.options.max_header_size)
            .map_err(|e| self.error(Some(&member.name), NpzError::Header(e)))?;
        let at = self.member_path(member);
        let dim = converting_dim::<A, D>(&at, &parsed)?;
        let mut data = bytes;
        data.drain(..parsed.data_offset);
        to_array(&at, &parsed.header, dim, data)
    }

    /// The member's whole `.npy` file, inflated if need be, its length and CRC-32 checked.
    fn member_bytes(&self, member: &NpzMember) -> Result<Vec<u8>> {
        let size = member.size;
        let limit = self.options.max_read_size;
        if size > limit {
            return Err(self.error(Some(&member.name), NpzError::TooLarge { size, limit }));
        }
        let len = usize::try_from(size).map_err(|_| {
            self.error(Some(&member.name), NpzError::TooLarge { size, limit: usize::MAX as u64 })
        })?;
        let mut reader = member_reader(&self.file, member);
        // A stored member's bytes are in the file (`open` checked its bounds); a deflated
        // one's stated size may be a lie, so its buffer grows as the data arrives, and
        // running out of memory is an error, not an abort (`try_reserve`, which
        // `read_to_end` uses too).
        let capacity = match member.compression {
            Compression::Stored => len,
            Compression::Deflated => len.min(INFLATE_START_CAPACITY),
        };
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(capacity).map_err(|e| self.read_error(e.into()))?;
        // One byte more than stated: a member that inflates to more is lying too.
        (&mut reader).take(size + 1).read_to_end(&mut bytes).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
                self.error(Some(&member.name), NpzError::Malformed { detail: e.to_string() })
            } else {
                self.read_error(e)
            }
        })?;
        if bytes.len() as u64 != size {
            let available = bytes.len() as u64;
            return Err(
                self.error(Some(&member.name), NpzError::SizeMismatch { needed: size, available })
            );
        }
        // The checksum as the archive states it now: a read-write map may have rewritten it.
        let stated = bytes_at::<4>(&self.file, member.central_header_start + 16)
            .map_err(|e| self.read_error(e))?;
        if crc32fast::hash(&bytes) != u32::from_le_bytes(stated) {
            return Err(self.error(Some(&member.name), NpzError::Checksum));
        }
        Ok(bytes)
    }

    /// `archive.npz/x.npy`: the path errors about one member's contents name.
    pub(crate) fn member_path(&self, member: &NpzMember) -> PathBuf {
        self.path.join(&member.file_name)
    }

    /// An [`Error::Npz`] about this archive.
    pub(crate) fn error(&self, member: Option<&str>, detail: NpzError) -> Error {
        Error::Npz { path: self.path.clone(), member: member.map(str::to_owned), detail }
    }

    fn read_error(&self, e: io::Error) -> Error {
        Error::io(&self.path, "read", 0, e)
    }
}

/// A reader of the member's `.npy` file: its stored bytes, inflated if deflated.
pub(crate) fn member_reader<'f>(file: &'f File, member: &NpzMember) -> Box<dyn Read + 'f> {
    let raw = ReadAt { file, offset: member.data_start }.take(member.compressed_size);
    match member.compression {
        Compression::Stored => Box::new(raw),
        Compression::Deflated => Box::new(flate2::read::DeflateDecoder::new(raw)),
    }
}

/// Reads `file` from `offset` on by positional reads, leaving the file's cursor to others.
pub(crate) struct ReadAt<'f> {
    pub(crate) file: &'f File,
    pub(crate) offset: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Reads the central directory and every `.npy` member's header.
fn list(path: &Path, file: &File, options: &NpzOptions) -> Result<Vec<NpzMember>> {
    let error = |member: Option<&str>, detail| Error::Npz {
        path: path.to_path_buf(),
        member: member.map(str::to_owned),
        detail,
    };
    let file_len = file_len(path, file)?;
    // A duplicate handle for zip, which moves the cursor it shares: ndmmap's own reads are
    // positional.
    let mut zip =
        zip::ZipArchive::new(file_for_zip(path, file)?).map_err(|e| error(None, zip_error(e)))?;
    if zip.has_duplicate_names() {
        // The zip reader keeps one entry per name, so the others cannot be named here.
        return Err(error(None, NpzError::DuplicateName));
    }
    let directory_start = zip.central_directory_start();
    let mut members = Vec::new();
    // Every member's byte range (local header to end of data), for the overlap check.
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| error(None, zip_error(e)))?;
        let file_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = file_name.strip_suffix(".npy").unwrap_or(&file_name).to_owned();
        let fail = |source| error(Some(&name), source);
        if entry.enclosed_name().is_none() || !inside(&file_name) {
            return Err(fail(NpzError::UnsafeName));
        }
        if ranges.iter().any(|(_, _, other)| *other == name) {
            return Err(fail(NpzError::DuplicateName));
        }
        let data_start = entry
            .data_start()
            .ok_or_else(|| fail(NpzError::Malformed { detail: "no local header".into() }))?;
        let header_start = entry.header_start();
        let central_header_start = entry.central_header_start();
        let (compressed_size, size) = (entry.compressed_size(), entry.size());
        let is_dir = entry.is_dir();
        drop(entry);
        let end = data_start.saturating_add(compressed_size);
        let bound = directory_start.min(file_len);
        if end > bound {
            return Err(fail(NpzError::SizeMismatch { needed: end, available: bound }));
        }
        ranges.push((header_start, end, name.clone()));
        let Some(key) = file_name.strip_suffix(".npy").map(str::to_owned) else {
            continue;
        };
        if is_dir {
            continue;
        }
        let member = NpzMember {
            name: key,
            file_name,
            descr: String::new(),
            shape: Vec::new(),
            fortran_order: false,
            native_byte_order: true,
            compression: Compression::Stored,
            data_offset: None,
            size,
            compressed_size,
            header_start,
            data_start,
            central_header_start,
            npy_header_len: 0,
        };
        members.push(member);
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, first), (start, _, second)) = (&pair[0], &pair[1]);
        if start < end {
            return Err(error(Some(second), NpzError::Overlapping { other: first.clone() }));
        }
    }
    members.into_iter().map(|member| describe(path, file, member, options)).collect()
}

/// Whether a member name stays inside the archive when extracted: not absolute (no leading
/// `/` or `\\`, no drive such as `C:`), no path segment that is exactly `..`, no NUL byte.
/// Anything else is a name `np.savez` may write (`a..b`, `.hidden`, `run/1`), and allowed.
/// The one rule for names read and names written.
pub(crate) fn inside(name: &str) -> bool {
    let drive = name.as_bytes().get(1) == Some(&b':');
    !name.starts_with(['/', '\\'])
        && !drive
        && !name.contains('\0')
        && !name.split(['/', '\\']).any(|part| part == "..")
}

/// Checks a `.npy` member's headers (central, local, `.npy`) and fills in what its `.npy`
/// header says.
fn describe(
    path: &Path,
    file: &File,
    mut member: NpzMember,
    options: &NpzOptions,
) -> Result<NpzMember> {
    let fail =
        |detail| Error::Npz { path: path.to_path_buf(), member: Some(member.name.clone()), detail };
    let (size, compressed_size) = (member.size, member.compressed_size);
    let (central_header_start, header_start) = (member.central_header_start, member.header_start);
    let central = bytes_at::<46>(file, central_header_start)
        .map_err(|e| Error::io(path, "read", central_header_start, e))?;
    let (signature, flags, method) = (le32(&central, 0), le16(&central, 8), le16(&central, 10));
    if signature != CENTRAL_SIGNATURE {
        let detail = "no central directory header where stated".into();
        return Err(fail(NpzError::Malformed { detail }));
    }
    if flags & 1 != 0 {
        return Err(fail(NpzError::Encrypted));
    }
    let compression = match method {
        STORED => Compression::Stored,
        DEFLATED => Compression::Deflated,
        method => return Err(fail(NpzError::UnsupportedCompression { method })),
    };
    if compression == Compression::Stored && size != compressed_size {
        return Err(fail(NpzError::SizeMismatch { needed: size, available: compressed_size }));
    }
    let local =
        bytes_at::<30>(file, header_start).map_err(|e| Error::io(path, "read", header_start, e))?;
    if le32(&local, 0) != LOCAL_SIGNATURE {
        let detail = "no local file header where stated".into();
        return Err(fail(NpzError::Malformed { detail }));
    }
    member.compression = compression;
    let parsed = member_header_at(file, &member, options.max_header_size).map_err(|e| match e {
        HeaderOrIo::Header(e) => fail(NpzError::Header(e)),
        HeaderOrIo::Io(e) => fail(NpzError::Malformed { detail: e.to_string() }),
    })?;
    let data_len = parsed.header.data_len().unwrap_or(usize::MAX) as u64;
    let needed = (parsed.data_offset as u64).saturating_add(data_len);
    if needed > size {
        return Err(fail(NpzError::SizeMismatch { needed, available: size }));
    }
    member.descr = header_dtype_text(&parsed.header);
    member.native_byte_order = native_byte_order(&parsed.header);
    member.shape = parsed.header.shape;
    member.fortran_order = parsed.header.fortran_order;
    member.npy_header_len = parsed.data_offset as u64;
    if compression == Compression::Stored {
        member.data_offset = Some(member.data_start + parsed.data_offset as u64);
    }
    Ok(member)
}

/// Why a member's `.npy` header could not be read.
pub(crate) enum HeaderOrIo {
    Header(HeaderError),
    Io(io::Error),
}

impl HeaderOrIo {
    /// As an [`Error::Npz`] naming the member.
    pub(crate) fn into_error(self, archive: &NpzArchive, member: &NpzMember) -> Error {
        let source = match self {
            HeaderOrIo::Header(e) => NpzError::Header(e),
            HeaderOrIo::Io(e) => NpzError::Malformed { detail: e.to_string() },
        };
        archive.error(Some(&member.name), source)
    }
}

/// Parses the `.npy` header at the start of the member, reading (and inflating) only as
/// much as the header needs.
pub(crate) fn member_header_at(
    file: &File,
    member: &NpzMember,
    max_header_size: usize,
) -> Result<ParsedHeader, HeaderOrIo> {
    let mut reader = member_reader(file, member);
    let mut prefix = Vec::new();
    let mut want = 4096;
    loop {
        let have = prefix.len();
        if want > have {
            (&mut reader)
                .take((want - have) as u64)
                .read_to_end(&mut prefix)
                .map_err(HeaderOrIo::Io)?;
        }
        match header::parse(&prefix, max_header_size) {
            Err(HeaderError::Truncated { needed, .. }) if prefix.len() == want && needed > want => {
                want = needed;
            }
            parsed => return parsed.map_err(HeaderOrIo::Header),
        }
    }
}

fn file_for_zip(path: &Path, file: &File) -> Result<File> {
    file.try_clone().map_err(|e| Error::io(path, "open", 0, e))
}

/// `N` bytes of `file` at `offset`.
pub(crate) fn bytes_at<const N: usize>(file: &File, offset: u64) -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    ReadAt { file, offset }.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The zip crate's error, in the words of [`NpzError`].
fn zip_error(e: zip::result::ZipError) -> NpzError {
    match e {
        zip::result::ZipError::CompressionMethodNotSupported(method) => {
            NpzError::UnsupportedCompression { method }
        }
        zip::result::ZipError::UnsupportedArchive(detail)
            if detail.to_lowercase().contains("encrypt") || detail.contains("password") =>
        {
            NpzError::Encrypted
        }
        e => NpzError::Malformed { detail: e.to_string() },
    }
}
