//! The integration test binary: one binary, one module per area.

mod cli;
mod editors;
mod examples;
mod format;
mod images;
mod ir;
mod lsp;
mod parquet;
mod robustness;
mod roundtrip;
mod run;
mod train;
mod ui;
mod watch;
