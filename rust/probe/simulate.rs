//! The layer probe's int8 simulation: its input quantized by the engine's quantizer, its weights
//! rounded as ncnn2int8 rounds them, exact int32 sums on the process's int8 GEMM, and the engine's
//! epilogue with the layer's own rules (see the module docs of [`crate::probe`]).

use super::layer::{Form, LayerProbe};
use super::patches::Patches;
use crate::base::parallel;
use crate::error::{Error, Result};
use crate::kernels::gemm_i8::{self, ConvSource, Epilogue, Out, PackedA};
use crate::kernels::{dispatch, dw_i8};
use crate::layers::int8;
use crate::quantize;
use std::borrow::Cow;

/// A layer's input for a simulation: fp32 patches (quantized with the input scale, as the int8
/// layer quantizes its input) or int8 columns used as they are (`(groups · rows) × n`).
#[derive(Clone, Copy)]
pub enum Columns<'a> {
    F32(&'a Patches),
    I8 { data: &'a [i8], n: usize },
}

/// How a simulation finishes the int32 sums (the quantizer, the int8 kernels and the activation
/// code are the engine's either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arithmetic {
    /// The layer's own epilogue, bit for bit what ncnnq's engine computes for it on this CPU: its
    /// de-scale factors (x86 `rcpps` for depthwise layers of 8k channels) and its FMA or
    /// product-then-sum.
    #[default]
    Exact,
    /// `acc · (1/(s_in·s_w)) + bias` as a product then a sum, the factor divided exactly, for
    /// every layer: the same values on every CPU. Results differ from `Exact` by an ulp here and
    /// there, enough to flip near-ties between candidates; `eq` scores with it so that its tables
    /// do not depend on the machine that computed them (and stay what they were).
    Portable,
}

/// The int8 form to simulate: what the table, ncnn2int8 and the methods choose.
#[derive(Debug, Clone, Copy)]
pub struct Quantization<'a> {
    /// One per output channel (Convolution, InnerProduct) or group (ConvolutionDepthWise); `inf`
    /// reads as 1, as `ncnnq int8` writes it.
    pub weight_scales: &'a [f32],
    pub input_scale: f32,
    /// Requantize the output to int8 with this scale (Convolution and ConvolutionDepthWise).
    pub output_scale: Option<f32>,
    /// int8 weights instead of the fp32 weights quantized with `weight_scales` (same layout).
    pub weights: Option<&'a [i8]>,
    /// A bias instead of the layer's (one per output channel).
    pub bias: Option<&'a [f32]>,
    pub arithmetic: Arithmetic,
}

/// Simulated outputs, `num_output × n`: float, or int8 when requantized.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    F32(Vec<f32>),
    I8(Vec<i8>),
}

impl LayerProbe {
    fn check_patches(&self, x: &Patches) -> Result<()> {
        if (x.groups, x.rows) != (self.group, self.rows) {
            return Err(self.error(format!(
                "patches hold {}×{} rows per column, this layer takes {}×{}",
                x.groups, x.rows, self.group, self.rows
            )));
        }
        Ok(())
    }

    /// The patches quantized with `input_scale` as the int8 layer quantizes its input (the
    /// engine's quantizer; padding as the int8 layer pads).
    pub fn quantize_input(&self, x: &Patches, input_scale: f32) -> Result<Vec<i8>> {
        self.check_patches(x)?;
        check_scale(self, "input scale", input_scale)?;
        let mut q = vec![0i8; x.columns.len()];
        gemm_i8::quantize(dispatch::I8.selected(), &x.columns, input_scale, &mut q);
        if let (Some(mask), Some(g)) = (&x.padding, &self.geometry) {
            let pad = int8::pad_byte(g.pad_value);
            q.iter_mut().zip(mask).filter(|(_, &m)| m).for_each(|(v, _)| *v = pad);
        }
        Ok(q)
    }

    /// The int8 weights `ncnnq int8` writes for these scales (ncnn2int8's rounding).
    pub fn quantize_weights(&self, weight_scales: &[f32]) -> Result<Vec<i8>> {
        self.check_weight_scales(weight_scales)?;
        Ok(quantize::int8_weights(&self.weights, weight_scales))
    }

