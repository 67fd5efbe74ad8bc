//! `pipe device-server [--host H] [--port N] [--device cpu]`: serves this
//! machine's flex device to other `pipe` processes over Burn Remote's
//! WebSocket transport, for `device: remote("ws://H:N")` (alone, or in a
//! data-parallel list). Blocks until Ctrl-C or SIGTERM.
//!
//! Only flex can be served: Burn 0.22's server runs a backend through its
//! IR (`BackendIr`), which burn-tch does not implement, and
//! burn-dispatch answers a libtorch device with "LibTorch cannot run remote
//! sessions" (`burn-dispatch-0.22.1/src/remote_server.rs`).

use super::{CliError, Reporter};
use crate::ir::DeviceKind;
use crate::source::SourceFile;

/// Serves the device named `device` on `host:port` (port 0: a free one);
/// false (reported) when it cannot.
pub fn device_server(host: &str, port: u16, device: &str, reporter: &mut Reporter) -> bool {
    let no_file = SourceFile { name: String::new(), text: "".into() };
    let usage = |message: String| CliError::Usage { message };
    match DeviceKind::from_name(device) {
        Some(DeviceKind::Cpu) => {}
        Some(DeviceKind::TorchCpu | DeviceKind::TorchCuda) => {
            let message = format!(
                "`{device}` cannot be served: Burn 0.22's remote server runs flex only (libtorch has no remote sessions); serve `cpu`"
            );
            reporter.report(&usage(message), &no_file);
            return false;
        }
        Some(DeviceKind::Cuda | DeviceKind::Remote) => {
            reporter.report(&usage(format!("`{device}` cannot be served: `--device cpu` (flex) can")), &no_file);
            return false;
        }
        None => {
            reporter.report(&usage(format!("unknown device `{device}`: `--device cpu` (flex) is served")), &no_file);
            return false;
        }
    }
    match serve(host, port) {
        Ok(()) => true,
        Err(message) => {
            reporter.report(&usage(message), &no_file);
            false
        }
    }
}

/// Binds `host:port`, says where it listens, and serves flex until a
/// signal ends it.
#[cfg(feature = "remote")]
fn serve(host: &str, port: u16) -> Result<(), String> {
    use burn::server::{RemoteServer, WebSocketTransport};
    let listener =
        std::net::TcpListener::bind((host, port)).map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    // The line a client (or a test) waits for.
    println!("serving flex on ws://{bound} (Ctrl-C stops)");
    quiet_logs();
    RemoteServer::new([burn::tensor::Device::flex()])
        .serve(WebSocketTransport::from_listener(listener))
        .map_err(|e| format!("the device server stopped: {e}"))
}

/// Burn's server logs every tensor transfer at INFO on stdout unless a
/// log subscriber is installed first: this one says warnings and errors on
/// stderr (`RUST_LOG` chooses otherwise, as for Burn's own).
#[cfg(feature = "remote")]
fn quiet_logs() {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(colour).with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Without the `remote` feature there is nothing to serve with.
#[cfg(not(feature = "remote"))]
fn serve(_host: &str, _port: u16) -> Result<(), String> {
    Err("this build of pipe has no remote devices: build it with `--features remote` (see the README)".into())
}
