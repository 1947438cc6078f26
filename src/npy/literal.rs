//! A parser for the subset of Python literals found in `.npy` headers.
//!
//! It stands in for `ast.literal_eval`: it builds the value tree of dicts, lists, tuples,
//! strings, integers, booleans and `None`, and recognises other numbers only to call them
//! "not an integer". It never panics, recurses at most [`MAX_DEPTH`] deep, and uses memory
//! linear in the header length (which the caller bounds with `max_header_size`).
use crate::error::HeaderError;

/// The deepest bracket nesting the parser accepts. Python's parser stops at 200 too ("too many
/// nested parentheses"), so this rejects nothing NumPy reads, and it bounds the recursion.
const MAX_DEPTH: usize = 200;

/// Error texts quoting the header are cut to this many characters.
pub(super) const MAX_QUOTE: usize = 200;

/// The header text being parsed, with what is needed to report errors against the file.
pub(super) struct HeaderText<'a> {
    /// The header bytes after the length field.
    pub(super) text: &'a [u8],
    /// Where `text` starts in the file.
    pub(super) offset: usize,
    /// Whether `text` is latin-1 (versions 1.0, 2.0) rather than UTF-8 (3.0, already checked).
    pub(super) latin1: bool,
}

impl HeaderText<'_> {
    /// Decodes `text[start..end]`, cut to [`MAX_QUOTE`] characters for error messages.
    pub(super) fn quote(&self, start: usize, end: usize) -> String {
        let decoded = self.decode(self.text.get(start..end).unwrap_or_default());
        if decoded.chars().count() <= MAX_QUOTE {
            decoded
        } else {
            let mut cut: String = decoded.chars().take(MAX_QUOTE).collect();
            cut.push_str("...");
            cut
        }
    }

    /// Decodes bytes of the header as latin-1 or UTF-8.
    fn decode(&self, bytes: &[u8]) -> String {
        if self.latin1 {
            // Latin-1 maps each byte to the code point of the same value.
            bytes.iter().map(|&b| char::from(b)).collect()
        } else {
            // Exact: the whole header was checked to be UTF-8, and spans end at ASCII bytes.
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// A parsed value with its span in the header text.
#[derive(Debug)]
pub(super) struct Node {
    /// The value.
    pub(super) value: Value,
    /// Where the value's text starts in the header text.
    pub(super) start: usize,
    /// Where the value's text ends in the header text (exclusive).
    pub(super) end: usize,
}

/// A Python literal value.
#[derive(Debug)]
pub(super) enum Value {
    /// A `str`, decoded.
    Str(String),
    /// An `int`.
    Int {
        /// Whether it was written with a `-` sign.
        negative: bool,
        /// Its absolute value, or `None` if that does not fit a `u128`.
        magnitude: Option<u128>,
    },
    /// `True` or `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A `float` or `complex`: valid, but never what a header needs.
    OtherNumber,
    /// A `tuple`.
    Tuple(Vec<Node>),
    /// A `list`.
    List(Vec<Node>),
    /// A `dict`, as its key/value pairs in order, repeated keys included.
    Dict(Vec<(Node, Node)>),
}

impl Value {
    /// The value's type, for error messages.
    pub(super) const fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int { .. } => "an integer",
            Value::Bool(_) => "a bool",
            Value::None => "None",
            Value::OtherNumber => "a number",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
        }
    }
}

/// Parses the whole header text as one literal, surrounded by whitespace and comments.
///
/// `long_suffix` allows Python 2's `L` after integers, as NumPy does for versions 1.0, 2.0.
pub(super) fn parse(source: &HeaderText<'_>, long_suffix: bool) -> Result<Node, HeaderError> {
    let mut parser = Parser { source, pos: 0, depth: 0, long_suffix };
    parser.skip_trivia()?;
    let node = parser.value()?;
    parser.skip_trivia()?;
    if parser.pos < source.text.len() {
        return Err(parser.error("unexpected text after the value"));
    }
    Ok(node)
}

/// A recursive-descent parser over the header bytes.
struct Parser<'s, 'a> {
    source: &'s HeaderText<'a>,
    pos: usize,
    depth: usize,
    long_suffix: bool,
}

