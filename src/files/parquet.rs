//! Reading a Parquet file's schema from its footer, without reading data:
//! the file ends with the Thrift-encoded `FileMetaData`, its length, and
//! `PAR1`. Only the schema elements are decoded (Thrift compact protocol);
//! everything else is skipped.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::schema::DType;

/// A file's flat columns, with their types.
pub type Columns = Vec<(String, DType)>;

/// Footers larger than this are refused (a corrupt length, not a schema).
const MAX_FOOTER: u64 = 64 << 20;

/// The flat columns of a Parquet file, with their types.
pub fn columns(path: &Path) -> Result<Vec<(String, DType)>, String> {
    schema_of(&footer(path)?)
}

/// The flat columns of a Parquet file of `size` bytes whose bytes `read`
/// gives (`start`, `len`): a local file or a range request; and its rows.
pub fn columns_and_rows_of(
    size: u64,
    read: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>, String>,
) -> Result<(Columns, u64), String> {
    let footer = footer_of(size, read)?;
    Ok((schema_of(&footer)?, rows_in(&footer)?))
}

/// The flat columns a footer's schema names.
fn schema_of(footer: &[u8]) -> Result<Vec<(String, DType)>, String> {
    let elements = file_schema(footer).ok_or("the Parquet footer could not be decoded")?;
    flatten(&elements)
}

/// The number of rows a Parquet file holds, from its footer.
pub fn rows(path: &Path) -> Result<u64, String> {
    rows_in(&footer(path)?)
}

/// The number of rows a footer gives.
fn rows_in(footer: &[u8]) -> Result<u64, String> {
    let mut r = Compact { bytes: footer, pos: 0, depth: 0 };
    let mut rows = None;
    r.fields(|r, id, kind| {
        if id == 3 && kind == I64 {
            rows = Some(r.zigzag()?);
            Some(())
        } else {
            r.skip(kind)
        }
    })
    .ok_or("the Parquet footer could not be decoded")?;
    rows.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| "the Parquet footer has no row count".into())
}

/// A local file's footer bytes.
fn footer(path: &Path) -> Result<Vec<u8>, String> {
    super::regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let mut read = |start: u64, len: u64| {
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        file.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
        file.read_exact(&mut bytes).map_err(|e| e.to_string())?;
        Ok(bytes)
    };
    footer_of(size, &mut read)
}

/// The footer of a Parquet file of `size` bytes whose bytes `read` gives.
fn footer_of(size: u64, read: &mut dyn FnMut(u64, u64) -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    if size < 12 {
        return Err("too short to be a Parquet file".into());
    }
    let tail = read(size.saturating_sub(8), 8)?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err("not a Parquet file (no PAR1 marker at its end)".into());
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    // `length` is at most u32::MAX: these sums cannot overflow.
    if length > MAX_FOOTER || length.saturating_add(8) > size {
        return Err("the Parquet footer is damaged".into());
    }
    let footer = read(size.saturating_sub(length).saturating_sub(8), length)?;
    if footer.len() as u64 != length {
        return Err("the Parquet footer is cut short".into());
    }
    Ok(footer)
}

/// One `SchemaElement` of the footer.
#[derive(Debug, Default)]
struct Element {
    physical: Option<i32>,
    name: String,
    children: i32,
    converted: Option<i32>,
    string_logical: bool,
}

/// The leaf columns of a flat schema (the root element, then its fields).
fn flatten(elements: &[Element]) -> Result<Vec<(String, DType)>, String> {
    let Some((_root, fields)) = elements.split_first() else { return Err("the Parquet schema is empty".into()) };
    let mut columns = Vec::new();
    for element in fields {
        if element.children > 0 {
            return Err(format!("column `{}` is nested; pipe reads flat Parquet tables", element.name));
        }
        columns.push((element.name.clone(), dtype(element)?));
    }
    Ok(columns)
}

/// Physical types: 0 BOOLEAN, 1 INT32, 2 INT64, 3 INT96, 4 FLOAT, 5 DOUBLE,
/// 6 BYTE_ARRAY, 7 FIXED_LEN_BYTE_ARRAY. Converted type 0 is UTF8.
fn dtype(element: &Element) -> Result<DType, String> {
    Ok(match element.physical {
        Some(0) => DType::Bool,
        Some(1 | 2) => DType::I64,
        Some(4 | 5) => DType::F64,
        Some(6) if element.converted == Some(0) || element.string_logical => DType::Str,
        other => return Err(format!("column `{}` has a Parquet type pipe does not read ({other:?})", element.name)),
    })
}

