//! A structured descr (the list of a `.npy` header) parsed into a [`RecordLayout`], as
//! NumPy's `descr_to_dtype` reads it.

use super::{Descr, Field, HeaderError, HeaderText, Node, RecordLayout, Result, Ty, Value};

/// Parses a structured descr (the list of a `.npy` header) as NumPy's `descr_to_dtype` does.
pub(in crate::npy) fn parse(
    source: &HeaderText<'_>,
    node: &Node,
) -> Result<RecordLayout, HeaderError> {
    let quote = || source.quote(node.start, node.end);
    let invalid = || HeaderError::Descr { text: quote() };
    let unsupported = |reason| HeaderError::UnsupportedDtype { descr: quote(), reason };
    let Value::List(items) = &node.value else {
        return Err(invalid());
    };
    let mut fields: Vec<Field> = Vec::with_capacity(items.len());
    let mut at = 0usize;
    for item in items {
        let Value::Tuple(parts) = &item.value else {
            return Err(invalid());
        };
        let (name, ty, shape) = match parts.as_slice() {
            [name, ty] => (name, ty, None),
            [name, ty, shape] => (name, ty, Some(shape)),
            _ => return Err(invalid()),
        };
        let name = match &name.value {
            Value::Str(name) => name.clone(),
            Value::Tuple(_) => return Err(unsupported("field titles are not supported")),
            _ => return Err(invalid()),
        };
        let ty = match &ty.value {
            Value::Str(text) if name.is_empty() => {
                // NumPy's padding entry: `('', '|V4')`, skipped by `descr_to_dtype`.
                let size = text
                    .strip_prefix('|')
                    .unwrap_or(text)
                    .strip_prefix('V')
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<usize>().ok())
                    .ok_or_else(|| unsupported("unnamed fields are not supported"))?;
                if shape.is_some() {
                    return Err(invalid());
                }
                at = at.checked_add(size).ok_or_else(invalid)?;
                continue;
            }
            Value::Str(text) => Ty::Plain(Descr::parse(text)?),
            Value::List(_) => Ty::Record(parse(source, ty)?),
            _ => return Err(invalid()),
        };
        if name.is_empty() {
            return Err(unsupported("unnamed fields are not supported"));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(invalid());
        }
        let shape = match shape.map(|s| &s.value) {
            None => Vec::new(),
            Some(Value::Int { negative: false, magnitude: Some(n) }) => {
                vec![usize::try_from(*n).map_err(|_| invalid())?]
            }
            Some(Value::Tuple(dims)) => dims
                .iter()
                .map(|d| match d.value {
                    Value::Int { negative: false, magnitude: Some(n) } => {
                        usize::try_from(n).map_err(|_| invalid())
                    }
                    Value::Int { magnitude: Some(0), .. } => Ok(0),
                    _ => Err(invalid()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid()),
        };
        let ty = if shape.is_empty() {
            ty
        } else {
            // Overflow checked: the product times the element size must fit.
            shape.iter().try_fold(ty.size(), |acc, &d| acc.checked_mul(d)).ok_or_else(invalid)?;
            match ty {
                Ty::Array(elem, inner) => Ty::Array(elem, [shape, inner].concat()),
                other => Ty::Array(Box::new(other), shape),
            }
        };
        let size = ty.size();
        fields.push(Field { name, offset: at, ty });
        at = at.checked_add(size).ok_or_else(invalid)?;
    }
    if fields.is_empty() {
        return Err(unsupported("records without fields are not supported"));
    }
    if at == 0 {
        // NumPy allows them (fields that are empty sub-arrays, `(0,)`); an element of no
        // bytes cannot be mapped.
        return Err(unsupported("records of zero bytes are not supported"));
    }
    if isize::try_from(at).is_err() {
        return Err(invalid());
    }
    Ok(RecordLayout { fields, itemsize: at })
}