    fn check_weight_scales(&self, scales: &[f32]) -> Result<()> {
        if scales.len() != self.scale_count() {
            return Err(self.error(format!(
                "{} weight scales given, the layer takes {}",
                scales.len(),
                self.scale_count()
            )));
        }
        scales.iter().try_for_each(|&s| check_scale(self, "weight scale", s))
    }

    fn int8_columns<'a>(&self, x: Columns<'a>, input_scale: f32) -> Result<(Cow<'a, [i8]>, usize)> {
        match x {
            Columns::F32(p) => Ok((Cow::Owned(self.quantize_input(p, input_scale)?), p.n)),
            Columns::I8 { data, n } => {
                if data.len() != self.group * self.rows * n {
                    return Err(self.error(format!(
                        "int8 columns hold {} values, expected {}×{}×{n}",
                        data.len(),
                        self.group,
                        self.rows
                    )));
                }
                Ok((Cow::Borrowed(data), n))
            }
        }
    }

    /// The de-scale factors `1/(s_in · s_w)` per row as the int8 layer computes them, and
    /// whether the bias is added by an FMA.
    fn descale(&self, input_scale: f32, per_row: &[f32], arithmetic: Arithmetic) -> (Vec<f32>, bool) {
        match arithmetic {
            Arithmetic::Exact if self.form == Form::Depthwise => {
                (dw_i8::descale_factors(input_scale, per_row, self.group), self.fused)
            }
            Arithmetic::Exact => (int8::descale(input_scale, per_row), self.fused),
            Arithmetic::Portable => (int8::descale(input_scale, per_row), false),
        }
    }

    /// The layer's int8 outputs (`num_output × n`) on `x` with `q`, computed by the engine's
    /// quantizer, int8 GEMM and epilogue (activation included) as the int8 layer computes them.
    pub fn simulate(&self, x: Columns, q: &Quantization) -> Result<Output> {
        self.check_weight_scales(q.weight_scales)?;
        if let Some(s) = q.output_scale {
            if self.form == Form::InnerProduct {
                return Err(self.error("an InnerProduct has no requantized (int8) output in ncnn"));
            }
            check_scale(self, "output scale", s)?;
        }
        let (xq, n) = self.int8_columns(x, q.input_scale)?;
        let wq = match q.weights {
            Some(w) if w.len() != self.weights.len() => {
                return Err(self.error(format!("{} int8 weights given, the layer has {}", w.len(), self.weights.len())))
            }
            Some(w) => Cow::Borrowed(w),
            None => Cow::Owned(quantize::int8_weights(&self.weights, q.weight_scales)),
        };
        let bias = self.bias_or(q.bias)?;
        let scales = quantize::finite_scales(q.weight_scales);
        let per = self.outputs_per_scale();
        let per_output: Vec<f32> = (0..self.num_output).map(|o| scales[o / per]).collect();
        let (scale, fused) = self.descale(q.input_scale, &per_output, q.arithmetic);
        let out_g = self.num_output / self.group;
        let (k, group_in) = (self.rows, self.rows * n);
        let ep = |g: usize| Epilogue {
            scale: &scale[g * out_g..],
            bias: bias.map(|b| &b[g * out_g..]),
            activation: self.activation,
            requant: q.output_scale,
            fused,
        };
        let gemm = |g: usize, out: Out| {
            let a = PackedA::new(dispatch::I8.selected(), &wq[g * out_g * k..(g + 1) * out_g * k], out_g, k);
            gemm_i8::conv_gemm(&a, &ConvSource::dense(&xq[g * group_in..(g + 1) * group_in], k, n), &ep(g), out);
        };
        Ok(if q.output_scale.is_none() {
            let mut y = vec![0.0f32; self.num_output * n];
            for_groups(&mut y, out_g * n, |g, part| gemm(g, Out::F32(part)));
            Output::F32(y)
        } else {
            let mut y = vec![0i8; self.num_output * n];
            for_groups(&mut y, out_g * n, |g, part| gemm(g, Out::I8(part)));
            Output::I8(y)
        })
    }

    fn bias_or<'a>(&'a self, bias: Option<&'a [f32]>) -> Result<Option<&'a [f32]>> {
        match bias {
            Some(b) if b.len() != self.num_output => {
                Err(self.error(format!("{} bias values given, the layer has {} outputs", b.len(), self.num_output)))
            }
            Some(b) => Ok(Some(b)),
            None => Ok(self.bias.as_deref()),
        }
    }

    /// Many candidate weight scales at once: row block r of the result holds the float outputs
    /// (`outputs_per_scale() × n`) of scale unit `units[r]` (output channel, or group) with its
    /// fp32 weights quantized with `scales[r]`, the other inputs as in [`LayerProbe::simulate`].
    /// One int8 GEMM per group carries all the candidates of that group.
    pub fn evaluate_weight_scales(
        &self,
        x: Columns,
        input_scale: f32,
        units: &[usize],
        scales: &[f32],
        bias: Option<&[f32]>,
        arithmetic: Arithmetic,
    ) -> Result<Vec<f32>> {
        if units.len() != scales.len() {
            return Err(Error::input(format!("{} units but {} scales", units.len(), scales.len())));
        }
        if let Some(&u) = units.iter().find(|&&u| u >= self.scale_count()) {
            return Err(self.error(format!("scale unit {u} out of range: the layer has {}", self.scale_count())));
        }
        scales.iter().try_for_each(|&s| check_scale(self, "weight scale", s))?;
        let (xq, n) = self.int8_columns(x, input_scale)?;
        let bias = self.bias_or(bias)?;
        let scales = quantize::finite_scales(scales);
        let per = self.outputs_per_scale();
        // With several groups (ConvolutionDepthWise), a scale unit is a group.
        let mut requests: Vec<Vec<usize>> = vec![Vec::new(); self.group];
        for (r, &u) in units.iter().enumerate() {
            requests[if self.group == 1 { 0 } else { u }].push(r);
        }
        let k = self.rows;
        let run_group = |g: usize| -> Vec<f32> {
            let rs = &requests[g];
            let m = rs.len() * per;
            if m == 0 {
                return Vec::new();
            }
            let mut wq = Vec::with_capacity(m * k);
            let (mut row_scale, mut row_bias) = (Vec::with_capacity(m), Vec::with_capacity(m));
            for &r in rs {
                for o in units[r] * per..(units[r] + 1) * per {
                    wq.extend(self.weights[o * k..(o + 1) * k].iter().map(|&w| quantize::float2int8(w * scales[r])));
                    row_scale.push(scales[r]);
                    row_bias.push(bias.map_or(0.0, |b| b[o]));
                }
            }
            let (descale, fused) = self.descale(input_scale, &row_scale, arithmetic);
            let ep = Epilogue {
                scale: &descale,
                bias: bias.map(|_| &row_bias[..]),
                activation: self.activation,
                requant: None,
                fused,
            };
            let mut y = vec![0.0f32; m * n];
            let a = PackedA::new(dispatch::I8.selected(), &wq, m, k);
            gemm_i8::conv_gemm(&a, &ConvSource::dense(&xq[g * k * n..(g + 1) * k * n], k, n), &ep, Out::F32(&mut y));
            y
        };
        let per_group: Vec<Vec<f32>> = parallel::map(self.group, run_group);
        let block = per * n;
        let mut out = vec![0.0f32; units.len() * block];
        for (g, y) in per_group.iter().enumerate() {
            for (i, &r) in requests[g].iter().enumerate() {
                out[r * block..(r + 1) * block].copy_from_slice(&y[i * block..(i + 1) * block]);
            }
        }
        Ok(out)
    }
}

fn check_scale(probe: &LayerProbe, what: &str, s: f32) -> Result<()> {
    // inf is ncnn2table's scale of an all-zero weight row (read as 1); anything else must be a
    // positive number.
    if s.is_nan() || s <= 0.0 || (s.is_infinite() && what != "weight scale") {
        return Err(probe.error(format!("{what} {s} is not a positive finite number")));
    }
    Ok(())
}

/// `f(g, rows of group g)` for every group's slice of `out` (`chunk` values each), in parallel
/// when there are several groups.
fn for_groups<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if chunk == 0 {
        return;
    }
    parallel::for_each_chunk(out, chunk, 1, f);
}