impl Parser<'_, '_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.source.text.get(self.pos.checked_add(ahead)?).copied()
    }

    fn error(&self, message: &str) -> HeaderError {
        self.error_at(self.pos, message.to_owned())
    }

    fn error_at(&self, pos: usize, message: String) -> HeaderError {
        HeaderError::Syntax { offset: self.source.offset + pos, message }
    }

    fn unexpected(&self, expected: &str) -> HeaderError {
        let message = match self.peek(0) {
            None => format!("unexpected end of header, expected {expected}"),
            Some(b) if b.is_ascii_graphic() => {
                format!("unexpected '{}', expected {expected}", char::from(b))
            }
            Some(b) => format!("unexpected byte 0x{b:02x}, expected {expected}"),
        };
        self.error_at(self.pos, message)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek(0) == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Skips whitespace and comments, which Python allows between any tokens here (the
    /// header's only newlines outside brackets are leading or trailing ones).
    fn skip_trivia(&mut self) -> Result<(), HeaderError> {
        while let Some(b) = self.peek(0) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                b'#' => {
                    while let Some(c) = self.peek(0) {
                        match c {
                            b'\n' | b'\r' => break,
                            // Python refuses NUL anywhere in source code.
                            0 => return Err(self.error("NUL byte in a comment")),
                            _ => self.pos += 1,
                        }
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, HeaderError> {
        let start = self.pos;
        match self.peek(0) {
            Some(open @ (b'{' | b'[' | b'(')) => self.container(open),
            Some(b'\'' | b'"') => self.string(start),
            Some(b'u' | b'U') if matches!(self.peek(1), Some(b'\'' | b'"')) => {
                self.pos += 1;
                self.string(start)
            }
            Some(b'0'..=b'9') => self.number(start, false),
            Some(b'.') if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                self.number(start, false)
            }
            Some(sign @ (b'+' | b'-')) => {
                self.pos += 1;
                self.skip_trivia()?;
                match self.peek(0) {
                    Some(b'0'..=b'9') => self.number(start, sign == b'-'),
                    Some(b'.') if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                        self.number(start, sign == b'-')
                    }
                    // `ast.literal_eval` allows a sign only on a number literal.
                    _ => Err(self.unexpected("a number after the sign")),
                }
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.name(start),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn container(&mut self, open: u8) -> Result<Node, HeaderError> {
        let start = self.pos;
        if self.depth >= MAX_DEPTH {
            return Err(self.error("too many nested brackets"));
        }
        self.depth += 1;
        self.pos += 1;
        let (close, expected) = match open {
            b'{' => (b'}', "',' or '}'"),
            b'[' => (b']', "',' or ']'"),
            _ => (b')', "',' or ')'"),
        };
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        let mut saw_comma = false;
        loop {
            self.skip_trivia()?;
            if self.eat(close) {
                break;
            }
            let item = self.value()?;
            self.skip_trivia()?;
            if open == b'{' {
                if !self.eat(b':') {
                    return Err(self.unexpected("':' after a dict key"));
                }
                self.skip_trivia()?;
                let value = self.value()?;
                self.skip_trivia()?;
                pairs.push((item, value));
            } else {
                items.push(item);
            }
            if self.eat(b',') {
                saw_comma = true;
            } else if self.eat(close) {
                break;
            } else {
                return Err(self.unexpected(expected));
            }
        }
        self.depth -= 1;
        let end = self.pos;
        let value = match open {
            b'{' => Value::Dict(pairs),
            b'[' => Value::List(items),
            // `(x)` is just `x` in parentheses; `(x,)` is a tuple.
            _ if items.len() == 1 && !saw_comma => {
                let inner = items.pop().map_or(Value::None, |node| node.value);
                return Ok(Node { value: inner, start, end });
            }
            _ => Value::Tuple(items),
        };
        Ok(Node { value, start, end })
    }

    /// Parses a string literal whose quote is at `self.pos`; `start` includes any prefix.
    fn string(&mut self, start: usize) -> Result<Node, HeaderError> {
        let Some(quote) = self.peek(0) else {
            return Err(self.unexpected("a string"));
        };
        if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
            return Err(self.error("triple-quoted strings are not supported"));
        }
        self.pos += 1;
        let content_start = self.pos;
        loop {
            match self.peek(0) {
                Some(b) if b == quote => break,
                Some(b'\\') => {
                    return Err(self.error("escape sequences in strings are not supported"));
                }
                None | Some(b'\n' | b'\r') => {
                    return Err(self.error_at(start, "unterminated string".to_owned()));
                }
                Some(0) => return Err(self.error("NUL byte in a string")),
                Some(_) => self.pos += 1,
            }
        }
        let content = self.source.text.get(content_start..self.pos).unwrap_or_default();
        let value = Value::Str(self.source.decode(content));
        self.pos += 1;
        let end = self.pos;
        self.skip_trivia()?;
        if matches!(self.peek(0), Some(b'\'' | b'"')) {
            return Err(self.error("adjacent string literals are not supported"));
        }
        self.pos = end;
        Ok(Node { value, start, end })
    }

    /// Parses a number whose first digit (or `.`) is at `self.pos`; `start` includes any
    /// sign.
    fn number(&mut self, start: usize, negative: bool) -> Result<Node, HeaderError> {
        let token_start = self.pos;
        let text = self.source.text;
        while let Some(b) = self.peek(0) {
            let exponent_sign = matches!(b, b'+' | b'-')
                && matches!(text.get(self.pos.wrapping_sub(1)), Some(b'e' | b'E'))
                && !is_prefixed(&text[token_start..self.pos]);
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let mut token = &text[token_start..self.pos];
        if self.long_suffix {
            // Python 2 longs: NumPy drops a NAME token `L` right after a NUMBER token, so
            // `2L` and `2 L` both read as 2.
            if let Some(stripped) = token.strip_suffix(b"L") {
                token = stripped;
            } else {
                let end = self.pos;
                self.skip_trivia()?;
                let is_name_l = self.peek(0) == Some(b'L')
                    && !self.peek(1).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
                self.pos = if is_name_l { self.pos + 1 } else { end };
            }
        }
        let value = if let Some(int) = parse_int(token, negative) {
            int
        } else if is_float(token) {
            Value::OtherNumber
        } else {
            return Err(self.error_at(token_start, "invalid number literal".to_owned()));
        };
        Ok(Node { value, start, end: self.pos })
    }

    fn name(&mut self, start: usize) -> Result<Node, HeaderError> {
        while self.peek(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        let value = match &self.source.text[start..self.pos] {
            b"True" => Value::Bool(true),
            b"False" => Value::Bool(false),
            b"None" => Value::None,
            name => {
                let name = self.source.decode(name);
                return Err(self.error_at(start, format!("unknown name {name}")));
            }
        };
        Ok(Node { value, start, end: self.pos })
    }
}

/// Whether `token` starts with a `0x`, `0o` or `0b` prefix.
fn is_prefixed(token: &[u8]) -> bool {
    matches!(token, [b'0', b'x' | b'X' | b'o' | b'O' | b'b' | b'B', ..])
}

/// Parses a Python integer literal (`-` applied if `negative`), or returns `None` if
/// `token` is not one.
fn parse_int(token: &[u8], negative: bool) -> Option<Value> {
    let (radix, digits) = match token {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest),
        _ => (10, token),
    };
    // After a base prefix, one `_` may come before the first digit (`0x_1f`).
    let digits = if radix == 10 { digits } else { digits.strip_prefix(b"_").unwrap_or(digits) };
    if digits.is_empty() || digits.ends_with(b"_") || digits.starts_with(b"_") {
        return None;
    }
    // Python 3 refuses leading zeros in decimal literals, except in zero itself (`00`).
    if radix == 10 && digits[0] == b'0' && digits.iter().any(|&b| b != b'0' && b != b'_') {
        return None;
    }
    // `None` once the value no longer fits: still a valid literal, reported as too large.
    let mut magnitude: Option<u128> = Some(0);
    let mut previous_underscore = false;
    for &b in digits {
        if b == b'_' {
            if previous_underscore {
                return None;
            }
            previous_underscore = true;
            continue;
        }
        previous_underscore = false;
        let digit = char::from(b).to_digit(radix)?;
        magnitude = magnitude
            .and_then(|v| v.checked_mul(u128::from(radix)))
            .and_then(|v| v.checked_add(u128::from(digit)));
    }
    Some(Value::Int { negative, magnitude })
}

/// Whether `token` is a Python float or imaginary literal (`1.5`, `.5`, `1e-3`, `2j`).
fn is_float(token: &[u8]) -> bool {
    let imaginary = token.strip_suffix(b"j").or_else(|| token.strip_suffix(b"J"));
    let token = imaginary.unwrap_or(token);
    let (mantissa, exponent) = match token.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (&token[..i], Some(&token[i + 1..])),
        None => (token, None),
    };
    let digit_part = |part: &[u8]| {
        !part.is_empty()
            && part.iter().all(|&b| b.is_ascii_digit() || b == b'_')
            && !part.starts_with(b"_")
            && !part.ends_with(b"_")
            && !part.windows(2).any(|w| w == b"__")
    };
    let mantissa_ok = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => {
            let (whole, fraction) = (&mantissa[..i], &mantissa[i + 1..]);
            (whole.is_empty() || digit_part(whole))
                && (fraction.is_empty() || digit_part(fraction))
                && !(whole.is_empty() && fraction.is_empty())
        }
        // An integer part alone is a float only with an exponent or `j`: `1e5`, `2j`.
        None => digit_part(mantissa) && (exponent.is_some() || imaginary.is_some()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        digit_part(e.strip_prefix(b"+").or_else(|| e.strip_prefix(b"-")).unwrap_or(e))
    });
    mantissa_ok && exponent_ok
}
