//! `gpu_memory:`: libtorch's CUDA caching allocator, set from a `.pipe`
//! file. What a machine without a GPU can show: the checker's rules (also
//! in tests/ui/check), the lowering, `--device` leaving the setting out
//! with a note, and that the calls reach libtorch's allocator (expandable
//! segments read back from libtorch) and fail as messages, not crashes,
//! where there is no GPU. The limit's effect and the peak memory in the
//! epoch log are checked on a GPU by bench/gpu.sh.

/// A run on `torch.cuda` with `gpu_memory: setting`, on a small CSV in `dir`.
fn file_with(dir: &std::path::Path, setting: &str) -> String {
    std::fs::write(dir.join("d.csv"), "x,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n").expect("write data");
    format!(
        "import std.models {{ linear }}\nsource d = csv(\"d.csv\")\n\
         train t = linear(out: 2) on d {{\n    target: y\n    epochs: 2\n    device: torch.cuda\n    gpu_memory: {setting}\n}}\n"
    )
}

/// What `pipe check` says of `text` as `dir/main.pipe`, one message each.
fn check_errors(dir: &std::path::Path, text: &str) -> Vec<String> {
    let mut sources = pipe::source::SourceMap::new();
    let id = sources.add(dir.join("main.pipe").display().to_string(), text);
    let parsed = pipe::syntax::parse(text, id);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(dir));
    report.errors.iter().map(|e| format!("{e}")).collect()
}

/// The settings the run `t` was lowered to.
#[cfg(feature = "tch")]
fn lowered(dir: &std::path::Path, setting: &str) -> Option<pipe::ir::GpuMemory> {
    let program = crate::run::checked(dir, &file_with(dir, setting));
    let train = program.items.iter().flatten().find_map(|item| match &item.kind {
        pipe::ir::ItemKind::Train(train) => Some(train.settings.gpu_memory),
        _ => None,
    });
    train.expect("a training run")
}

#[cfg(feature = "tch")]
#[test]
fn gpu_memory_on_torch_cuda_is_lowered_as_written() {
    use pipe::ir::GpuMemory;
    let dir = crate::run::scratch("gpu_memory_lowered");
    assert_eq!(lowered(&dir, "growth"), Some(GpuMemory { growth: true, limit: None }));
    assert_eq!(lowered(&dir, "limit(0.25)"), Some(GpuMemory { growth: false, limit: Some(0.25) }));
    assert_eq!(lowered(&dir, "[limit(1), growth]"), Some(GpuMemory { growth: true, limit: Some(1.0) }));
}

/// On a machine without a GPU the file is still checked as written (a
/// build without libtorch refuses `torch.cuda` itself).
#[test]
fn gpu_memory_off_torch_cuda_is_refused_with_its_span() {
    let dir = crate::run::scratch("gpu_memory_refused");
    let text = file_with(&dir, "growth").replace("device: torch.cuda", "device: cpu");
    let errors = check_errors(&dir, &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`gpu_memory` sets libtorch's CUDA allocator, which flex"), "{errors:?}");
}

/// `cudnn_benchmark:` on libtorch's CPU device is refused as on flex:
/// cuDNN is CUDA's, so it would parse and do nothing there.
#[cfg(feature = "tch")]
#[test]
fn cudnn_benchmark_on_torch_cpu_is_refused() {
    let dir = crate::run::scratch("cudnn_torch_cpu");
    let text = file_with(&dir, "growth")
        .replace("device: torch.cuda", "device: torch.cpu")
        .replace("    gpu_memory: growth\n", "    cudnn_benchmark: true\n");
    let errors = check_errors(&dir, &text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let said = "`cudnn_benchmark` turns on cuDNN's autotuning, which libtorch's CPU device (`torch.cpu`) does not use";
    assert!(errors[0].contains(said), "{errors:?}");
}

/// `pipe run --device torch.cpu` (and `cpu`) trains a file written for a
/// GPU without its `gpu_memory:` and `cudnn_benchmark:`, and says so.
#[cfg(feature = "tch")]
#[test]
fn a_device_override_leaves_gpu_memory_out_with_a_note() {
    let dir = crate::run::scratch("gpu_memory_override");
    let text = file_with(&dir, "[growth, limit(0.5)]")
        .replace("    epochs: 2\n", "    epochs: 2\n    cudnn_benchmark: true\n");
    let file = dir.join("main.pipe");
    std::fs::write(&file, text).expect("write");
    for device in ["torch.cpu", "cpu"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipe"))
            .args(["run", "--no-cache", "--device", device, file.to_str().expect("UTF-8 path")])
            .output()
            .expect("pipe runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let note = format!(
            "--device {device}: `gpu_memory` is a setting of `torch.cuda` devices, so this run goes without it"
        );
        assert!(stderr.contains(&note), "{stderr}");
        assert!(stderr.contains("epoch 2/2"), "{stderr}");
        let cudnn = format!(
            "--device {device}: `cudnn_benchmark` is a setting of `torch.cuda` devices, so this run goes without it"
        );
        assert!(stderr.contains(&cudnn), "{stderr}");
    }
}

/// `growth` reaches libtorch's CUDA allocator: the configuration it reads
/// when it reserves memory reads back on and off. (In torch 2.9 that is
/// apart from c10's device-generic settings: setting those leaves it off.)
#[cfg(feature = "tch")]
#[test]
fn growth_sets_libtorchs_expandable_segments() {
    use pipe::train::gpu_memory::{expandable_segments, set_expandable_segments};
    // Only this test changes the setting: training runs without CUDA cards
    // leave the allocator alone.
    set_expandable_segments(true).expect("libtorch takes the setting");
    assert_eq!(expandable_segments(), Ok(true));
    set_expandable_segments(false).expect("libtorch takes the setting");
    assert_eq!(expandable_segments(), Ok(false));
}

/// Without a GPU, a limit and the peak statistics come back as libtorch's
/// message and as nothing, not as a crash; a run without CUDA cards
/// touches nothing.
#[cfg(feature = "tch")]
#[test]
fn without_a_gpu_the_allocator_calls_fail_as_messages() {
    use pipe::train::gpu_memory::{apply, limit, peak};
    if pipe::backend::cuda_devices() > 0 {
        eprintln!("skipped: this machine has a CUDA GPU (bench/gpu.sh checks the limit there)");
        return;
    }
    let error = limit(0, 0.5).expect_err("no GPU to limit");
    assert!(!error.is_empty());
    assert_eq!(peak(&[0]), None);
    assert_eq!(peak(&[]), None);
    let setting = pipe::ir::GpuMemory { growth: true, limit: Some(0.5) };
    assert_eq!(apply(Some(setting), &[]), Ok(None));
}
