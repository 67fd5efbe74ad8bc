//! Errors of the command line itself: files that cannot be read or written.

use miette::Diagnostic;
use thiserror::Error;

/// A file-system problem met by a command.
#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    /// `pipe check missing.pipe`
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(pipe::io::read), help("check the path; it is relative to the current directory"))]
    Read {
        /// The path as given.
        path: String,
        /// The system's reason.
        reason: String,
    },

    /// `pipe fmt` on a read-only file or directory.
    #[error("cannot write `{path}`: {reason}")]
    #[diagnostic(code(pipe::io::write), help("the file was left as it was"))]
    Write {
        /// The path as given.
        path: String,
        /// The system's reason.
        reason: String,
    },

    /// `pipe lsp` lost its connection (the editor closed it mid-message,
    /// or something other than an editor wrote to it).
    #[error("the language server's connection failed: {reason}")]
    #[diagnostic(
        code(pipe::lsp::connection),
        help("start `pipe lsp` from an editor, which speaks the language server protocol on its stdin and stdout")
    )]
    Connection {
        /// What went wrong.
        reason: String,
    },

    /// `pipe cache clean` while a `pipe run` holds the cache folder.
    #[error("a run is using the cache `{path}`: it was left as it was")]
    #[diagnostic(
        code(pipe::cli::cache_busy),
        help("clean it when that `pipe run` (or `pipe watch`) has finished, or stop it first")
    )]
    CacheBusy {
        /// The cache folder.
        path: String,
    },

    /// A command-line value that cannot be used (`--device gpu`).
    #[error("{message}")]
    #[diagnostic(code(pipe::cli::usage))]
    Usage {
        /// What is wrong.
        message: String,
    },

    /// The formatter produced text that parses to a different program (a bug
    /// in `pipe fmt`); the file is left untouched.
    #[error("`pipe fmt` would change the meaning of `{path}`; the file was left as it was")]
    #[diagnostic(code(pipe::fmt::unstable), help("this is a bug in `pipe fmt`: please report it with the file"))]
    FormatChangedMeaning {
        /// The file being formatted.
        path: String,
    },
}
