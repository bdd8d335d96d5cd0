//! A cursor over Thrift compact-protocol bytes, the encoding of Parquet's page
//! headers and footer, for the checks that read a few fields of them before
//! the `parquet` crate decodes the whole.

/// Nesting of Thrift structs and containers past which bytes are refused
/// (real page headers nest three deep, footers five).
const MAX_DEPTH: usize = 16;

// Thrift compact protocol type codes.
pub(crate) const BOOL_TRUE: u8 = 1;
pub(crate) const BOOL_FALSE: u8 = 2;
pub(crate) const BYTE: u8 = 3;
pub(crate) const I16: u8 = 4;
pub(crate) const I32: u8 = 5;
pub(crate) const I64: u8 = 6;
pub(crate) const DOUBLE: u8 = 7;
pub(crate) const BINARY: u8 = 8;
pub(crate) const LIST: u8 = 9;
pub(crate) const SET: u8 = 10;
pub(crate) const MAP: u8 = 11;
pub(crate) const STRUCT: u8 = 12;
pub(crate) const UUID: u8 = 13;

/// What a read past the bytes at hand reports (a caller may read a wider window).
pub(crate) const ENDS_EARLY: &str = "the bytes end early";

/// A cursor over Thrift compact-protocol bytes.
pub(crate) struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Compact<'a> {
    /// A cursor at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Compact { bytes, at: 0 }
    }

    /// How many bytes have been read.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or(ENDS_EARLY)?;
        self.at += 1;
        Ok(b)
    }

    fn advance(&mut self, n: u64) -> Result<(), String> {
        let end = (self.at as u64).checked_add(n).filter(|&end| end <= self.bytes.len() as u64).ok_or(ENDS_EARLY)?;
        self.at = end as usize;
        Ok(())
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than ten bytes".into())
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// The next field's type and id, or `None` at the struct's end.
    pub(crate) fn field_header(&mut self, last_id: &mut i64) -> Result<Option<(u8, i64)>, String> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let delta = i64::from(b >> 4);
        *last_id = if delta == 0 { self.zigzag()? } else { *last_id + delta };
        Ok(Some((b & 0x0f, *last_id)))
    }

    /// A list's or set's element type and declared count (a count the bytes
    /// may not hold: each element read checks its own bytes).
    pub(crate) fn list_header(&mut self) -> Result<(u8, u64), String> {
        let head = self.byte()?;
        let count = match head >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((head & 0x0f, count))
    }

    /// Skips one value of `kind` (a field's value: booleans carry theirs in the type).
    pub(crate) fn skip(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        match kind {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            UUID => self.advance(16),
            BINARY => {
                let len = self.varint()?;
                self.advance(len)
            }
            LIST | SET => {
                let (kind, count) = self.list_header()?;
                self.elements(kind, count, depth)
            }
            MAP => {
                let count = self.varint()?;
                if count == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                for _ in 0..count {
                    self.element(kinds >> 4, depth)?;
                    self.element(kinds & 0x0f, depth)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last_id = 0;
                while let Some((kind, _)) = self.field_header(&mut last_id)? {
                    self.skip(kind, depth + 1)?;
                }
                Ok(())
            }
            other => Err(format!("unknown Thrift type {other}")),
        }
    }

    fn elements(&mut self, kind: u8, count: u64, depth: usize) -> Result<(), String> {
        for _ in 0..count {
            self.element(kind, depth)?;
        }
        Ok(())
    }

    /// Skips one container element: a boolean element is a byte of its own.
    fn element(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        match kind {
            BOOL_TRUE | BOOL_FALSE => self.advance(1),
            kind => self.skip(kind, depth + 1),
        }
    }
}

/// `value` as a Thrift varint, for tests that write header and footer fields.
#[cfg(test)]
pub(crate) fn encode_varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}
