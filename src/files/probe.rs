//! Reading just enough of a data file to know its schema: a CSV's header and
//! a bounded sample of rows (like Polars' schema inference), or an image
//! folder's class sub-folders. Never the whole file.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::schema::DType;

/// Rows read to infer CSV column types (Polars' default infer length).
pub const SAMPLE_ROWS: usize = 100;

/// Distinct values of a text or integer column remembered from the
/// sample: enough for the high-cardinality columns `encode` and
/// `embedding` are for (256 turned a 950-level id column into 256 ids and
/// one shared 0), while the 4 MB read bounds the memory either way.
const MAX_LEVELS: usize = 65_536;

/// Bytes read (past the type sample) to find the levels of text and integer
/// columns: a small file is read whole, a large one only this far, so
/// checking stays fast and one-hot widths are an estimate for large files.
pub const LEVEL_SCAN_BYTES: usize = 4 << 20;

/// The longest record (a quoted field may hold line breaks) read before a
/// stray quote is reported instead.
const MAX_RECORD: usize = 1 << 20;

/// The strings read as missing when a source gives no `nulls:` (pandas'
/// defaults, so files that load cleanly there load the same here).
pub const DEFAULT_NULLS: [&str; 17] = [
    "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A", "#N/A N/A", "#NA",
    "1.#IND", "1.#QNAN", "-1.#IND",
];

/// How a CSV file is read.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// The field separator.
    pub sep: u8,
    /// Strings that mean "missing" (the empty field always does).
    pub nulls: Vec<String>,
}

/// One column as seen in the header and the sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbedColumn {
    /// The header's name.
    pub name: String,
    /// The type the sample suggests.
    pub dtype: DType,
    /// For text and integer columns: the distinct values in the sample,
    /// sorted as text (at most 65,536); one-hot encoding's and `encode`'s
    /// estimate of the levels.
    pub levels: Vec<String>,
    /// Whether the sample held a value (a column empty in the sample is
    /// text for want of anything better).
    pub sampled: bool,
}

/// Probes already made in one check, by path, options and level budget (a
/// file read by several sources is read once).
pub type Cache =
    std::collections::HashMap<(std::path::PathBuf, u8, Vec<String>, usize), Result<Vec<ProbedColumn>, String>>;

/// [`csv_columns`] through a cache; levels are looked for in at most
/// `level_bytes` of the file.
pub fn csv_columns_cached(
    cache: &mut Cache,
    path: &Path,
    options: &CsvOptions,
    level_bytes: usize,
) -> Result<Vec<ProbedColumn>, String> {
    let key = (path.to_path_buf(), options.sep, options.nulls.clone(), level_bytes);
    cache.entry(key).or_insert_with(|| csv_columns_scanning(path, options, level_bytes)).clone()
}

/// The columns of a CSV file, from its header and first rows.
pub fn csv_columns(path: &Path, options: &CsvOptions) -> Result<Vec<ProbedColumn>, String> {
    csv_columns_scanning(path, options, LEVEL_SCAN_BYTES)
}

/// [`csv_columns`], looking for levels in at most `level_bytes` of the file.
fn csv_columns_scanning(path: &Path, options: &CsvOptions, level_bytes: usize) -> Result<Vec<ProbedColumn>, String> {
    super::regular_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    csv_columns_read(file, options, level_bytes)
}

