//! Tensors with ncnn's Mat semantics: 1 to 4 dims named w, h, d, c (w innermost), no batch axis.
//! Data is dense and channel-major: index = ((c·d + z)·h + y)·w + x. ncnn pads each channel to
//! 16 bytes (cstep); we do not, which changes no value.

use super::alloc;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub dims: usize,
    pub w: usize,
    pub h: usize,
    pub d: usize,
    pub c: usize,
}

impl Shape {
    /// ncnn's empty Mat (dims 0): what detection layers return when nothing is detected.
    pub fn empty() -> Self {
        Shape { dims: 0, w: 0, h: 0, d: 0, c: 0 }
    }

    pub fn d1(w: usize) -> Self {
        Shape { dims: 1, w, h: 1, d: 1, c: 1 }
    }
    pub fn d2(w: usize, h: usize) -> Self {
        Shape { dims: 2, w, h, d: 1, c: 1 }
    }
    pub fn d3(w: usize, h: usize, c: usize) -> Self {
        Shape { dims: 3, w, h, d: 1, c }
    }
    pub fn d4(w: usize, h: usize, d: usize, c: usize) -> Self {
        Shape { dims: 4, w, h, d, c }
    }

    /// Builds a shape from extents listed outermost first (numpy order), 1 to 4 of them.
    pub fn from_numpy(extents: &[usize]) -> Result<Self> {
        match *extents {
            [w] => Ok(Shape::d1(w)),
            [h, w] => Ok(Shape::d2(w, h)),
            [c, h, w] => Ok(Shape::d3(w, h, c)),
            [c, d, h, w] => Ok(Shape::d4(w, h, d, c)),
            _ => Err(Error::input(format!("tensors have 1 to 4 dims, got {}", extents.len()))),
        }
    }

    /// Extents outermost first (numpy order).
    pub fn to_numpy(&self) -> Vec<usize> {
        match self.dims {
            0 => vec![0],
            1 => vec![self.w],
            2 => vec![self.h, self.w],
            3 => vec![self.c, self.h, self.w],
            _ => vec![self.c, self.d, self.h, self.w],
        }
    }

