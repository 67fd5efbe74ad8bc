//! Remote devices: `pipe device-server` serves flex over Burn Remote's
//! WebSocket transport, and `device: remote("ws://HOST:PORT")` trains on it,
//! alone or in a data-parallel list.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::train::{epoch_losses, iris_on};

/// A `pipe device-server` on a free port of 127.0.0.1, stopped when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
            .args(["device-server", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pipe device-server starts");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // Burn's server logs on: read it to the end.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let address = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("the server says where it listens: {line:?}"))
            .to_string();
        Server { child, address }
    }

    fn device(&self) -> String {
        format!("remote(\"{}\")", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LAYERS: &str = "    dense(16)\n    relu()\n    dense(3)";

/// Two servers on this machine as two devices of one data-parallel run:
/// each epoch's loss equals the same run's on two local flex devices.
#[test]
fn data_parallel_on_two_device_servers_equals_local_devices() {
    let (a, b) = (Server::start(), Server::start());
    let remote = epoch_losses("remote_two", &iris_on(&format!("[{}, {}]", a.device(), b.device()), LAYERS));
    let local = epoch_losses("remote_local", &iris_on("[cpu, cpu]", LAYERS));
    assert_eq!(remote.len(), local.len());
    for (r, l) in remote.iter().zip(&local) {
        assert!((r - l).abs() <= 1e-5 * l.abs(), "epoch loss {r} on the servers vs {l} here");
    }
    // One remote device alone trains as one local device.
    let single = epoch_losses("remote_one", &iris_on(&a.device(), LAYERS));
    let here = epoch_losses("remote_one_local", &iris_on("cpu", LAYERS));
    for (r, l) in single.iter().zip(&here) {
        assert!((r - l).abs() <= 1e-5 * l.abs(), "epoch loss {r} on a server vs {l} here");
    }
}

/// A server that is not there stops the run before training, with the
/// device named.
#[test]
fn an_unreachable_server_is_a_run_error() {
    // A port nothing listens on: bound, read, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = crate::run::scratch("remote_unreachable");
    let text = iris_on(&format!("remote(\"ws://127.0.0.1:{port}\")"), LAYERS);
    let errors = crate::train::run_events(&dir, &text, false, &mut |_| {});
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(&format!("cannot reach `remote(\"ws://127.0.0.1:{port}\")`")), "{errors:?}");
}

/// A server killed mid-training stops the run with
/// `pipe::run::unreachable_device` (no panic, no internal error), its
/// checkpoints kept; with the server back, `--resume` finishes the run.
#[test]
fn a_server_killed_mid_training_leaves_a_resumable_run() {
    let server = Server::start();
    let dir = crate::run::scratch("remote_killed");
    let text = iris_on(&server.device(), LAYERS)
        .replace("epochs: 6", "epochs: 300\n    checkpoint: checkpoint(every: 1, keep: 2)");
    std::fs::write(dir.join("main.pipe"), &text).unwrap();
    let pipe = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipe"));
        command.arg("run").args(args).arg(dir.join("main.pipe")).env("NO_COLOR", "1");
        command
    };
    let mut run = pipe(&["--no-cache"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(run.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(lines.by_ref().any(|l| l.contains(" 3/300")), "training started");
    let address = server.address.clone();
    drop(server);
    let rest: Vec<String> = lines.collect();
    let status = run.wait().unwrap();
    let err = rest.join("\n");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("pipe::run::unreachable_device") && err.contains("went away during training"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    // The same port again.
    let port = address.rsplit(':').next().unwrap();
    let mut back = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["device-server", "--port", port])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(back.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let output = pipe(&["--no-cache", "--resume"]).output().unwrap();
    let _ = back.kill();
    let _ = back.wait();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("resuming from") && !err.contains(" 1/300"), "{err}");
    assert!(err.contains("epoch 300/300"), "{err}");
}

/// Burn Remote waits forever on a server that accepts connections and
/// never answers: something listening that is no device server stops the
/// run when it connects, and a server frozen mid-training (SIGSTOP: its
/// kernel still accepts and acknowledges) stops it once no step has
/// finished for `PIPE_REMOTE_TIMEOUT` seconds, with
/// `pipe::run::unreachable_device` and its checkpoints kept.
#[cfg(unix)]
#[test]
fn a_server_that_stops_answering_stops_the_run() {
    let run_with_timeout = |dir: &std::path::Path, text: &str| {
        std::fs::write(dir.join("main.pipe"), text).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipe"));
        command.args(["run", "--no-cache"]).arg(dir.join("main.pipe")).env("NO_COLOR", "1");
        command.env("PIPE_REMOTE_TIMEOUT", "3").env("COLUMNS", "400").stderr(Stdio::piped());
        command
    };
    // A timeout that is no number of seconds is refused, not ignored.
    let dir = crate::run::scratch("remote_timeout_typo");
    let mut typo = run_with_timeout(&dir, &iris_on("cpu", LAYERS));
    let output = typo.env("PIPE_REMOTE_TIMEOUT", "30s").output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("PIPE_REMOTE_TIMEOUT=30s: write whole seconds"), "{err}");
    let watched = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .arg("watch")
        .arg(dir.join("main.pipe"))
        .env("PIPE_REMOTE_TIMEOUT", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&watched.stderr);
    assert_eq!(watched.status.code(), Some(1), "{err}");
    assert!(err.contains("PIPE_REMOTE_TIMEOUT=0: write whole seconds"), "{err}");
    // A listener that accepts (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = crate::run::scratch("remote_silent");
    let started = std::time::Instant::now();
    let output =
        run_with_timeout(&dir, &iris_on(&format!("remote(\"ws://127.0.0.1:{port}\")"), LAYERS)).output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("pipe::run::unreachable_device") && err.contains("gave no answer within 3 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{err}");
    drop(silent);

    let server = Server::start();
    let dir = crate::run::scratch("remote_frozen");
    let text = iris_on(&server.device(), LAYERS)
        .replace("epochs: 6", "epochs: 300\n    checkpoint: checkpoint(every: 1, keep: 2)");
    let mut run = run_with_timeout(&dir, &text).spawn().unwrap();
    let mut lines = BufReader::new(run.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(lines.by_ref().any(|l| l.contains(" 3/300")), "training started");
    let signal = |name: &str| Command::new("kill").args([name, &server.child.id().to_string()]).status().unwrap();
    assert!(signal("-STOP").success());
    let rest: Vec<String> = lines.collect();
    let status = run.wait().unwrap();
    assert!(signal("-CONT").success());
    let err = rest.join("\n");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("pipe::run::unreachable_device") && err.contains("no step finished for 3 s"), "{err}");
    assert!(err.contains("`pipe run --resume` then continues from the last checkpoint"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs/species")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(runs.iter().any(|r| r.join("checkpoints").is_dir()), "the checkpoints stay");
}

/// `pipe device-server` serves flex only: Burn 0.22 cannot serve libtorch.
#[test]
fn a_libtorch_device_cannot_be_served() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_pipe")).args(["device-server", "--device", "torch.cuda"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("pipe::cli::usage") && err.contains("runs flex only"), "{err}");
}

/// A network trained on a server comes home: with the server gone, `pipe
/// predict` on its run folder works.
#[test]
fn a_run_trained_on_a_server_predicts_without_it() {
    let server = Server::start();
    let dir = crate::run::scratch("remote_predict");
    std::fs::write(dir.join("main.pipe"), iris_on(&server.device(), LAYERS)).unwrap();
    let pipe = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipe"));
        command.env("NO_COLOR", "1");
        command
    };
    let output = pipe().arg("run").arg(dir.join("main.pipe")).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    drop(server);
    let run = std::fs::read_dir(dir.join("runs/species")).unwrap().next().unwrap().unwrap().path();
    let iris = crate::run::repo().join("data/iris.csv");
    let out = dir.join("predicted.csv");
    let output = pipe().arg("predict").arg(&run).arg(&iris).arg("-o").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let predicted = std::fs::read_to_string(&out).unwrap();
    assert_eq!(predicted.lines().count(), 151, "a header and a row per flower");
    let right = predicted.lines().skip(1).filter(|l| l.split(',').nth(4) == l.split(',').nth(5)).count();
    assert!(right > 120, "{right} of 150 right");
}
