//! The flex primitives under pipe's tensors, for the operations pipe runs
//! with kernels of its own on flex (`conv.rs`, `norm.rs`): how to find
//! them, read their values and wrap results back.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Flex};
use burn::tensor::{DType, Tensor, TensorData};

/// Whether a pipe tensor is an f32 flex tensor, and if so its primitive,
/// tracked by autodiff or not.
pub enum OnFlex {
    /// A plain flex tensor (inference, or data).
    Plain(FlexTensor),
    /// A flex tensor in an autodiff graph.
    Tracked(FloatTensor<Autodiff<Flex>>),
}

impl OnFlex {
    /// The tensor in the autodiff graph (a constant there if it was plain).
    pub fn tracked(self) -> FloatTensor<Autodiff<Flex>> {
        match self {
            OnFlex::Tracked(t) => t,
            OnFlex::Plain(t) => Autodiff::<Flex>::from_inner(t),
        }
    }
}

/// The tensor's flex primitive, if it is an f32 tensor on flex.
pub fn on_flex<const D: usize>(t: &Tensor<D>) -> Option<OnFlex> {
    // Clones of flex tensors share their storage (and an autodiff one its
    // node): trying costs no copy.
    if let Ok(tracked) = t.clone().try_into_primitive::<Autodiff<Flex>>() {
        return (tracked.primitive().dtype() == DType::F32).then_some(OnFlex::Tracked(tracked));
    }
    let plain = t.clone().try_into_primitive::<Flex>().ok()?;
    (plain.dtype() == DType::F32).then_some(OnFlex::Plain(plain))
}

/// An f32 primitive's values in row-major order (a copy only if it is
/// strided).
pub fn contiguous(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// A primitive's values, from a contiguous one.
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// An f32 primitive of `shape` holding `values`.
pub fn primitive(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}