    pub fn len(&self) -> usize {
        self.w * self.h * self.d * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements per channel (w·h·d).
    pub fn channel_len(&self) -> usize {
        self.w * self.h * self.d
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.dims {
            0 => write!(f, "[empty]"),
            1 => write!(f, "[w={}]", self.w),
            2 => write!(f, "[w={},h={}]", self.w, self.h),
            3 => write!(f, "[w={},h={},c={}]", self.w, self.h, self.c),
            _ => write!(f, "[w={},h={},d={},c={}]", self.w, self.h, self.d, self.c),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    /// Requantized int8 activations flowing between fused int8 layers.
    I8(Vec<i8>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Shape,
    pub data: TensorData,
}

impl Tensor {
    pub fn new(shape: Shape, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.len(), data.len());
        Tensor { shape, data: TensorData::F32(data) }
    }

    /// An empty tensor (ncnn's empty Mat); numpy sees shape (0,).
    pub fn empty() -> Self {
        Tensor::new(Shape::empty(), Vec::new())
    }

    /// A float tensor of zeros; an error instead of an abort when it does not fit in memory.
    pub fn zeros(shape: Shape) -> Result<Self> {
        Ok(Tensor::new(shape, alloc::zeroed(shape.len())?))
    }

    /// An int8 tensor of zeros.
    pub fn zeros_i8(shape: Shape) -> Result<Self> {
        Ok(Tensor::new_i8(shape, alloc::zeroed(shape.len())?))
    }

    /// A tensor of `shape` (int8 with `int8`) whose values `fill` writes, every one of them,
    /// without a zeroing pass first (kernels that overwrite their whole output).
    ///
    /// # Safety
    /// `fill` writes every element before reading any.
    pub unsafe fn overwritten(shape: Shape, int8: bool, fill: impl FnOnce(&mut TensorData)) -> Result<Self> {
        let n = shape.len();
        // SAFETY: `fill` writes every element before anything reads it (this function's
        // contract), and nothing else sees the data before it returns.
        let mut data = unsafe {
            if int8 {
                TensorData::I8(alloc::unwritten(n)?)
            } else {
                TensorData::F32(alloc::unwritten(n)?)
            }
        };
        fill(&mut data);
        Ok(Tensor { shape, data })
    }

    /// A copy; an error instead of an abort when it does not fit in memory.
    pub fn try_clone(&self) -> Result<Self> {
        let data = match &self.data {
            TensorData::F32(v) => TensorData::F32(alloc::copy(v)?),
            TensorData::I8(v) => TensorData::I8(alloc::copy(v)?),
        };
        Ok(Tensor { shape: self.shape, data })
    }

    pub fn new_i8(shape: Shape, data: Vec<i8>) -> Self {
        debug_assert_eq!(shape.len(), data.len());
        Tensor { shape, data: TensorData::I8(data) }
    }

    pub fn is_i8(&self) -> bool {
        matches!(self.data, TensorData::I8(_))
    }

    /// The float data. Int8 tensors only flow between fused int8 layers; any other reader is
    /// a graph the quantizer should not have produced.
    pub fn f32(&self) -> &[f32] {
        match &self.data {
            TensorData::F32(v) => v,
            TensorData::I8(_) => panic!("int8 tensor read as float (broken int8 fusion)"),
        }
    }

    pub fn f32_mut(&mut self) -> &mut [f32] {
        match &mut self.data {
            TensorData::F32(v) => v,
            TensorData::I8(_) => panic!("int8 tensor written as float (broken int8 fusion)"),
        }
    }

    pub fn into_f32(self) -> Vec<f32> {
        match self.data {
            TensorData::F32(v) => v,
            TensorData::I8(v) => v.into_iter().map(f32::from).collect(),
        }
    }

    /// Like [`Tensor::into_f32`], but an error instead of an abort when the int8 values' float
    /// copy does not fit in memory.
    pub fn try_into_f32(self) -> Result<Vec<f32>> {
        match self.data {
            TensorData::F32(v) => Ok(v),
            TensorData::I8(v) => alloc::collect(v.into_iter().map(f32::from)),
        }
    }

    /// Values as float, int8 values cast without de-scaling (what ncnn's extract returns).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.clone(),
            TensorData::I8(v) => v.iter().map(|&q| f32::from(q)).collect(),
        }
    }

    /// One channel's elements.
    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.shape.channel_len();
        &self.f32()[c * n..(c + 1) * n]
    }

    /// Same data, other shape (sizes must match).
    pub fn reshaped(mut self, shape: Shape) -> Self {
        debug_assert_eq!(shape.len(), self.shape.len());
        self.shape = shape;
        self
    }
}

/// Resolves an ncnn axis (outermost-first over the tensor's dims, negative counts from the end)
/// into the numpy-order index, or `None` when out of range.
pub fn resolve_axis(axis: i32, dims: usize) -> Option<usize> {
    let a = if axis < 0 { axis + dims as i32 } else { axis };
    (0..dims as i32).contains(&a).then_some(a as usize)
}

/// Views a shape as [outer, n, inner] around a numpy-order axis.
pub fn split_at_axis(shape: &Shape, axis: usize) -> (usize, usize, usize) {
    let ext = shape.to_numpy();
    let outer: usize = ext[..axis].iter().product();
    let inner: usize = ext[axis + 1..].iter().product();
    (outer, ext[axis], inner)
}

/// The shape with the numpy-order axis resized to `n`.
pub fn with_axis_len(shape: &Shape, axis: usize, n: usize) -> Shape {
    let mut ext = shape.to_numpy();
    ext[axis] = n;
    Shape::from_numpy(&ext).expect("same rank")
}
