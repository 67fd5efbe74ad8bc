//! The integration test binary: one binary, one module per area.

mod cli;
mod contract;
mod corpus;
mod disk;
mod docs;
mod editors;
mod encode;
mod examples;
mod format;
mod generated;
mod images;
mod integrity;
mod ir;
mod layers;
mod lsp;
mod parquet;
mod robustness;
mod roundtrip;
mod run;
mod sources;
mod stores;
mod stream;
mod train;
mod ui;
mod watch;
mod weights;
