//! `pipe`: a declarative, checked language for machine-learning pipelines.
//!
//! ```text
//! .pipe text ─ syntax ─> AST (owned, spans) ─ check ─> typed IR ─ plan ─> stage DAG ─ exec ─> Polars / Burn
//!                                   │                                 │
//!                             diagnostics                      content-addressed cache
//! ```
//!
//! What is built so far: [`syntax`] (the pest grammar in `grammar/pipe.pest`,
//! lowered to an owned [`syntax::ast`] with spans, and syntax errors with
//! stable codes), [`check`] (names, imports, schemas of every data item,
//! model shapes and training settings, with check errors), [`ir`] (the
//! typed program the executors will run), [`format`] (the canonical
//! formatter behind `pipe fmt`), [`diagnostic`] (printing for people and
//! for tools) and [`cli`].
//!
//! Boundaries: `syntax`, `check` and `format` never touch Polars or Burn,
//! so checking is instant and testable without the data and training
//! engines; [`backend`] is the one place that reads the cargo features.

#![warn(missing_docs)]

pub mod backend;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod files;
pub mod format;
pub mod ir;
pub mod lsp;
pub mod random;
pub mod run;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod syntax;
pub mod train;
