//! The `.safetensors` header: its JSON parsed into a strict tree (every object keeps its
//! keys in order, duplicates included, so that they can be refused), then checked against
//! the format's rules and the data buffer's length. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::dtype::Dtype;
use crate::error::SafetensorsError;

/// The largest header the format allows: 100 MB, the limit of the `safetensors` crate
/// (and so of Python's package, built on it).
pub(crate) const MAX_HEADER_LEN: u64 = 100_000_000;

/// The key of the free-form string-to-string map in the header.
pub(crate) const METADATA_KEY: &str = "__metadata__";

/// One tensor of a `.safetensors` file, as [`SafeTensorsFile::tensors`] lists it: what the
/// header says of it, and where its bytes lie in the file.
///
/// [`SafeTensorsFile::tensors`]: super::SafeTensorsFile::tensors
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::safetensors::{Dtype, SafeTensorsFile, save_safetensors};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("t.safetensors");
/// save_safetensors(&path, &[("t", &Array2::<i16>::zeros((2, 3)))], &[])?;
/// let file = SafeTensorsFile::open(&path)?;
/// let t = file.tensor("t")?;
/// assert_eq!((t.dtype, t.shape.as_slice(), t.data_offsets), (Dtype::I16, &[2, 3][..], (0, 12)));
/// assert_eq!(t.byte_len(), 12);
/// assert_eq!(t.offset % 64, 0); // ndmmap's writer aligns the data buffer
/// assert_eq!(t.file_range(), t.offset..t.offset + 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TensorInfo {
    /// The tensor's name: its key in the header.
    pub name: String,
    /// The element type.
    pub dtype: Dtype,
    /// The shape, in C (row-major) order as the format stores every tensor; empty for a
    /// 0-d tensor (a scalar).
    pub shape: Vec<usize>,
    /// `data_offsets` as the header states them: `(BEGIN, END)` in bytes from the start
    /// of the data buffer (which follows the header).
    pub data_offsets: (u64, u64),
    /// Where the tensor's data starts, in bytes from the start of the file.
    pub offset: u64,
}

impl TensorInfo {
    /// The tensor's bytes: `END - BEGIN`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[("a", &Array1::<f64>::zeros(5))], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.tensor("a")?.byte_len(), 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn byte_len(&self) -> u64 {
        self.data_offsets.1 - self.data_offsets.0
    }

    /// The tensor's bytes, in bytes from the start of the file.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[("a", &array![1u8, 2, 3])], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// let range = file.tensor("a")?.file_range();
    /// let bytes = std::fs::read(&path)?;
    /// assert_eq!(&bytes[range.start as usize..range.end as usize], &[1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn file_range(&self) -> Range<u64> {
        self.offset..self.offset + self.byte_len()
    }
}

/// What a header holds, checked: the tensors in the order of their bytes, and the metadata.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) metadata: BTreeMap<String, String>,
}

/// A header's defect, and the tensor it concerns, if one.
#[derive(Debug)]
pub(crate) struct Fault {
    pub(crate) tensor: Option<String>,
    pub(crate) detail: SafetensorsError,
}

impl From<SafetensorsError> for Fault {
    fn from(detail: SafetensorsError) -> Self {
        Fault { tensor: None, detail }
    }
}

fn fault(tensor: &str, detail: SafetensorsError) -> Fault {
    Fault { tensor: Some(tensor.to_owned()), detail }
}

/// Parses and checks the header `json` (its `N` bytes, padding included) of a file whose
/// data buffer starts at byte `data_start` and holds `buffer_len` bytes.
pub(crate) fn parse(json: &[u8], data_start: u64, buffer_len: u64) -> Result<Header, Fault> {
    if json.first() != Some(&b'{') {
        return Err(SafetensorsError::NotAnObject.into());
    }
    let text = std::str::from_utf8(json).map_err(|_| SafetensorsError::NotUtf8)?;
    let tree: Json = serde_json::from_str(text)
        .map_err(|e| SafetensorsError::InvalidJson { detail: e.to_string() })?;
    let Json::Object(entries) = tree else {
        return Err(SafetensorsError::NotAnObject.into());
    };
    refuse_duplicates(&entries).map_err(Fault::from)?;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if key == METADATA_KEY {
            metadata = parse_metadata(value)?;
        } else {
            let entry = parse_entry(value, data_start).map_err(|e| fault(&key, e))?;
            tensors.push(TensorInfo { name: key, ..entry });
        }
    }
    check_coverage(&mut tensors, buffer_len)?;
    Ok(Header { tensors, metadata })
}

fn refuse_duplicates(entries: &[(String, Json)]) -> Result<(), SafetensorsError> {
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(SafetensorsError::DuplicateKey { key: pair[0].to_owned() }),
        None => Ok(()),
    }
}

