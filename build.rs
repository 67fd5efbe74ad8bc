//! With the `tch` feature: link against the libtorch of the Python `torch`
//! package found on PATH (see `LIBTORCH_USE_PYTORCH`), record its library
//! folder in the binaries (rpath), so `pipe` starts without
//! `LD_LIBRARY_PATH`, and compile src/train/gpu_memory.cpp (libtorch's CUDA
//! allocator, which tch does not expose) against its headers. Without the
//! feature this only links `pipe` position-dependent.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A position-dependent `pipe` binary: its ~130,000 relative relocations
    // are resolved by the linker instead of by the loader at every start
    // (`pipe check` started in 5.3 ms of CPU, most of it relocating).
    println!("cargo:rustc-link-arg-bins=-no-pie");
    // Set below when src/train/gpu_memory.cpp reaches the CUDA allocator.
    println!("cargo:rustc-check-cfg=cfg(pipe_cuda_allocator)");
    #[cfg(feature = "tch")]
    torch::link();
}

/// Linking libtorch, and compiling the C++ that reaches past tch.
#[cfg(feature = "tch")]
mod torch {
    /// Links the Python `torch` package's libtorch (rpath) and compiles
    /// src/train/gpu_memory.cpp against it.
    pub fn link() {
        // Another torch (a venv, CUDA's headers) is another build.
        for variable in ["VIRTUAL_ENV", "PATH", "CUDA_HOME", "LIBTORCH_USE_PYTORCH"] {
            println!("cargo:rerun-if-env-changed={variable}");
        }
        let python =
            std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or_else(|_| "python3".into());
        match std::process::Command::new(&python).args(["-c", TORCH_PATHS]).output() {
            Ok(out) if out.status.success() => {
                let torch = Torch::parse(&String::from_utf8_lossy(&out.stdout));
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", torch.lib);
                println!("cargo:rerun-if-changed={}/../version.py", torch.lib);
                compile_gpu_memory(&torch);
            }
            _ => println!("cargo:warning=no Python torch found; run pipe with LD_LIBRARY_PATH set to torch/lib"),
        }
    }

    /// Where the Python `torch` package keeps libtorch, one `key=value` a line:
    /// its library and include folders, its C++ ABI, and (for a CUDA build,
    /// whose libc10_cuda is there) the folders of CUDA's runtime headers: from
    /// CUDA_HOME, /usr/local/cuda, or the PyPI packages beside torch (the
    /// runtime's and nvcc's, which holds the `crt/` headers the runtime's include).
    const TORCH_PATHS: &str = r#"
import glob, os, torch
root = os.path.dirname(torch.__file__)
lib = os.path.join(root, "lib")
print("lib=" + lib)
print("include=" + os.path.join(root, "include"))
print("abi=" + str(int(torch._C._GLIBCXX_USE_CXX11_ABI)))
if os.path.exists(os.path.join(lib, "libc10_cuda.so")):
    site = os.path.dirname(root)
    roots = [os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]
    found = {}
    for header in ["cuda_runtime_api.h", "crt/host_defines.h"]:
        places = [os.path.join(r, "include") for r in roots if r]
        pattern = os.path.join(site, "nvidia", "**", "include", header)
        places += sorted(p[: -len(header)].rstrip("/") for p in glob.glob(pattern, recursive=True))
        for place in places:
            if os.path.exists(os.path.join(place, header)):
                found[header] = place
                break
    if len(found) == 2:
        print("cuda_include=" + found["cuda_runtime_api.h"])
        print("cuda_include=" + found["crt/host_defines.h"])
"#;

    /// The libtorch of the Python `torch` package, as [`TORCH_PATHS`] prints it.
    struct Torch {
        lib: String,
        include: String,
        abi: String,
        /// Empty unless it is a CUDA build and CUDA's runtime headers were found.
        cuda_include: Vec<String>,
    }

    impl Torch {
        fn parse(printed: &str) -> Torch {
            let mut torch =
                Torch { lib: String::new(), include: String::new(), abi: "1".into(), cuda_include: Vec::new() };
            for (key, value) in printed.lines().filter_map(|l| l.split_once('=')) {
                match key {
                    "lib" => torch.lib = value.into(),
                    "include" => torch.include = value.into(),
                    "abi" => torch.abi = value.into(),
                    "cuda_include" => torch.cuda_include.push(value.into()),
                    _ => {}
                }
            }
            torch
        }
    }

    /// src/train/gpu_memory.cpp: the CUDA caching allocator's settings and
    /// statistics, which tch does not expose. Its memory fraction needs CUDA's
    /// runtime headers; without them it is compiled out, and says so when asked.
    fn compile_gpu_memory(torch: &Torch) {
        println!("cargo:rerun-if-changed=src/train/gpu_memory.cpp");
        println!("cargo:rerun-if-changed=src/train/torch_grad.cpp");
        let cuda = !torch.cuda_include.is_empty();
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .pic(true)
            .warnings(false)
            .std("c++17")
            .include(&torch.include)
            .include(format!("{}/torch/csrc/api/include", torch.include))
            .includes(&torch.cuda_include)
            .define("_GLIBCXX_USE_CXX11_ABI", torch.abi.as_str())
            .define("PIPE_CUDA_ALLOCATOR", if cuda { "1" } else { "0" })
            // As libtorch's CUDA wheels for Linux build c10_cuda: without it
            // the inline CUDAAllocatorConfig::expandable_segments() reads false.
            .define("PYTORCH_C10_DRIVER_API_SUPPORTED", None)
            .file("src/train/gpu_memory.cpp")
            .file("src/train/torch_grad.cpp");
        build.compile("pipe_gpu_memory");
        println!("cargo:rustc-link-search=native={}", torch.lib);
        println!("cargo:rustc-link-lib=dylib=c10");
        // torch_grad.cpp's autograd (torch-sys links it too; said here for
        // what this crate's C++ calls).
        println!("cargo:rustc-link-lib=dylib=torch_cpu");
        if cuda {
            println!("cargo:rustc-link-lib=dylib=c10_cuda");
            println!("cargo:rustc-cfg=pipe_cuda_allocator");
        } else if std::path::Path::new(&torch.lib).join("libc10_cuda.so").exists() {
            println!(
                "cargo:warning=CUDA's runtime headers were not found (CUDA_HOME, /usr/local/cuda, or PyPI's nvidia-cuda-runtime and nvidia-cuda-nvcc): the checker will refuse `gpu_memory:`"
            );
        }
    }
}