/// The columns of the CSV text `reader` gives (a file, or the head of a
/// remote one cut at a line's end), looking for levels in at most
/// `level_bytes` of it.
pub fn csv_columns_read(
    reader: impl Read,
    options: &CsvOptions,
    level_bytes: usize,
) -> Result<Vec<ProbedColumn>, String> {
    let mut records = Records { reader: BufReader::new(reader), sep: options.sep, bytes: 0 };
    let mut header = records.next_record()?.ok_or("the file is empty")?;
    // A byte-order mark is not part of the first column's name.
    if let Some(first) = header.first_mut()
        && let Some(stripped) = first.strip_prefix('\u{feff}')
    {
        *first = stripped.to_owned();
    }
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err("the header row is empty".into());
    }
    if let Some(dup) = header.iter().enumerate().find(|(i, h)| header[..*i].contains(h)).map(|(_, h)| h) {
        return Err(format!("the header names the column `{dup}` twice"));
    }
    let is_null = |field: &str| field.is_empty() || options.nulls.iter().any(|n| n == field);
    let mut guesses: Vec<Guess> = header.iter().map(|_| Guess::default()).collect();
    for sampled in 0..SAMPLE_ROWS {
        let Some(row) = records.next_record()? else {
            // Without rows no type can be read, and nothing downstream
            // has data to work on: say so rather than guess text.
            if sampled == 0 {
                return Err("it has a header and no rows".into());
            }
            break;
        };
        for (guess, field) in guesses.iter_mut().zip(&row) {
            if !is_null(field) {
                guess.see(field);
            }
        }
    }
    let mut columns: Vec<ProbedColumn> = header.into_iter().zip(guesses).map(|(name, g)| g.finish(name)).collect();
    let wanted: Vec<usize> =
        (0..columns.len()).filter(|&i| matches!(columns[i].dtype, DType::Str | DType::I64)).collect();
    let mut levels: Vec<std::collections::BTreeSet<String>> =
        wanted.iter().map(|&i| columns[i].levels.iter().cloned().collect()).collect();
    while !wanted.is_empty() && records.bytes < level_bytes {
        let Some(line) = records.next_line()? else { break };
        // Most lines have no quotes: split them without copying.
        let quoted: Vec<String>;
        let row: Vec<&str> = if line.contains('"') {
            quoted = split_fields(&line, options.sep as char);
            quoted.iter().map(String::as_str).collect()
        } else {
            line.split(options.sep as char).collect()
        };
        for (set, &i) in levels.iter_mut().zip(&wanted) {
            match row.get(i) {
                Some(field) if !is_null(field) && set.len() < MAX_LEVELS && !set.contains(*field) => {
                    set.insert((*field).to_owned());
                }
                _ => {}
            }
        }
    }
    for (set, &i) in levels.into_iter().zip(&wanted) {
        columns[i].levels = set.into_iter().collect();
    }
    Ok(columns)
}

/// What the values of one column seen so far allow.
#[derive(Default)]
struct Guess {
    seen: bool,
    not_int: bool,
    not_float: bool,
    not_bool: bool,
    levels: std::collections::BTreeSet<String>,
}

impl Guess {
    fn see(&mut self, field: &str) {
        self.seen = true;
        self.not_int |= field.parse::<i64>().is_err();
        self.not_float |= field.parse::<f64>().is_err();
        self.not_bool |= !matches!(field.to_ascii_lowercase().as_str(), "true" | "false");
        if self.levels.len() < MAX_LEVELS {
            self.levels.insert(field.to_owned());
        }
    }

    fn finish(self, name: String) -> ProbedColumn {
        let dtype = match self {
            _ if !self.seen => DType::Str,
            _ if !self.not_int => DType::I64,
            _ if !self.not_float => DType::F64,
            _ if !self.not_bool => DType::Bool,
            _ => DType::Str,
        };
        let levels =
            if matches!(dtype, DType::Str | DType::I64) { self.levels.into_iter().collect() } else { Vec::new() };
        ProbedColumn { name, dtype, levels, sampled: self.seen }
    }
}

/// CSV records (RFC 4180: quoted fields, `""` for a quote, line breaks
/// inside quotes).
struct Records<R> {
    reader: BufReader<R>,
    sep: u8,
    /// Bytes read so far.
    bytes: usize,
}

impl<R: Read> Records<R> {
    fn next_record(&mut self) -> Result<Option<Vec<String>>, String> {
        Ok(self.next_line()?.map(|line| split_fields(&line, self.sep as char)))
    }

