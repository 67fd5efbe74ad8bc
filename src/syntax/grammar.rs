//! The pest parser generated from `grammar/pipe.pest`. Its pairs never leave
//! the `syntax` module: `lower` turns them into the AST.
#![allow(missing_docs)]

/// The parser for `grammar/pipe.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/pipe.pest"]
pub struct PipeParser;
