//! The editor's side of the connection: LSP frames (`Content-Length`
//! headers, then a JSON body) read from stdin and written to stdout. A
//! frame whose body is not UTF-8, not JSON or not a message is reported on
//! stderr and skipped (a request among them is answered with an error when
//! its id can be read), so one bad message never ends the session; only a
//! broken frame (no length, or the stream ending inside one) does.

use std::io::{BufRead, Write};

use lsp_server::{Connection, ErrorCode, Message, RequestId, Response};

/// The largest body accepted (a 5 MB document, escaped, fits many times).
const MAX_BODY: usize = 256 << 20;

/// A connection over stdin/stdout, and the thread writing to stdout (it
/// ends once the server's side is dropped).
pub fn stdio() -> (Connection, std::thread::JoinHandle<()>) {
    let (server, client) = Connection::memory();
    let Connection { sender: to_server, receiver: from_server } = client;
    // Answers to requests that cannot be read go out as the server's do.
    let replies = server.sender.clone();
    std::thread::Builder::new()
        .name("pipe-lsp-reader".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            while let Some(body) = read_frame(&mut input) {
                match message(&body) {
                    Ok(message) => {
                        let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                        if to_server.send(message).is_err() || exit {
                            return;
                        }
                    }
                    Err((id, reason)) => {
                        eprintln!("pipe lsp: skipped a message: {reason}");
                        if let Some(id) = id {
                            let error = Response::new_err(id, ErrorCode::InvalidRequest as i32, reason);
                            let _ = replies.send(Message::Response(error));
                        }
                    }
                }
            }
        })
        .expect("a thread for the reader");
    let writer = std::thread::Builder::new()
        .name("pipe-lsp-writer".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for message in from_server.iter() {
                if message.write(&mut out).and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
        })
        .expect("a thread for the writer");
    (server, writer)
}

/// The body of the next frame, `None` when the stream ends or a frame is
/// broken (nothing after it can be trusted to start a frame).
fn read_frame(input: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = None;
    loop {
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.filter(|n| *n <= MAX_BODY)?;
    let mut body = vec![0; length];
    input.read_exact(&mut body).ok()?;
    Some(body)
}

/// The message a body holds, or why it holds none (and the id of the
/// request it was, when that can be read).
fn message(body: &[u8]) -> Result<Message, (Option<RequestId>, String)> {
    let text = std::str::from_utf8(body).map_err(|e| (None, format!("the body is not UTF-8 ({e})")))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (None, format!("the body is not JSON ({e})")))?;
    if !value.is_object() {
        return Err((None, "not an LSP message (not a JSON object)".into()));
    }
    let id = value.get("id").and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok());
    let has_method = value.get("method").is_some();
    match serde_json::from_value(value) {
        // A request whose method is not a string reads as a response.
        Ok(Message::Response(_)) if has_method => Err((id, "not an LSP message (its method is not a string)".into())),
        Ok(message) => Ok(message),
        Err(e) => Err((id, format!("not an LSP message ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_whole_and_bad_bodies_are_told_apart() {
        let stream = b"Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n\xff\xfe\xfd";
        let mut input = &stream[..];
        let first = read_frame(&mut input).expect("a frame");
        assert!(message(&first).unwrap_err().1.contains("not an LSP message"));
        let second = read_frame(&mut input).expect("a frame");
        assert!(message(&second).unwrap_err().1.contains("not UTF-8"));
        assert!(read_frame(&mut input).is_none(), "the stream ended");
        let request = br#"{"jsonrpc":"2.0","id":7,"method":5}"#;
        assert_eq!(message(request).unwrap_err().0, Some(RequestId::from(7)));
        assert!(message(b"[1, 2]").is_err());
        let broken = b"Content-Length: 10\r\n\r\n{}";
        assert!(read_frame(&mut &broken[..]).is_none(), "a body cut short ends the stream");
    }
}
