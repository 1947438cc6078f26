//! [`realign_npz`]: an archive NumPy wrote, rewritten once so that every member maps.

use std::io::Read;
use std::path::Path;

use zip::CompressionMethod;

use super::archive::{NpzArchive, NpzMember, bytes_at, member_header_at, member_reader};
use super::write::NpzWriter;
use crate::error::{Error, NpzError, Result};
use crate::npy::header;

/// Rewrites the `.npz` archive at `path` so that every member can be mapped: each array is
/// stored (inflated, if `np.savez_compressed` wrote it) with its data starting at a
/// multiple of [`NPZ_ALIGN`](super::NPZ_ALIGN) bytes, as [`save_npz`](super::save_npz)
/// writes them. NumPy's `np.savez` aligns nothing, so in its archives whether a member
/// maps depends on the lengths of the names before it; after this, all of them map
/// (those in another byte order are kept as they are: they can only be read, converted).
///
/// Each member's `.npy` file is kept byte for byte (a header whose length is not a multiple
/// of 64 bytes, as NumPy before 1.14 wrote, is rewritten padded, as `np.save` writes it
/// now), in the archive's order; entries that are not arrays are copied as they are. Every
/// member's CRC-32 is checked as it is copied. The new archive is built beside the old one
/// and renamed over it when whole, as [`NpzWriter`] does: readers, and live maps of the old
/// archive, see the old archive or the new one, never a part; on any error the old archive
/// is left as it was, and nothing else is left behind. A file put at `path` by someone else
/// meanwhile is not replaced ([`Error::FileReplaced`]).
///
/// Memory use stays small whatever the archive's size: members are streamed through a
/// buffer of 1 MiB.
///
/// # Errors
///
/// As [`NpzArchive::open`] and [`NpzWriter::finish`]; [`Error::Npz`] with
/// [`NpzError::Checksum`] or [`NpzError::SizeMismatch`] for a member whose data does not
/// match its CRC-32 or its size, and [`NpzError::Malformed`] for a compressed member that
/// does not inflate.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::{NpzArchive, realign_npz, save_npz_compressed};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npz");
/// save_npz_compressed(&path, &[("x", &array![1.0f64, 2.0])])?;
/// realign_npz(&path)?;
/// let archive = NpzArchive::open(&path)?;
/// assert_eq!(unsafe { archive.map::<f64, Ix1>("x")? }.sum(), 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn realign_npz(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    // The writer first: it notes the file it is to replace, so that the archive read below
    // is that file, or the rename fails rather than putting an older archive over a newer.
    let mut writer = NpzWriter::create(path)?;
    let archive = NpzArchive::open(path)?;
    let file = archive.file.try_clone().map_err(|e| Error::io(path, "open", 0, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| archive.error(None, NpzError::Malformed { detail: e.to_string() }))?;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| archive.error(None, NpzError::Malformed { detail: e.to_string() }))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        match archive.members.iter().find(|m| m.file_name == name) {
            Some(member) => {
                drop(entry);
                copy_member(&archive, member, &mut writer)?;
            }
            None => writer.copy_raw(entry)?,
        }
    }
    // Closed before the rename: Windows before 10 1607 renames over no file that a handle
    // holds open.
    drop(zip);
    drop(archive);
    writer.finish()
}

/// Copies one member's `.npy` file into `writer`, stored and aligned, checking its CRC-32.
fn copy_member(archive: &NpzArchive, member: &NpzMember, writer: &mut NpzWriter) -> Result<()> {
    let fail = |source| archive.error(Some(&member.name), source);
    let malformed = |e: std::io::Error| fail(NpzError::Malformed { detail: e.to_string() });
    let parsed = member_header_at(&archive.file, member, archive.options.max_header_size)
        .map_err(|e| e.into_error(archive, member))?;
    let mut reader = member_reader(&archive.file, member);
    let mut crc = crc32fast::Hasher::new();
    let mut old_header = vec![0; parsed.data_offset];
    reader.read_exact(&mut old_header).map_err(malformed)?;
    crc.update(&old_header);
    let header = if parsed.data_offset.is_multiple_of(64) {
        old_header
    } else {
        header::write(&parsed.header).map_err(|e| fail(NpzError::Header(e)))?
    };
    let data_len = member.size.saturating_sub(parsed.data_offset as u64);
    writer.start_file(
        &member.file_name,
        header.len() as u64 + data_len,
        CompressionMethod::Stored,
    )?;
    writer.write_bytes(&header)?;
    let mut buffer = vec![0; 1 << 20];
    let mut copied = 0u64;
    let mut data = reader.take(data_len);
    loop {
        let n = match data.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(malformed(e)),
        };
        crc.update(&buffer[..n]);
        writer.write_bytes(&buffer[..n])?;
        copied += n as u64;
    }
    if copied != data_len {
        let (needed, available) = (member.size, parsed.data_offset as u64 + copied);
        return Err(fail(NpzError::SizeMismatch { needed, available }));
    }
    let stated = bytes_at::<4>(&archive.file, member.central_header_start + 16)
        .map_err(|e| Error::io(&archive.path, "read", member.central_header_start, e))?;
    if crc.finalize() != u32::from_le_bytes(stated) {
        return Err(fail(NpzError::Checksum));
    }
    Ok(())
}
