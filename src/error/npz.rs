//! [`NpzError`]: what is wrong with a `.npz` archive or one of its members, the detail of
//! [`Error::Npz`](crate::Error::Npz).

use super::HeaderError;

/// Why a `.npz` archive, or a member of it, cannot be read, mapped or written.
///
/// The archive's path and the member's name are on the [`Error::Npz`](crate::Error::Npz)
/// that carries this.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpzError {
    /// The file is not a readable zip archive: no end of central directory, a truncated or
    /// inconsistent central directory, or a local header that does not match it.
    #[error("not a valid zip archive: {detail}")]
    Malformed {
        /// What the zip reader found wrong.
        detail: String,
    },
    /// A member's name points outside the archive (an absolute path or a `..` path
    /// segment) or holds a NUL byte, which no NumPy writer produces.
    #[error(
        "the member name points outside the archive (an absolute path or a '..' path segment) or holds a NUL byte"
    )]
    UnsafeName,
    /// A member name to write is empty, an absolute path, has a path segment that is
    /// exactly `..`, or holds a NUL byte. Other names are NumPy's keys as they are
    /// (`a..b`, `run/1`).
    #[error(
        "a member name must be non-empty, not an absolute path, with no path segment '..' \
         and no NUL byte"
    )]
    InvalidName,
    /// Two members have the same name.
    #[error("two members have this name")]
    DuplicateName,
    /// The member is compressed with a method other than stored or deflate (what
    /// `np.savez` and `np.savez_compressed` write).
    #[error("compression method {method} is not supported (only stored and deflate are)")]
    UnsupportedCompression {
        /// The zip compression method number (e.g. 12 for bzip2, 93 for zstd).
        method: u16,
    },
    /// The member is encrypted.
    #[error("the member is encrypted")]
    Encrypted,
    /// The member's bytes overlap another member's.
    #[error("the member's bytes overlap those of member {other:?}")]
    Overlapping {
        /// The other member's name.
        other: String,
    },
    /// The sizes the archive states do not hold: a member that runs past the central
    /// directory or the end of the file, a stored member whose compressed and uncompressed
    /// sizes differ, data that ends before its stated size, or a `.npy` header whose shape
    /// needs more bytes than the member holds.
    #[error("the member's sizes do not hold: {needed} bytes needed, {available} there")]
    SizeMismatch {
        /// The bytes the member (or its `.npy` header) says it needs.
        needed: u64,
        /// The bytes actually there.
        available: u64,
    },
    /// Reading the member would take more memory than the limit allows (a guard against
    /// zip bombs); raise it with `NpzOptions::max_read_size`.
    #[error("the member holds {size} bytes uncompressed, over the read limit of {limit}")]
    TooLarge {
        /// The member's uncompressed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The member's data does not match its CRC-32.
    #[error("the member's data does not match its CRC-32 checksum")]
    Checksum,
    /// No member has this name.
    #[error("no such member; the archive holds {available:?}")]
    NotFound {
        /// The names of the archive's arrays.
        available: Vec<String>,
    },
    /// The member is compressed, so it cannot be mapped; read it into memory instead.
    #[error(
        "the member is compressed and cannot be mapped; read it with NpzArchive::read or \
         NpzArchive::load, or store it with realign_npz"
    )]
    Compressed,
    /// The member's array data does not start at a multiple of the element's alignment,
    /// so it cannot be mapped (as zip writers other than ndmmap's leave it).
    #[error(
        "the member's data at byte {offset} of the archive is not aligned to the {align}-byte \
         alignment of the element type; load or read it (NpzArchive::load, NpzArchive::read), \
         or re-save the archive aligned once with realign_npz (or ndmmap's NpzWriter or \
         save_npz, which align every stored member)"
    )]
    Misaligned {
        /// Where the array data starts, in bytes from the start of the archive.
        offset: u64,
        /// The alignment the element type needs.
        align: usize,
    },
    /// The member's local header uses a trailing data descriptor, so its checksum cannot be
    /// updated in place after writing through a read-write map.
    #[error("the member has a data descriptor; a read-write map cannot update its checksum")]
    DataDescriptor,
    /// The member's `.npy` header is invalid; the message says how (the
    /// [`HeaderError`]'s own message), so it is not repeated as a `source()`.
    #[error("invalid .npy header in the member: {0}")]
    Header(HeaderError),
}
