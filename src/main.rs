//! The `pipe` command; everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    pipe::cli::main()
}
