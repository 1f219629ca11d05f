//! Image pixels to network input, exactly as ncnn's `Mat::from_pixels_resize` and
//! `substract_mean_normalize` do it, so calibration sees the tensors real ncnn would build.

pub mod convert;
pub mod resize;

pub use convert::{from_pixels, PixelType};
pub use resize::resize_bilinear;