/// `FileMetaData`: field 2 is the list of schema elements.
fn file_schema(bytes: &[u8]) -> Option<Vec<Element>> {
    let mut r = Compact { bytes, pos: 0, depth: 0 };
    let mut elements = None;
    r.fields(|r, id, kind| {
        if id == 2 && kind == LIST {
            let (count, _) = r.list_header()?;
            r.fits(count)?;
            let mut list = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                list.push(r.element()?);
            }
            elements = Some(list);
            Some(())
        } else {
            r.skip(kind)
        }
    })?;
    elements
}

const TRUE: u8 = 1;
const FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// Nesting of skipped values beyond which a footer is refused (a real
/// footer nests a few levels; a crafted one must not exhaust the stack).
const MAX_DEPTH: usize = 32;

/// A reader of the Thrift compact protocol.
struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos = self.pos.checked_add(1)?;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        // `v & 1` is 0 or 1, so its negation is 0 or -1.
        Some((v >> 1) as i64 ^ ((v & 1) as i64).wrapping_neg())
    }

    fn binary(&mut self) -> Option<&[u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// Calls `field(reader, id, type)` for each field of a struct.
    fn fields(&mut self, mut field: impl FnMut(&mut Self, i16, u8) -> Option<()>) -> Option<()> {
        let mut last = 0i16;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Some(());
            }
            let kind = header & 0x0f;
            let delta = (header >> 4) as i16;
            let id = if delta == 0 { i16::try_from(self.zigzag()?).ok()? } else { last.checked_add(delta)? };
            last = id;
            field(self, id, kind)?;
        }
    }

    fn list_header(&mut self) -> Option<(usize, u8)> {
        let header = self.byte()?;
        let size = if header >> 4 == 15 { usize::try_from(self.varint()?).ok()? } else { (header >> 4) as usize };
        Some((size, header & 0x0f))
    }

    /// Skips a value of a type.
    fn skip(&mut self, kind: u8) -> Option<()> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth = self.depth.saturating_add(1);
        let result = self.skip_value(kind);
        self.depth = self.depth.saturating_sub(1);
        result
    }

    fn skip_value(&mut self, kind: u8) -> Option<()> {
        match kind {
            TRUE | FALSE => {}
            BYTE => self.pos = self.pos.checked_add(1)?,
            I16 | I32 | I64 => {
                self.varint()?;
            }
            DOUBLE => self.pos = self.pos.checked_add(8)?,
            BINARY => {
                self.binary()?;
            }
            LIST | SET => {
                let (count, inner) = self.list_header()?;
                self.fits(count)?;
                for _ in 0..count {
                    self.skip_element(inner)?;
                }
            }
            MAP => {
                let count = usize::try_from(self.varint()?).ok()?;
                self.fits(count)?;
                if count > 0 {
                    let kinds = self.byte()?;
                    for _ in 0..count {
                        self.skip_element(kinds >> 4)?;
                        self.skip_element(kinds & 0x0f)?;
                    }
                }
            }
            STRUCT => self.fields(|r, _, k| r.skip(k))?,
            _ => return None,
        }
        (self.pos <= self.bytes.len()).then_some(())
    }

    /// Every element takes at least a byte: a count larger than the bytes
    /// left is a damaged footer, not a reason to loop.
    fn fits(&self, count: usize) -> Option<()> {
        (count <= self.bytes.len().saturating_sub(self.pos)).then_some(())
    }

    /// An element of a list, set or map: booleans there take a byte each
    /// (in a struct field they live in the field header).
    fn skip_element(&mut self, kind: u8) -> Option<()> {
        if kind == TRUE || kind == FALSE { self.byte().map(|_| ()) } else { self.skip(kind) }
    }

    /// A `SchemaElement`: 1 type, 4 name, 5 num_children, 6 converted_type,
    /// 10 logicalType (a union whose field 1 is STRING).
    fn element(&mut self) -> Option<Element> {
        let mut element = Element::default();
        self.fields(|r, id, kind| {
            match (id, kind) {
                (1, I32) => element.physical = Some(i32::try_from(r.zigzag()?).ok()?),
                (4, BINARY) => element.name = String::from_utf8_lossy(r.binary()?).into_owned(),
                (5, I32) => element.children = i32::try_from(r.zigzag()?).ok()?,
                (6, I32) => element.converted = Some(i32::try_from(r.zigzag()?).ok()?),
                (10, STRUCT) => {
                    r.fields(|r, logical, k| {
                        element.string_logical |= logical == 1;
                        r.skip(k)
                    })?;
                }
                _ => r.skip(kind)?,
            }
            Some(())
        })?;
        Some(element)
    }
}
