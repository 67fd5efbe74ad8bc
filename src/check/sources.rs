//! Sources: the readers a `source` item calls, each declared once in
//! [`SOURCES`] (parameters and doc for the resolver and editors), and what
//! each reads at check time (a CSV's header and sample, a Parquet footer,
//! an image folder's classes) to give the source's schema and IR.

use crate::check::args::{Bound, Declared, bind, declared, named, pos};
use crate::check::columns::{Frame, unknown_column};
use crate::check::error::{CheckError, Mistake};
use crate::check::frames::Frames;
use crate::check::limits;
use crate::check::source_files;
use crate::check::value::Value;
use crate::files::probe::{self, CsvOptions};
use crate::files::{many, remote};
use crate::ir;
use crate::schema::{Column, DType, Schema};
use crate::source::Span;
use crate::syntax::ast::*;

/// What a reader reads (matched exhaustively: a new reader fails to
/// compile until it is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// A CSV file.
    Csv,
    /// A Parquet file.
    Parquet,
    /// A folder of images, one sub-folder per class.
    Images,
}

/// Every reader.
pub const SOURCES: &[Declared<Reads>] = &[
    declared(
        "csv",
        Reads::Csv,
        &[pos("path", true), named("sep"), named("nulls"), named("dtypes")],
        "Reads a CSV file, a URL, a glob (`logs/*.csv`) or a folder of them; `dtypes: {col: type}` overrides inferred types, `nulls:` lists the texts read as null",
    ),
    declared(
        "parquet",
        Reads::Parquet,
        &[pos("path", true)],
        "Reads a Parquet file, a URL, a glob (`data/*.parquet`) or a folder of them; `key=value` folders become columns",
    ),
    declared(
        "images",
        Reads::Images,
        &[pos("dir", true), named("size"), named("channels"), named("skip_bad")],
        "Reads one sub-folder of PNG/JPEG images per class, resized to `size: [height, width]`",
    ),
];

/// The names of every reader.
pub fn source_names() -> Vec<&'static str> {
    SOURCES.iter().map(|s| s.name).collect()
}

