//! The safetensors format (what `safetensors.torch.save_file` writes): an
//! 8-byte little-endian header length, a JSON header naming each tensor's
//! dtype, shape and byte range, then the raw little-endian data. Read by
//! hand: the checker reads headers (names and shapes, no data), the runner
//! the values.

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
    /// Byte range within the data section.
    offsets: [usize; 2],
}

/// A file's header: its tensors, and where their data starts.
#[derive(Clone, Debug)]
pub struct Header {
    /// The tensors, in file order.
    pub entries: Vec<Entry>,
    data_start: usize,
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

/// Reads a file's header.
pub fn header(path: &Path) -> Result<Header, String> {
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
    let value: serde_json::Value = serde_json::from_slice(&json).map_err(|e| format!("its header is not JSON: {e}"))?;
    let object = value.as_object().ok_or("its header is not a JSON object")?;
    let mut entries = Vec::new();
    for (name, tensor) in object.iter().filter(|(name, _)| name.as_str() != "__metadata__") {
        let bad = || format!("tensor `{name}` has a malformed entry");
        let dtype = tensor["dtype"].as_str().ok_or_else(bad)?.to_string();
        let shape = tensor["shape"].as_array().ok_or_else(bad)?;
        let shape: Vec<usize> =
            shape.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<_>>().ok_or_else(bad)?;
        let offsets = tensor["data_offsets"].as_array().ok_or_else(bad)?;
        let [start, end] = [0, 1].map(|i| offsets.get(i).and_then(serde_json::Value::as_u64).map(|o| o as usize));
        let (Some(start), Some(end)) = (start, end) else { return Err(bad()) };
        if end < start {
            return Err(bad());
        }
        entries.push(Entry { name: name.clone(), dtype, shape, offsets: [start, end] });
    }
    entries.sort_by_key(|e| e.offsets[0]);
    // `size` is at most MAX_HEADER.
    Ok(Header { entries, data_start: (size as usize).saturating_add(8) })
}

impl Header {
    /// The entry of a name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// The values of the tensors `wanted` names, as f32 (from F32, F64, F16
/// or BF16), with their entries; others (a batch norm's integer
/// `num_batches_tracked`, say) are not read.
pub fn read_wanted(
    path: &Path,
    header: &Header,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<(Entry, Vec<f32>)>, String> {
    super::regular_file(path)?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(header.entries.len());
    for entry in header.entries.iter().filter(|e| wanted(&e.name)) {
        let past_end = || format!("tensor `{}` lies past the end of the file", entry.name);
        let [start, end] = entry.offsets.map(|o| header.data_start.checked_add(o));
        let range = start.ok_or_else(past_end)?..end.ok_or_else(past_end)?;
        let data = bytes.get(range).ok_or_else(past_end)?;
        let count = entry.shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
        let count = count.ok_or_else(|| format!("tensor `{}` has an impossible shape", entry.name))?;
        let values: Vec<f32> = match entry.dtype.as_str() {
            "F32" => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            "F64" => data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32).collect(),
            "F16" => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            "BF16" => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => return Err(format!("tensor `{}` is {other}; weights are read from float types", entry.name)),
        };
        if values.len() != count {
            return Err(format!("tensor `{}` has {} values for shape {:?}", entry.name, values.len(), entry.shape));
        }
        out.push((entry.clone(), values));
    }
    Ok(out)
}
