//! The ONNX file format: protocol-buffer messages of `onnx.proto3` (only
//! the fields an export writes), encoded by hand: the wire format is a
//! few rules, and no protobuf compiler is needed to build `pipe`.

/// ONNX's element types (`TensorProto.DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `FLOAT`
    F32 = 1,
    /// `INT64`
    I64 = 7,
    /// `STRING`
    Str = 8,
    /// `BOOL`
    Bool = 9,
    /// `DOUBLE`
    F64 = 11,
}

/// A node attribute.
#[derive(Clone, Debug)]
pub enum Attr {
    /// `INT`
    Int(&'static str, i64),
    /// `FLOAT`
    Float(&'static str, f32),
    /// `INTS`
    Ints(&'static str, Vec<i64>),
    /// `FLOATS`
    Floats(&'static str, Vec<f32>),
    /// `STRING`
    Str(&'static str, String),
    /// `STRINGS`
    Strs(&'static str, Vec<String>),
}

/// One operator application.
#[derive(Clone, Debug)]
pub struct Node {
    /// `Gemm`, `LabelEncoder`.
    pub op: &'static str,
    /// `""` (ONNX) or `"ai.onnx.ml"`.
    pub domain: &'static str,
    /// Its inputs' names.
    pub inputs: Vec<String>,
    /// Its outputs' names.
    pub outputs: Vec<String>,
    /// Its attributes.
    pub attrs: Vec<Attr>,
}

/// A constant tensor's values.
#[derive(Clone, Debug)]
pub enum Data {
    /// Floats.
    F32(Vec<f32>),
    /// Doubles.
    F64(Vec<f64>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Strings.
    Str(Vec<String>),
}

/// A named constant (an initializer).
#[derive(Clone, Debug)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub dims: Vec<i64>,
    /// Its values, row-major.
    pub data: Data,
}

/// A graph input or output: its name, element type and shape (`None`: the
/// rows, a symbolic `N`).
#[derive(Clone, Debug)]
pub struct Value {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub elem: Elem,
    /// Its shape.
    pub dims: Vec<Option<i64>>,
}

/// A whole graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The nodes, in an order where each reads only what is before it.
    pub nodes: Vec<Node>,
    /// The constants.
    pub initializers: Vec<Tensor>,
    /// The inputs.
    pub inputs: Vec<Value>,
    /// The outputs.
    pub outputs: Vec<Value>,
}

/// The opset of the default domain an export uses (`LayerNormalization`
/// is in 17).
pub const OPSET: i64 = 17;
/// The opset of `ai.onnx.ml` (`LabelEncoder` with int64 keys and defaults).
pub const ML_OPSET: i64 = 3;
/// The IR version opset 17 goes with.
const IR_VERSION: i64 = 8;

/// The model file's bytes.
pub fn model(graph: &Graph, producer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    int(&mut out, 1, IR_VERSION);
    for (domain, version) in [("", OPSET), ("ai.onnx.ml", ML_OPSET)] {
        let mut opset = Vec::new();
        string(&mut opset, 1, domain);
        int(&mut opset, 2, version);
        message(&mut out, 8, &opset);
    }
    string(&mut out, 2, producer);
    message(&mut out, 7, &graph_bytes(graph));
    out
}

fn graph_bytes(graph: &Graph) -> Vec<u8> {
    let mut out = Vec::new();
    for node in &graph.nodes {
        message(&mut out, 1, &node_bytes(node));
    }
    string(&mut out, 2, "pipe");
    for tensor in &graph.initializers {
        message(&mut out, 5, &tensor_bytes(tensor));
    }
    for value in &graph.inputs {
        message(&mut out, 11, &value_bytes(value));
    }
    for value in &graph.outputs {
        message(&mut out, 12, &value_bytes(value));
    }
    out
}

fn node_bytes(node: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    for input in &node.inputs {
        string(&mut out, 1, input);
    }
    for output in &node.outputs {
        string(&mut out, 2, output);
    }
    string(&mut out, 4, node.op);
    for attr in &node.attrs {
        message(&mut out, 5, &attr_bytes(attr));
    }
    if !node.domain.is_empty() {
        string(&mut out, 7, node.domain);
    }
    out
}

fn attr_bytes(attr: &Attr) -> Vec<u8> {
    let mut out = Vec::new();
    // AttributeType: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7, STRINGS 8.
    match attr {
        Attr::Float(name, v) => {
            string(&mut out, 1, name);
            key(&mut out, 2, 5);
            out.extend(v.to_le_bytes());
            int(&mut out, 20, 1);
        }
        Attr::Int(name, v) => {
            string(&mut out, 1, name);
            int(&mut out, 3, *v);
            int(&mut out, 20, 2);
        }
        Attr::Str(name, v) => {
            string(&mut out, 1, name);
            string(&mut out, 4, v);
            int(&mut out, 20, 3);
        }
        Attr::Floats(name, vs) => {
            string(&mut out, 1, name);
            let packed: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
            message(&mut out, 7, &packed);
            int(&mut out, 20, 6);
        }
        Attr::Ints(name, vs) => {
            string(&mut out, 1, name);
            let mut packed = Vec::new();
            vs.iter().for_each(|v| varint(&mut packed, *v as u64));
            message(&mut out, 8, &packed);
            int(&mut out, 20, 7);
        }
        Attr::Strs(name, vs) => {
            string(&mut out, 1, name);
            vs.iter().for_each(|v| string(&mut out, 9, v));
            int(&mut out, 20, 8);
        }
    }
    out
}

fn tensor_bytes(tensor: &Tensor) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dims = Vec::new();
    tensor.dims.iter().for_each(|d| varint(&mut dims, *d as u64));
    message(&mut out, 1, &dims);
    let elem = match &tensor.data {
        Data::F32(_) => Elem::F32,
        Data::F64(_) => Elem::F64,
        Data::I64(_) => Elem::I64,
        Data::Str(_) => Elem::Str,
    };
    int(&mut out, 2, elem as i64);
    string(&mut out, 8, &tensor.name);
    match &tensor.data {
        Data::F32(vs) => message(&mut out, 9, &vs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
        Data::F64(vs) => message(&mut out, 9, &vs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
        Data::I64(vs) => message(&mut out, 9, &vs.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
        Data::Str(vs) => vs.iter().for_each(|v| string(&mut out, 6, v)),
    }
    out
}

fn value_bytes(value: &Value) -> Vec<u8> {
    let mut shape = Vec::new();
    for dim in &value.dims {
        let mut d = Vec::new();
        match dim {
            Some(n) => int(&mut d, 1, *n),
            None => string(&mut d, 2, "N"),
        }
        message(&mut shape, 1, &d);
    }
    let mut tensor = Vec::new();
    int(&mut tensor, 1, value.elem as i64);
    message(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    message(&mut ty, 1, &tensor);
    let mut out = Vec::new();
    string(&mut out, 1, &value.name);
    message(&mut out, 2, &ty);
    out
}

/// A field's key: its number and wire type (0 varint, 2 length-delimited,
/// 5 fixed 32 bits).
fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn int(out: &mut Vec<u8>, field: u32, v: i64) {
    key(out, field, 0);
    // Negative numbers as their 64-bit two's complement, as protobuf does.
    varint(out, v as u64);
}

fn message(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    message(out, field, s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        let mut out = Vec::new();
        int(&mut out, 1, -1);
        assert_eq!(out.len(), 11, "a negative int64 takes ten bytes after its key");
    }
}
