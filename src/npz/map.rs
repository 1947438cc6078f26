//! Mapping stored `.npz` members in place: [`NpzArchive::map`] and friends, and
//! [`NpzMemberMut`], the read-write guard that keeps the member's checksum true.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{ArrayRef, Dimension, ShapeBuilder};

use super::archive::{NpzArchive, NpzMember, ReadAt, bytes_at, member_header_at};
use crate::error::{Error, NpzError, Result};
use crate::guard::open::OpenFile;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::layout::{Elem, Placement, Purpose, place};
use crate::npy::NpyElement;
use crate::npy::element::is_native;
use crate::npy::read::checked_dim;
use crate::options::{MapOptions, Settings};

impl NpzArchive {
    /// Maps the stored member `name` read-only, in place: nothing of it is read until its
    /// pages are touched. NumPy's `np.load(path, mmap_mode='r')` cannot do this (it reads
    /// `.npz` members whatever the mode).
    ///
    /// The element type and rank are checked against the member's `.npy` header, as
    /// [`MapNpy::map_npy`](crate::MapNpy::map_npy) checks a file's.
    ///
    /// # Safety
    ///
    /// As for [`MapNpy`](crate::MapNpy#safety-of-the-mapping-functions): while the guard
    /// lives, nothing but the guard may modify the archive's mapped bytes, and nobody may
    /// truncate the archive.
    ///
    /// # Errors
    ///
    /// [`Error::Npz`] if there is no such member, if it is compressed
    /// ([`NpzError::Compressed`]: [`read`](Self::read) it instead), or if its data is not
    /// aligned for `A` ([`NpzError::Misaligned`]: read it, or re-save the archive with
    /// ndmmap, which aligns members); [`Error::DtypeMismatch`], [`Error::RankMismatch`],
    /// [`Error::ByteOrder`], open and map errors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![[1.0f64, 2.0], [3.0, 4.0]])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let x = unsafe { archive.map::<f64, Ix2>("x")? };
    /// assert_eq!(x.sum_axis(Axis(0)), array![4.0, 6.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn map<A, D>(&self, name: &str) -> Result<MmapArray<A, D>>
    where
        A: NpyElement + AnyBitPattern,
        D: Dimension,
    {
        let (file, placement, _) = self.locate::<A, D>(name, Purpose::Read)?;
        // SAFETY: forwarded; the caller upholds the same contract for the archive.
        unsafe { file.map_read_only(&placement, self.options.settings) }
    }

    /// Maps the stored member `name` copy-on-write: writes stay in this process, and the
    /// archive never changes (`mmap_mode='c'`).
    ///
    /// # Safety
    ///
    /// As [`map`](Self::map).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1i32, 2])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let mut x = unsafe { archive.map_copy::<i32, Ix1>("x")? };
    /// x[0] = 100;
    /// drop(x);
    /// assert_eq!(archive.read::<i32, Ix1>("x")?, array![1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn map_copy<A, D>(&self, name: &str) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
        D: Dimension,
    {
        let (file, placement, _) = self.locate::<A, D>(name, Purpose::Copy)?;
        // SAFETY: forwarded; the caller upholds the same contract for the archive.
        unsafe { file.map_copy_on_write(&placement, self.options.settings) }
    }

    /// Maps the stored member `name` read-write and shared (`mmap_mode='r+'`): writes go
    /// to the archive. The member keeps its shape (it cannot grow inside an archive), and
    /// the guard rewrites the member's CRC-32 in the archive when it is
    /// [`flush`](NpzMemberMut::flush)ed, [`close`](NpzMemberMut::close)d or dropped after a
    /// write, so that NumPy and every zip reader still accept the archive.
    ///
    /// The archive was opened for reading only, so this opens its path again for writing,
    /// and checks that the file there is still the one the archive opened: a read-write map
    /// never writes into a file that replaced the archive. The guard keeps that file open
    /// and rewrites the checksum through it.
    ///
    /// # Safety
    ///
    /// As [`map`](Self::map).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map); [`Error::FileReplaced`] if another file took the archive's
    /// place at its path since it was opened (open the archive again to write to the new
    /// file); [`Error::PermissionDenied`] for a read-only archive; [`Error::Npz`] with
    /// [`NpzError::DataDescriptor`] for a member written by a streaming zip writer (its
    /// checksum cannot be rewritten in place).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1u16, 2, 3])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let mut x = unsafe { archive.map_mut::<u16, Ix1>("x")? };
    /// x[1] = 20;
    /// x.close()?;
    /// assert_eq!(archive.read::<u16, Ix1>("x")?, array![1, 20, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn map_mut<A, D>(&self, name: &str) -> Result<NpzMemberMut<A, D>>
    where
        A: NpyElement + Pod,
        D: Dimension,
    {
        let (file, placement, member) = self.locate::<A, D>(name, Purpose::Write)?;
        let flags = bytes_at::<2>(file.file(), member.header_start + 6)
            .map_err(|e| Error::io(&self.path, "read", member.header_start, e))?;
        if u16::from_le_bytes(flags) & 0x08 != 0 {
            return Err(self.error(Some(&member.name), NpzError::DataDescriptor));
        }
        // The guard's own handle on the file it maps, for the checksum: never the path.
        let writer =
            file.file().try_clone().map_err(|e| Error::io(&self.path, "duplicate", 0, e))?;
        let checksum = Checksum {
            file: writer,
            path: self.path.clone(),
            name: member.name.clone(),
            data_start: member.data_start,
            size: member.size,
            crc_offsets: [member.header_start + 14, member.central_header_start + 16],
        };
        // SAFETY: forwarded; the caller upholds the same contract for the archive.
        let guard = unsafe { file.map_read_write(&placement, self.options.settings) }?;
        Ok(NpzMemberMut { guard: Some(guard), checksum, dirty: false })
    }