fn parse_metadata(value: Json) -> Result<BTreeMap<String, String>, Fault> {
    let invalid = |reason: String| Fault::from(SafetensorsError::InvalidMetadata { reason });
    let entries = match value {
        // What the `safetensors` crate writes for no metadata, in some versions.
        Json::Null => return Ok(BTreeMap::new()),
        Json::Object(entries) => entries,
        other => return Err(invalid(format!("it is {}, not an object", other.kind()))),
    };
    refuse_duplicates(&entries)?;
    entries
        .into_iter()
        .map(|(key, value)| match value {
            Json::Str(text) => Ok((key, text)),
            other => Err(invalid(format!("the value of {key:?} is {}", other.kind()))),
        })
        .collect()
}

/// A tensor's entry, its name left empty.
fn parse_entry(value: Json, data_start: u64) -> Result<TensorInfo, SafetensorsError> {
    let invalid = |reason: String| SafetensorsError::InvalidEntry { reason };
    let Json::Object(fields) = value else {
        return Err(invalid(format!("it is {}, not an object", value.kind())));
    };
    refuse_duplicates(&fields)?;
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| invalid(format!("it has no {key:?}")))
    };
    let dtype = match field("dtype")? {
        Json::Str(text) => Dtype::from_name(text)
            .ok_or_else(|| SafetensorsError::UnknownDtype { dtype: text.clone() })?,
        other => return Err(invalid(format!("\"dtype\" is {}, not a string", other.kind()))),
    };
    let shape = integers(field("shape")?)
        .ok_or_else(|| invalid("\"shape\" is not a list of non-negative integers".to_owned()))?;
    let offsets = integers(field("data_offsets")?).unwrap_or_default();
    let &[begin, end] = offsets.as_slice() else {
        return Err(invalid("\"data_offsets\" is not [BEGIN, END] (two integers)".to_owned()));
    };
    if begin > end {
        return Err(invalid(format!("\"data_offsets\" [{begin}, {end}] end before they begin")));
    }
    let needed = shape
        .iter()
        .try_fold(u64::from(dtype.bits()), |bits, &n| bits.checked_mul(n))
        .filter(|bits| bits % 8 == 0)
        .map(|bits| bits / 8);
    if needed != Some(end - begin) {
        let dtype = dtype.name();
        return Err(SafetensorsError::ShapeMismatch {
            shape,
            dtype,
            needed,
            available: end - begin,
        });
    }
    let shape = shape.iter().map(|&n| usize::try_from(n)).collect::<Result<Vec<_>, _>>();
    let shape = shape.map_err(|_| invalid("a length of \"shape\" overflows usize".to_owned()))?;
    // `begin` lies in the data buffer (checked with the coverage), whose end fits in a u64.
    let offset = data_start.saturating_add(begin);
    Ok(TensorInfo { name: String::new(), dtype, shape, data_offsets: (begin, end), offset })
}

/// The value as a list of `u64`, if it is one.
fn integers(value: &Json) -> Option<Vec<u64>> {
    let Json::Array(items) = value else { return None };
    items.iter().map(|item| if let Json::Int(n) = item { Some(*n) } else { None }).collect()
}

/// Sorts `tensors` by their bytes and checks that they tile the data buffer exactly: no
/// byte past its end, no overlap, no hole (the format's rules).
fn check_coverage(tensors: &mut [TensorInfo], buffer_len: u64) -> Result<(), Fault> {
    if let Some(t) = tensors.iter().find(|t| t.data_offsets.1 > buffer_len) {
        let detail = SafetensorsError::PastEnd { end: t.data_offsets.1, len: buffer_len };
        return Err(fault(&t.name, detail));
    }
    tensors.sort_by(|a, b| a.data_offsets.cmp(&b.data_offsets).then_with(|| a.name.cmp(&b.name)));
    let mut covered = 0;
    let mut last: Option<&str> = None;
    for t in tensors.iter() {
        let (begin, end) = t.data_offsets;
        if begin < covered {
            let other = last.unwrap_or_default().to_owned();
            return Err(fault(&t.name, SafetensorsError::Overlap { other }));
        }
        if begin > covered {
            return Err(SafetensorsError::Hole { start: covered, end: begin }.into());
        }
        covered = end;
        last = Some(&t.name);
    }
    if covered < buffer_len {
        return Err(SafetensorsError::Hole { start: covered, end: buffer_len }.into());
    }
    Ok(())
}

/// A JSON value whose objects keep every key in order, duplicates included (`serde_json`'s
/// own `Value` keeps the last of duplicate keys, silently).
#[derive(Debug)]
enum Json {
    Null,
    Bool,
    /// A non-negative integer.
    Int(u64),
    /// A negative integer or a number with a fraction or exponent.
    OtherNumber,
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// What the value is, in words, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Int(_) | Json::OtherNumber => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Int(n))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(u64::try_from(n).map_or(Json::OtherNumber, Json::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::OtherNumber)
    }

    fn visit_str<E>(self, text: &str) -> Result<Json, E> {
        Ok(Json::Str(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Json, E> {
        Ok(Json::Str(text))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Json, S::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Json, M::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests;
