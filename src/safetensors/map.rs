//! Mapping tensors in place: [`SafeTensorsFile::map`] and [`SafeTensorsFile::map_bool`].
#![allow(unsafe_code)]

use bytemuck::AnyBitPattern;
use ndarray::Dimension;

use super::dtype::SafeTensorsElement;
use super::file::SafeTensorsFile;
use crate::error::{Error, Result, SafetensorsError};
use crate::guard::MmapArray;
use crate::guard::open::OpenFile;
use crate::layout::{Elem, Placement, Purpose, place};
use crate::options::{MapOptions, Settings};

impl SafeTensorsFile {
    /// Maps the tensor `name` read-only, in place, as an array of `A`: nothing of it is
    /// read until its pages are touched, so mapping costs microseconds whatever the
    /// tensor's size. (Python's `safetensors.numpy` reads every tensor it loads.)
    ///
    /// The tensor's dtype must be `A`'s ([`SafeTensorsElement`]: `F32` as `f32`, `F16` as
    /// `half::f16` with the `half` feature, ...); `D` its rank, or `IxDyn` for any rank.
    /// `BOOL` tensors map through [`map_bool`](Self::map_bool).
    ///
    /// # Safety
    ///
    /// As for [`MapFile`](crate::MapFile#safety-of-the-mapping-functions): while the guard
    /// lives, nothing may modify the file's mapped bytes, and nobody may truncate the file
    /// (saving a new file over the path with ndmmap's writer replaces it by a rename,
    /// which leaves the mapped file whole; a writer that truncates the file in place does
    /// not).
    ///
    /// # Errors
    ///
    /// [`Error::Safetensors`] with [`SafetensorsError::NotFound`],
    /// [`DtypeMismatch`](SafetensorsError::DtypeMismatch),
    /// [`RankMismatch`](SafetensorsError::RankMismatch),
    /// [`Misaligned`](SafetensorsError::Misaligned) if the tensor's data is not aligned for
    /// `A` (read it instead, or re-save the file with
    /// [`save_safetensors`](super::save_safetensors), which aligns every tensor), or
    /// [`ByteOrder`](SafetensorsError::ByteOrder) on a big-endian machine; map errors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::safetensors::{SafeTensorsFile, save_safetensors};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("emb.safetensors");
    /// save_safetensors(&path, &[("emb", &Array3::<f32>::ones((2, 3, 4)))], &[])?;
    /// let file = SafeTensorsFile::open(&path)?;
    /// let emb = unsafe { file.map::<f32, Ix3>("emb")? };
    /// assert_eq!(emb.sum(), 24.0);
    /// let any_rank = unsafe { file.map::<f32, IxDyn>("emb")? };
    /// assert_eq!(any_rank.ndim(), 3);
    /// assert!(unsafe { file.map::<f32, Ix2>("emb") }.is_err()); // rank 3, not 2
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn map<A, D>(&self, name: &str) -> Result<MmapArray<A, D>>
    where
        A: SafeTensorsElement + AnyBitPattern,
        D: Dimension,
    {
        let (file, placement) = self.locate::<A, D>(name)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        unsafe { file.map_read_only(&placement, Settings::default()) }
    }

    /// Maps the `BOOL` tensor `name` read-only as `bool`s, once every byte is checked to be
    /// 0 or 1 (a byte of 2 is not a `bool`): the one pass reads the tensor's pages, and the
    /// guard then lends `bool`s without further checks. NumPy's `load_file` copies the
    /// tensor instead, as [`read`](Self::read) does (checking while it copies).
    ///
    /// # Safety
    ///
    /// As [`map`](Self::map). The check holds only because nothing else modifies the bytes
    /// while the guard lives: a byte changed to 2 by another process would be undefined
    /// behaviour, not an error.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map), and [`SafetensorsError::InvalidBool`] if a byte is neither 0
    /// nor 1.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::safetensors::{SafeTensorsFile, save_safetensors};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("mask.safetensors");
    /// save_safetensors(&path, &[("mask", &array![true, false, true])], &[])?;
    /// let file = SafeTensorsFile::open(&path)?;
    /// let mask = unsafe { file.map_bool::<Ix1>("mask")? };
    /// assert_eq!(mask.iter().filter(|&&m| m).count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn map_bool<D: Dimension>(&self, name: &str) -> Result<MmapArray<bool, D>> {
        let (file, placement) = self.locate::<bool, D>(name)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        let bytes = unsafe { file.map_read_only::<u8, D>(&placement, Settings::default()) }?;
        bytes.into_bool().map_err(|e| match e {
            Error::InvalidBool { .. } => self.error(name, SafetensorsError::InvalidBool),
            e => e,
        })
    }

    /// The open file (a duplicate of this one's handle, not the path opened again) and the
    /// tensor's place in it, checked against `A`, `D`, the machine's byte order, `A`'s
    /// alignment and the file's length now.
    fn locate<A: SafeTensorsElement, D: Dimension>(
        &self,
        name: &str,
    ) -> Result<(OpenFile, Placement<D>)> {
        let (info, dim) = self.checked::<A, D>(name)?;
        if cfg!(target_endian = "big") && A::SWAP_UNIT > 1 {
            return Err(self.error(name, SafetensorsError::ByteOrder));
        }
        let align = align_of::<A>();
        if !info.offset.is_multiple_of(align as u64) {
            let offset = info.offset;
            return Err(self.error(name, SafetensorsError::Misaligned { offset, align }));
        }
        let file = OpenFile::adopt_as(&self.file, self.path.clone(), Settings::default())?;
        // The tensor ends where its offsets say: the array may not reach past it, nor past
        // the file's end now (a file cut short since it was opened).
        let end = info.file_range().end.min(file.len()?);
        let options = MapOptions::new().offset(info.offset).shape(dim);
        let placement = place(&options, Elem::of::<A>(), end, Purpose::Read)
            .map_err(|e| e.at_path(&self.path))?;
        Ok((file, placement))
    }
}
