//! What happens to each output row of the f32 GEMM after accumulation: bias, then activation.

use crate::base::Activation;

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
            for v in out.iter_mut() {
                *v += b;
            }
        }
        self.activation.apply_slice(out);
    }
}