    /// The open archive a map of a member goes through.
    ///
    /// A read-only or copy-on-write map without a lock duplicates the archive's own handle,
    /// so it maps the file the archive opened whatever has happened at the path since. Two
    /// maps cannot: a read-write map needs the file open for writing, and a lock belongs to
    /// one open file (every duplicate of a handle shares it, and the archive's would keep it
    /// after the guard is gone). These open the path again and check that it still names
    /// the file the archive opened ([`Error::FileReplaced`] if not; a lock taken on that
    /// other file in opening it goes with it at once).
    ///
    /// Opening the path again is chosen over opening every archive read-write from the
    /// start: an archive that is only read keeps a read-only handle (on a read-only file or
    /// file system too, and without file watchers seeing a file closed after writing), and
    /// a write meant for the archive fails rather than landing in a file that is no longer
    /// at its path, where nobody would see it.
    fn open_for(&self, purpose: Purpose) -> Result<OpenFile> {
        let settings = self.options.settings;
        let writable = purpose == Purpose::Write;
        if !writable && settings.lock.is_none() {
            return OpenFile::adopt_as(&self.file, self.path.clone(), settings);
        }
        let file = OpenFile::open(&self.path, writable, settings)?;
        let same =
            same_file(file.file(), &self.file).map_err(|e| Error::io(&self.path, "stat", 0, e))?;
        if !same {
            return Err(Error::FileReplaced { path: self.path.clone() });
        }
        Ok(file)
    }

    /// Opens the archive for `purpose`, re-reads the member's `.npy` header and places its
    /// array, checked against `A`, `D`, the member's bounds and the archive's length.
    fn locate<A: NpyElement, D: Dimension>(
        &self,
        name: &str,
        purpose: Purpose,
    ) -> Result<(OpenFile, Placement<D>, &NpzMember)> {
        let member = self.member(name)?;
        let fail = |source| self.error(Some(&member.name), source);
        if member.data_offset.is_none() {
            return Err(fail(NpzError::Compressed));
        }
        let file = self.open_for(purpose)?;
        let parsed = member_header_at(file.file(), member, self.options.max_header_size)
            .map_err(|e| e.into_error(self, member))?;
        let dim = checked_dim::<A, D>(&self.member_path(member), &parsed)?;
        if !is_native(parsed.header.descr) {
            let descr = parsed.header.descr.to_string();
            return Err(Error::ByteOrder { path: self.member_path(member), descr });
        }
        let offset = member.data_start + parsed.data_offset as u64;
        let align = align_of::<A>();
        if !offset.is_multiple_of(align as u64) {
            return Err(fail(NpzError::Misaligned { offset, align }));
        }
        let mut data =
            MapOptions::new().offset(offset).shape(dim.set_f(parsed.header.fortran_order));
        data.settings = Settings { extend: false, ..self.options.settings };
        // The member ends where its stated size does: the array may not reach past it.
        let member_end = (member.data_start + member.size).min(file.len()?);
        let placement =
            place(&data, Elem::of::<A>(), member_end, purpose).map_err(|e| match e {
                Error::TooShort { needed, available, .. } => {
                    fail(NpzError::SizeMismatch { needed, available })
                }
                e => e.at_path(&self.member_path(member)),
            })?;
        Ok((file, placement, member))
    }
}

/// Whether `a` and `b` are open on the same file (device and inode, or volume and file
/// index on Windows).
fn same_file(a: &File, b: &File) -> io::Result<bool> {
    let handle = |file: &File| same_file::Handle::from_file(file.try_clone()?);
    Ok(handle(a)? == handle(b)?)
}