    /// The next record's text (several lines when a quoted field spans them).
    fn next_line(&mut self) -> Result<Option<String>, String> {
        let mut line = String::new();
        let mut open_quote = false;
        loop {
            let start = line.len();
            let read = self.reader.read_line(&mut line).map_err(|e| e.to_string())?;
            self.bytes = self.bytes.saturating_add(read);
            // Only the new part is counted: a stray quote must not make
            // every following line rescan the record.
            open_quote ^= line[start..].matches('"').count() % 2 == 1;
            if read == 0 || !open_quote {
                break;
            }
            if line.len() > MAX_RECORD {
                return Err(format!(
                    "a quoted field opened near byte {} is never closed",
                    self.bytes.saturating_sub(line.len())
                ));
            }
        }
        if line.is_empty() {
            return Ok(None);
        }
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        Ok(Some(line))
    }
}

fn split_fields(line: &str, sep: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// What is wrong with a record of a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub enum BadRecord {
    /// A field of a typed column does not parse as its type.
    Value {
        /// The column's index.
        column: usize,
        /// The text.
        text: String,
    },
    /// The record has more fields than the header.
    Fields {
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
}

/// The first record that cannot be read into the columns: `(line,
/// problem)`, lines counted from 1 with the header as line 1. `typed` lists
/// `(column index, type)`. Used to explain a failed read precisely, so
/// speed matters less than agreeing with the probe.
pub fn first_bad_value(
    path: &Path,
    options: &CsvOptions,
    typed: &[(usize, DType)],
) -> Result<Option<(usize, BadRecord)>, String> {
    super::regular_file(path)?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut records = Records { reader: BufReader::new(file), sep: options.sep, bytes: 0 };
    let is_null = |field: &str| field.is_empty() || options.nulls.iter().any(|n| n == field);
    let mut line = 1usize;
    let expected = records.next_record()?.map_or(0, |h| h.len());
    while let Some(record) = records.next_record()? {
        line = line.saturating_add(1);
        if record.len() > expected {
            return Ok(Some((line, BadRecord::Fields { found: record.len(), expected })));
        }
        for (i, dtype) in typed {
            let Some(field) = record.get(*i) else { continue };
            let ok = is_null(field)
                || match dtype {
                    DType::I64 => field.parse::<i64>().is_ok(),
                    DType::F64 => field.parse::<f64>().is_ok(),
                    DType::Bool => matches!(field.to_ascii_lowercase().as_str(), "true" | "false"),
                    _ => true,
                };
            if !ok {
                return Ok(Some((line, BadRecord::Value { column: *i, text: field.clone() })));
            }
        }
    }
    Ok(None)
}

/// The class names of an image folder: its sub-folders, sorted.
pub fn image_classes(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    let mut classes: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // Hidden folders (`.ipynb_checkpoints`, `.git`) are not classes.
        .filter(|name| !name.starts_with('.'))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err("it has no sub-folders (one per class)".into());
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_split_like_rfc_4180() {
        assert_eq!(split_fields(r#"a,"b,c","d""e",,f"#, ','), vec!["a", "b,c", "d\"e", "", "f"]);
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_name() {
        let path = std::env::temp_dir().join(format!("pipe-bom-{}.csv", std::process::id()));
        std::fs::write(&path, "\u{feff}age,city\n1,a\n").expect("write");
        let columns = csv_columns(&path, &CsvOptions { sep: b',', nulls: vec![] }).expect("probe");
        assert_eq!(columns[0].name, "age");
        assert_eq!(columns[0].dtype, DType::I64);
    }

    #[test]
    fn types_follow_the_sample() {
        let mut g = Guess::default();
        g.see("1");
        g.see("2.5");
        assert_eq!(g.finish("x".into()).dtype, DType::F64);
        let mut g = Guess::default();
        g.see("True");
        g.see("false");
        assert_eq!(g.finish("x".into()).dtype, DType::Bool);
    }
}
