//! Single-precision matrix multiply: C (m×n) = A (m×k) · B (k×n), row-major, with an epilogue
//! (per-row bias, fused activation). A is the weight side and is packed once at load.

pub mod reference;

use crate::layers::activation::Activation;

/// What happens to each output row after accumulation.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub activation: Activation,
}

impl Epilogue<'_> {
    pub const NONE: Epilogue<'static> = Epilogue { bias: None, activation: Activation::Identity };

    #[inline]
    pub fn finish_row(&self, row: usize, out: &mut [f32]) {
        if let Some(b) = self.bias {
            let b = b[row];
            out.iter_mut().for_each(|v| *v += b);
        }
        self.activation.apply_slice(out);
    }
}

/// The weight matrix, kept as given (row-major m×k) until the SIMD paths add their packing.
pub struct PackedA {
    pub m: usize,
    pub k: usize,
    pub data: Vec<f32>,
}

impl PackedA {
    pub fn new(a: &[f32], m: usize, k: usize) -> Self {
        assert_eq!(a.len(), m * k);
        PackedA { m, k, data: a.to_vec() }
    }
}

/// C = A·B then the epilogue. `b` is k×n row-major, `c` is m×n row-major.
pub fn gemm(a: &PackedA, b: &[f32], n: usize, c: &mut [f32], epilogue: Epilogue) {
    reference::gemm(&a.data, a.m, a.k, b, n, c, epilogue)
}
