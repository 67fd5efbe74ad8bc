//! `file://` URIs to and from paths (percent-encoding by hand: the only
//! kind of URI a `.pipe` document has on disk).

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The path of a `file://` URI (`None` for other schemes, such as an
/// editor's unsaved `untitled:` buffers).
pub fn to_path(uri: &lsp_types::Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file://host/path`: only the local host is meaningful.
    let path = if rest.starts_with('/') { rest } else { &rest[rest.find('/')?..] };
    Some(PathBuf::from(decode(path)?))
}

/// The `file://` URI of an absolute path.
pub fn from_path(path: &Path) -> Option<lsp_types::Uri> {
    let mut encoded = String::from("file://");
    for byte in path.to_str()?.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    lsp_types::Uri::from_str(&encoded).ok()
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_uris() {
        let path = Path::new("/tmp/my data/ü.pipe");
        let uri = from_path(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20data/%C3%BC.pipe");
        assert_eq!(to_path(&uri).unwrap(), path);
        assert!(to_path(&lsp_types::Uri::from_str("untitled:Untitled-1").unwrap()).is_none());
    }
}