impl Frames<'_> {
    /// A source's schema and IR, by its reader's declaration.
    pub(super) fn source(&mut self, value: &Expr) -> Option<(Schema, ir::Source)> {
        let ExprKind::Call(call) = &value.kind else { return None };
        // The resolver reports names that are no reader.
        let reader = SOURCES.iter().find(|s| s.name == call.callee.dotted())?;
        let before = self.errors.len();
        let b = bind(reader.name, reader.params, &call.args, value.span, &mut self.errors);
        if self.errors.len() > before {
            return None;
        }
        match reader.kind {
            Reads::Csv => self.csv(&b, value.span),
            Reads::Parquet => self.parquet(&b, value.span),
            Reads::Images => self.images(&b, value.span),
        }
    }

    /// A source's path as the runner finds it: joined to the pipeline's
    /// folder, a URL as it is.
    fn path(&self, written: &str) -> std::path::PathBuf {
        if remote::is_url(written) {
            return written.into();
        }
        self.dir.map_or_else(|| written.into(), |d| d.join(written))
    }

    fn csv(&mut self, b: &Bound, span: Span) -> Option<(Schema, ir::Source)> {
        let (path, path_span) = self.string_arg(&b.value("path", self.constants)?, "a path")?;
        let mut options = CsvOptions { sep: b',', nulls: probe::DEFAULT_NULLS.iter().map(|n| n.to_string()).collect() };
        if let Some((value, s)) = b.value("sep", self.constants) {
            match &value {
                Value::Str(sep) if sep.len() == 1 => options.sep = sep.as_bytes()[0],
                _ => self.errors.push(Mistake::WrongType.at(
                    s,
                    "`sep` is one character",
                    "not one character",
                    "write `sep: \";\"`",
                )),
            }
        }
        if let Some(nulls) = b.value("nulls", self.constants) {
            options.nulls = self.null_markers(nulls)?;
        }
        if let Some(reason) = remote::unlistable(&path) {
            self.errors.push(CheckError::SourceUnreadable { path, reason, span: path_span });
            return None;
        }
        if remote::is_url(&path) && !many::names_many_objects(&path) {
            let read = remote::csv_columns(&path, &options, probe::LEVEL_SCAN_BYTES);
            let (probed, remote) = self.found(read.map_err(|reason| CheckError::SourceUnreadable {
                path: path.clone(),
                reason,
                span: path_span,
            }))?;
            // A CSV takes about its own length in memory.
            let files = ir::SourceFiles::url(&path, remote.validator, remote.size);
            return Some(self.csv_schema(probed, files, Vec::new(), options, b, span));
        }
        let full_path = self.path(&path);
        let mut found = self.found(source_files::find(self.dir, &path, "csv", path_span))?;
        let dir = self.dir;
        let show = |p: &std::path::Path| dir.and_then(|d| p.strip_prefix(d).ok()).unwrap_or(p).display().to_string();
        let probed = source_files::csv_columns(&mut found, &options, self.probes, &path, path_span, &show);
        let probed = self.found(probed)?;
        let names: Vec<String> = probed.iter().map(|p| p.name.clone()).collect();
        let (files, partitions) = self.found(source_files::lower(found, full_path, &names, path_span))?;
        Some(self.csv_schema(probed, files, partitions, options, b, span))
    }

    /// A CSV source's schema (the probed columns, the partition columns,
    /// the declared types) and IR.
    fn csv_schema(
        &mut self,
        probed: Vec<probe::ProbedColumn>,
        mut files: ir::SourceFiles,
        partitions: Vec<Column>,
        options: CsvOptions,
        b: &Bound,
        span: Span,
    ) -> (Schema, ir::Source) {
        let columns = probed.into_iter().map(|p| Column {
            name: p.name,
            dtype: p.dtype,
            origin: span,
            sample_levels: p.levels.into(),
        });
        let mut schema = Schema { columns: columns.chain(partitions).collect() };
        if let Some(dtypes) = b.expr("dtypes") {
            self.declared_dtypes(dtypes, &mut schema);
            // A declared type holds for partition columns too: the run
            // types their folders' values by it.
            for (name, dtype) in &mut files.partitions {
                if let Some(column) = schema.columns.iter().find(|c| c.name == *name) {
                    *dtype = column.dtype.clone();
                }
            }
        }
        let source = ir::Source::Csv { files, sep: options.sep, nulls: options.nulls, schema: schema.clone() };
        (schema, source)
    }

    /// `parquet(path)`: the schema from the footers of the files it names.
    fn parquet(&mut self, b: &Bound, span: Span) -> Option<(Schema, ir::Source)> {
        let (path, path_span) = self.string_arg(&b.value("path", self.constants)?, "a path")?;
        if let Some(reason) = remote::unlistable(&path) {
            self.errors.push(CheckError::SourceUnreadable { path, reason, span: path_span });
            return None;
        }
        if remote::is_url(&path) && !many::names_many_objects(&path) {
            let (read, rows, remote) =
                self.found(remote::parquet_columns(&path).map_err(|reason| CheckError::SourceUnreadable {
                    path: path.clone(),
                    reason,
                    span: path_span,
                }))?;
            let width: u64 = read.iter().map(|(_, dtype)| dtype.held_width()).fold(0, u64::saturating_add);
            let files = ir::SourceFiles::url(&path, remote.validator, Some(rows.saturating_mul(width)));
            let columns = read.into_iter().map(|(name, dtype)| Column::new(name, dtype, span)).collect();
            return Some((Schema { columns }, ir::Source::Parquet { files }));
        }
        let full_path = self.path(&path);
        let mut found = self.found(source_files::find(self.dir, &path, "parquet", path_span))?;
        let dir = self.dir;
        let show = |p: &std::path::Path| dir.and_then(|d| p.strip_prefix(d).ok()).unwrap_or(p).display().to_string();
        let read = self.found(source_files::parquet_columns(&mut found, &path, path_span, &show))?;
        let names: Vec<String> = read.iter().map(|(n, _)| n.clone()).collect();
        let (files, partitions) = self.found(source_files::lower(found, full_path, &names, path_span))?;
        let columns = read.into_iter().map(|(name, dtype)| Column::new(name, dtype, span));
        Some((Schema { columns: columns.chain(partitions).collect() }, ir::Source::Parquet { files }))
    }

    /// A result of finding or reading a source's files; its error reported.
    fn found<T>(&mut self, result: Result<T, CheckError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// `nulls: ["NA", "?"]` (or one string): the texts read as null.
    fn null_markers(&mut self, (value, span): (Value, Span)) -> Option<Vec<String>> {
        let items = match value {
            Value::List(items) => items,
            Value::Str(one) => return Some(vec![one]),
            _ => vec![(value, span)],
        };
        let mut markers = Vec::new();
        for (item, item_span) in items {
            match item {
                Value::Str(marker) => markers.push(marker),
                other => {
                    self.errors.push(Mistake::WrongType.at(
                        item_span,
                        "`nulls` lists the texts read as null, in quotes",
                        format!("this is {}", crate::check::layers::show(&other)),
                        "write `nulls: [\"NA\", \"?\"]`",
                    ));
                    return None;
                }
            }
        }
        Some(markers)
    }

    fn string_arg(&mut self, value: &(Value, Span), what: &str) -> Option<(String, Span)> {
        match value {
            (Value::Str(s), span) => Some((s.clone(), *span)),
            (_, span) => {
                self.errors.push(Mistake::WrongType.at(
                    *span,
                    format!("this must be {what} in quotes"),
                    "not a string",
                    "write it in double quotes",
                ));
                None
            }
        }
    }

    /// `dtypes: {age: i64, city: cat}` overrides what the sample suggests.
    fn declared_dtypes(&mut self, dtypes: &Expr, schema: &mut Schema) {
        let ExprKind::Record { fields } = &dtypes.kind else {
            return self.errors.push(Mistake::WrongType.at(
                dtypes.span,
                "`dtypes` is a record of column types",
                "not a record",
                "write `dtypes: {age: i64, city: cat}`",
            ));
        };
        for field in fields {
            let Some(position) = schema.position(&field.key.name) else {
                let frame = Frame { schema, span: None };
                self.errors.push(unknown_column(&field.key.name, field.key.span, frame));
                continue;
            };
            let dtype = match &field.value.kind {
                ExprKind::Path(p) => DType::from_name(&p.dotted()),
                _ => None,
            };
            let Some(dtype) = dtype else {
                self.errors.push(Mistake::UnknownValue.at(
                    field.value.span,
                    "unknown type",
                    "not a type",
                    "the types are i64, f64, bool, str, cat",
                ));
                continue;
            };
            let column = &mut schema.columns[position];
            column.dtype = match dtype {
                DType::Cat(_) => DType::Cat(column.sample_levels.to_vec()),
                other => other,
            };
        }
    }

    fn images(&mut self, b: &Bound, span: Span) -> Option<(Schema, ir::Source)> {
        let (dir, dir_span) = self.string_arg(&b.value("dir", self.constants)?, "a folder")?;
        if remote::is_url(&dir) {
            self.errors.push(Mistake::Unsupported.at(
                dir_span,
                "`images` reads a folder on this machine: a URL is not read",
                "a URL",
                "copy the folder here (`aws s3 sync`, `gsutil rsync`, `azcopy sync`) and name the copy",
            ));
            return None;
        }
        let size = match b.value("size", self.constants) {
            Some((Value::List(items), s)) => {
                let dims: Vec<i64> = items.iter().filter_map(|(v, _)| v.as_i64()).filter(|d| *d >= 1).collect();
                let side = limits::MAX_SIDE as i64;
                match dims.as_slice() {
                    [h, w] if items.len() == 2 && (*h > side || *w > side) => {
                        self.errors.push(Mistake::OutOfRange.at(
                            s,
                            format!("an image side is at most {side} pixels"),
                            "too large",
                            "write `size: [224, 224]`: images are resized to this size when read",
                        ));
                        return None;
                    }
                    [h, w] if items.len() == 2 => [*h as usize, *w as usize],
                    _ => {
                        self.errors.push(Mistake::WrongType.at(
                            s,
                            "`size` is `[height, width]` in pixels",
                            "not two sizes",
                            "write `size: [32, 32]`",
                        ));
                        return None;
                    }
                }
            }
            Some((_, s)) => {
                self.errors.push(Mistake::WrongType.at(
                    s,
                    "`size` is `[height, width]` in pixels",
                    "not a list",
                    "write `size: [32, 32]`",
                ));
                return None;
            }
            None => {
                self.errors.push(CheckError::MissingArgument { operation: "images".into(), name: "size".into(), span });
                return None;
            }
        };
        let channels = match b.value("channels", self.constants) {
            None => 3,
            Some((v, s)) => match v.as_i64() {
                Some(c @ (1 | 3)) => c as usize,
                _ => {
                    self.errors.push(Mistake::OutOfRange.at(
                        s,
                        "`channels` is 1 (grey) or 3 (colour)",
                        "not 1 or 3",
                        "write `channels: 1` or `channels: 3`",
                    ));
                    return None;
                }
            },
        };
        if limits::image_values([channels, size[0], size[1]]).is_none() {
            let span = b.expr("size").map_or(span, |e| e.span);
            self.errors.push(Mistake::OutOfRange.at(
                span,
                format!("an image holds at most {} values (channels x height x width)", limits::MAX_IMAGE_VALUES),
                "too large",
                "use smaller images: they are resized to `size:` when read",
            ));
            return None;
        }
        let full_dir = self.path(&dir);
        let classes = match probe::image_classes(&full_dir) {
            Ok(classes) => classes,
            Err(reason) => {
                self.errors.push(CheckError::SourceUnreadable { path: dir, reason, span: dir_span });
                return None;
            }
        };
        let columns = vec![
            Column::new("image", DType::Image([channels, size[0], size[1]]), span),
            Column::new("label", DType::Cat(classes.clone()), span),
        ];
        let skip_bad = match b.value("skip_bad", self.constants) {
            None | Some((Value::Bool(false), _)) => false,
            Some((Value::Bool(true), _)) => true,
            Some((_, s)) => {
                self.errors.push(Mistake::WrongType.at(
                    s,
                    "`skip_bad` is true or false",
                    "not a boolean",
                    "write `skip_bad: true`",
                ));
                return None;
            }
        };
        Some((Schema { columns }, ir::Source::Images { dir: full_dir, size, channels, classes, skip_bad }))
    }
}
