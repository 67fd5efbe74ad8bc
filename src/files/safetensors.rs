//! The safetensors format (what `safetensors.torch.save_file` writes): an
//! 8-byte little-endian header length, a JSON header naming each tensor's
//! dtype, shape and byte range, then the raw little-endian data. Parsed by
//! the format's own crate: the checker reads headers (names and shapes, no
//! data), the runner the values.

use std::io::Read;
use std::path::Path;

/// One tensor of a file: its name, element type and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The state-dict key, as `features.0.weight`.
    pub name: String,
    /// `F32`, `F64`, `F16`, `BF16`, ...
    pub dtype: String,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// Byte range within the data section (the file's order).
    offsets: [usize; 2],
}

/// A file's header: its tensors.
#[derive(Clone, Debug)]
pub struct Header {
    /// The tensors, in file order.
    pub entries: Vec<Entry>,
}

impl Header {
    /// The prefix before a state dict's names in this file (`model.` in
    /// `model.0.weight`), found from the name its first entry should have
    /// (`0.weight`); empty when the names have none.
    pub fn prefix_of(&self, first: &str) -> String {
        self.entries
            .iter()
            .find_map(|e| e.name.strip_suffix(first).filter(|p| p.is_empty() || p.ends_with('.')))
            .unwrap_or_default()
            .to_owned()
    }
}

/// Headers above this size are not a safetensors file (the format itself
/// caps them at 100 MB).
const MAX_HEADER: u64 = 100 << 20;

/// The free-form metadata (`__metadata__`) of a file's header, if it has
/// some (what wrote it, say).
pub fn metadata(path: &Path) -> Result<Option<std::collections::HashMap<String, String>>, String> {
    Ok(parsed_header(path)?.metadata().clone())
}

/// Reads a file's header (and nothing of its data: the checker reads
/// names and shapes of files that may hold gigabytes), parsed by the
/// safetensors crate.
pub fn header(path: &Path) -> Result<Header, String> {
    let metadata = parsed_header(path)?;
    let mut entries: Vec<Entry> = metadata
        .tensors()
        .into_iter()
        .map(|(name, info)| Entry {
            name,
            dtype: format!("{:?}", info.dtype),
            shape: info.shape.clone(),
            offsets: [info.data_offsets.0, info.data_offsets.1],
        })
        .collect();
    entries.sort_by_key(|e| e.offsets[0]);
    Ok(Header { entries })
}

impl Header {
    /// The entry of a name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// A file's header, read alone and parsed by the safetensors crate.
fn parsed_header(path: &Path) -> Result<safetensors::tensor::Metadata, String> {
    super::regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut size = [0u8; 8];
    file.read_exact(&mut size).map_err(|_| "too short to be a safetensors file".to_string())?;
    let size = u64::from_le_bytes(size);
    if size > MAX_HEADER {
        return Err("not a safetensors file (its header would be huge)".into());
    }
    let mut json = vec![0u8; size as usize];
    file.read_exact(&mut json).map_err(|_| "its header is cut short".to_string())?;
    serde_json::from_slice(&json).map_err(|e| format!("its header is not a safetensors header: {e}"))
}

/// The values of the tensors `wanted` names, as f32 (from F32, F64, F16
/// or BF16), with their entries; others (a batch norm's integer
/// `num_batches_tracked`, say) are not converted. The whole file is
/// checked by the safetensors crate (every tensor's bytes in place).
pub fn read_wanted(
    path: &Path,
    header: &Header,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<(Entry, Vec<f32>)>, String> {
    use safetensors::Dtype;
    super::regular_file(path)?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let file =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| format!("not a whole safetensors file: {e}"))?;
    let mut out = Vec::with_capacity(header.entries.len());
    for entry in header.entries.iter().filter(|e| wanted(&e.name)) {
        let view = file.tensor(&entry.name).map_err(|e| format!("tensor `{}`: {e}", entry.name))?;
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F64 => {
                data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32).collect()
            }
            Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => return Err(format!("tensor `{}` is {other:?}; weights are read from float types", entry.name)),
        };
        if view.shape() != entry.shape.as_slice() {
            return Err(format!("tensor `{}` changed shape since the check: {:?}", entry.name, view.shape()));
        }
        out.push((entry.clone(), values));
    }
    Ok(out)
}