/// Where a member's checksum lives, and what it covers.
#[derive(Debug)]
struct Checksum {
    /// The archive, open for writing: the file the guard maps, whatever is at the path now.
    file: File,
    /// The archive's path, for messages.
    path: PathBuf,
    name: String,
    data_start: u64,
    size: u64,
    /// The CRC-32 fields of the local header and of the central directory header.
    crc_offsets: [u64; 2],
}

impl Checksum {
    /// Computes the member's CRC-32 from the archive and writes it to both headers, through
    /// the guard's own open file.
    fn rewrite(&self) -> Result<()> {
        let io_error = |e| Error::io(&self.path, "update the checksum in", 0, e);
        let mut reader = ReadAt { file: &self.file, offset: self.data_start };
        let mut hasher = crc32fast::Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut left = self.size;
        while left > 0 {
            let n = buffer.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            reader.read_exact(&mut buffer[..n]).map_err(io_error)?;
            hasher.update(&buffer[..n]);
            left -= n as u64;
        }
        let crc = hasher.finalize().to_le_bytes();
        let mut writer = &self.file;
        for offset in self.crc_offsets {
            writer
                .seek(SeekFrom::Start(offset))
                .and_then(|_| writer.write_all(&crc))
                .map_err(io_error)?;
        }
        self.file.sync_data().map_err(io_error)
    }
}

/// A stored `.npz` member mapped read-write ([`NpzArchive::map_mut`]): dereferences to
/// the array like [`MmapArrayMut`], and keeps the member's CRC-32 in the archive true.
///
/// Writes go to the archive through the shared map. After any mutable access, the guard
/// rewrites the member's checksum on [`flush`](Self::flush), [`close`](Self::close) and
/// drop (which ignores errors: call `close` to see them), reading the member back to
/// compute it. It keeps the archive file it mapped open and does all of this through it,
/// never through the path: an archive replaced at its path while the guard lives (a new
/// file renamed over it) is left alone, and the guard goes on writing to the file it
/// mapped.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npz");
/// ndmmap::npz::save_npz(&path, &[("w", &Array2::<f32>::zeros((2, 2)))])?;
/// let archive = ndmmap::npz::NpzArchive::open(&path)?;
/// let mut w = unsafe { archive.map_mut::<f32, Ix2>("w")? };
/// w.fill(0.5);
/// w.flush()?;
/// assert_eq!(archive.read::<f32, Ix2>("w")?.sum(), 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NpzMemberMut<A: Pod, D: Dimension> {
    guard: Option<MmapArrayMut<A, D>>,
    checksum: Checksum,
    dirty: bool,
}

impl<A: Pod, D: Dimension> NpzMemberMut<A, D> {
    /// Writes the changed pages to the archive and then the member's new checksum.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if flushing or rewriting the checksum fails.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &Array1::<u8>::zeros(4))])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let mut x = unsafe { archive.map_mut::<u8, Ix1>("x")? };
    /// x[3] = 9;
    /// x.flush()?;
    /// assert_eq!(archive.read::<u8, Ix1>("x")?[3], 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        if let Some(guard) = &self.guard {
            guard.flush()?;
        }
        if self.dirty {
            self.checksum.rewrite()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Flushes (as [`flush`](Self::flush)) and unmaps, reporting any error.
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1i8])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let mut x = unsafe { archive.map_mut::<i8, Ix1>("x")? };
    /// x[0] = -1;
    /// x.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        self.guard.take();
        Ok(())
    }

    /// The member's name in the archive (NumPy's key).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// ndmmap::npz::save_npz(&path, &[("x", &array![1i8])])?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// let x = unsafe { archive.map_mut::<i8, Ix1>("x")? };
    /// assert_eq!(x.name(), "x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.checksum.name
    }
}

impl<A: Pod, D: Dimension> Deref for NpzMemberMut<A, D> {
    type Target = ArrayRef<A, D>;

    fn deref(&self) -> &ArrayRef<A, D> {
        // The guard is only taken by `close`, which consumes `self`.
        self.guard.as_deref().unwrap_or_else(|| unreachable!("NpzMemberMut used after close"))
    }
}

impl<A: Pod, D: Dimension> DerefMut for NpzMemberMut<A, D> {
    fn deref_mut(&mut self) -> &mut ArrayRef<A, D> {
        self.dirty = true;
        self.guard.as_deref_mut().unwrap_or_else(|| unreachable!("NpzMemberMut used after close"))
    }
}

impl<A: Pod, D: Dimension> Drop for NpzMemberMut<A, D> {
    fn drop(&mut self) {
        if self.guard.is_some() {
            // Best effort; `close` reports errors.
            let _ = self.flush();
        }
    }
}
