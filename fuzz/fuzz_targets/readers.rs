//! Any bytes as a data file: the first byte picks the reader (CSV probe,
//! Parquet footer, Parquet through Polars, safetensors header, image
//! decoder); none may panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipe::files::probe::{CsvOptions, csv_columns};
use pipe::ir::Source;
use pipe::source::Span;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else { return };
    let path = std::env::temp_dir().join(format!("pipe-fuzz-readers-{}", std::process::id()));
    std::fs::write(&path, bytes).expect("a scratch file");
    match kind % 5 {
        0 => {
            let _ = csv_columns(&path, &CsvOptions { sep: b',', nulls: Vec::new() });
        }
        1 => {
            let _ = pipe::files::parquet::columns(&path);
        }
        2 => {
            let _ = pipe::run::read::read(&Source::Parquet { path: path.clone() }, Span::default());
        }
        3 => {
            let _ = pipe::files::safetensors::header(&path);
        }
        _ => {
            let _ = pipe::run::images::decode(bytes);
        }
    }
});
