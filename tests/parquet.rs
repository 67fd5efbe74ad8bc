//! The checker's Parquet footer reader against files Polars writes: the
//! schema it reads must be the one Polars wrote.

use pipe::files::parquet;
use pipe::schema::DType;
use polars::prelude::*;

#[test]
fn footer_schema_matches_what_polars_wrote() {
    let mut frame = df!(
        "flag" => [true, false, true],
        "small" => [1i32, 2, 3],
        "count" => [10i64, 20, 30],
        "ratio" => [0.5f32, 1.5, 2.5],
        "income" => [1.0f64, 2.0, 3.0],
        "city" => ["a", "b", "c"],
    )
    .expect("frame");
    let dir = std::env::temp_dir().join(format!("pipe-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("t.parquet");
    let file = std::fs::File::create(&path).expect("file");
    ParquetWriter::new(file).finish(&mut frame).expect("write parquet");

    let columns = parquet::columns(&path).expect("readable footer");
    let expected = vec![
        ("flag".to_owned(), DType::Bool),
        ("small".to_owned(), DType::I64),
        ("count".to_owned(), DType::I64),
        ("ratio".to_owned(), DType::F64),
        ("income".to_owned(), DType::F64),
        ("city".to_owned(), DType::Str),
    ];
    assert_eq!(columns, expected);
}

#[test]
fn a_file_that_is_not_parquet_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("pipe-not-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, bytes) in
        [("empty", &b""[..]), ("text", b"age,income\n1,2\n"), ("fake", b"xxxxxxxx\xff\xff\xff\x7fPAR1")]
    {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        assert!(parquet::columns(&path).is_err(), "{name} should be refused");
    }
}

/// A footer nested far deeper than any real one is refused, not a crash.
#[test]
fn deeply_nested_footer_is_refused() {
    // FileMetaData { 1: struct { 1: struct { ... } } }, 100,000 levels.
    let mut footer = vec![0x1cu8; 100_000];
    footer.extend(std::iter::repeat_n(0u8, 100_000));
    let mut bytes = b"PAR1".to_vec();
    bytes.extend(&footer);
    bytes.extend((footer.len() as u32).to_le_bytes());
    bytes.extend(b"PAR1");
    let path = std::env::temp_dir().join(format!("pipe-deep-footer-{}", std::process::id()));
    std::fs::write(&path, bytes).expect("write");
    assert!(parquet::columns(&path).is_err());
}

/// `write(path, compression: codec)` writes its pages with that codec,
/// held and streamed, as pyarrow reads the file: the codec in each column
/// chunk, and the rows of the CSV it came from.
#[test]
fn write_compresses_with_the_codec_it_names_as_pyarrow_reads_it() {
    let Some(python) = crate::run::provided("PIPE_TEST_PYTHON") else { return };
    let dir = crate::run::scratch("codecs");
    std::fs::copy(crate::run::repo().join("data/iris.csv"), dir.join("iris.csv")).unwrap();
    let codecs = pipe::ir::Codec::ALL.map(|(name, _)| name);
    let mut text =
        String::from("source iris = csv(\"iris.csv\")\noutput default = iris |> write(\"out/default.parquet\")\n");
    for name in codecs {
        text.push_str(&format!("output {name} = iris |> write(\"out/{name}.parquet\", compression: {name})\n"));
    }
    // Streamed, the steps run inside Polars' sink (`standard`) or see the
    // batches in order through pipe's own writer (`sample`).
    text.push_str(
        "output applied = iris |> standard(petal_length_cm) |> write(\"out/applied.parquet\", compression: gzip)\n",
    );
    text.push_str(
        "output ordered = iris |> sample(frac: 0.5, seed: 1) |> write(\"out/ordered.parquet\", compression: brotli)\n",
    );
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let read = r#"
import json, sys, pyarrow.csv, pyarrow.parquet as pq
rows = pyarrow.csv.read_csv("iris.csv").to_pylist()
said = {}
for name in sys.argv[1:]:
    f = pq.ParquetFile(f"out/{name}.parquet")
    codecs = {f.metadata.row_group(g).column(c).compression for g in range(f.metadata.num_row_groups) for c in range(f.metadata.num_columns)}
    table = f.read()
    said[name] = [sorted(codecs), table.to_pylist() == rows if name in sys.argv[1:-2] else table.num_rows]
print(json.dumps(said))
"#;
    // Pyarrow names LZ4_RAW pages `LZ4`.
    let expected = r#"{"default": [["ZSTD"], true], "uncompressed": [["UNCOMPRESSED"], true], "snappy": [["SNAPPY"], true], "lz4": [["LZ4"], true], "zstd": [["ZSTD"], true], "gzip": [["GZIP"], true], "brotli": [["BROTLI"], true], "applied": [["GZIP"], 150], "ordered": [["BROTLI"], 75]}"#;
    for how in [&["run", "main.pipe", "--no-cache"][..], &["run", "main.pipe", "--no-cache", "--memory", "1KB"]] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_pipe")).current_dir(&dir).args(how).output().unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let said = std::process::Command::new(&python)
            .current_dir(&dir)
            .args(["-c", read, "default"])
            .args(codecs)
            .args(["applied", "ordered"])
            .output()
            .unwrap();
        assert!(said.status.success(), "{}", String::from_utf8_lossy(&said.stderr));
        assert_eq!(String::from_utf8_lossy(&said.stdout).trim(), expected, "{how:?}");
    }
}
