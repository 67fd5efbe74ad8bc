//! With the `tch` feature: link against the libtorch of the Python `torch`
//! package found on PATH (see `LIBTORCH_USE_PYTORCH`), and record its
//! library folder in the binaries (rpath), so `pipe` starts without
//! `LD_LIBRARY_PATH`. Without the feature this does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A position-dependent `pipe` binary: its ~130,000 relative relocations
    // are resolved by the linker instead of by the loader at every start
    // (`pipe check` started in 5.3 ms of CPU, most of it relocating).
    println!("cargo:rustc-link-arg-bins=-no-pie");
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    let python = std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or_else(|_| "python3".into());
    let script = "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))";
    match std::process::Command::new(&python).args(["-c", script]).output() {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        _ => println!("cargo:warning=no Python torch found; run pipe with LD_LIBRARY_PATH set to torch/lib"),
    }
}
