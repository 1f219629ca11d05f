//! The layer probe: one Convolution, ConvolutionDepthWise or InnerProduct of an fp32 model, read
//! as its int8 implementation sees it, and its inputs as [`Patches`]; its int8 form is simulated
//! in `simulate.rs` (see the module docs of [`crate::probe`] for what is guaranteed).

use super::patches::{self, BlobView, Patches};
use crate::base::Activation;
use crate::base::Geometry;
use crate::engine::Shape;
use crate::error::{Error, Result};
use crate::layers::{convolution_depthwise_int8, convolution_int8, innerproduct_int8, int8, Params};
use crate::model::{Graph, Layer};
use crate::quantize;

/// Which int8 implementation the engine runs for the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Convolution,
    /// ConvolutionDepthWise with several channels per group: one GEMM per group.
    Grouped,
    /// ConvolutionDepthWise with one channel per group: the depthwise kernel.
    Depthwise,
    InnerProduct,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Convolution => "convolution",
            Form::Grouped => "grouped",
            Form::Depthwise => "depthwise",
            Form::InnerProduct => "innerproduct",
        }
    }
}

/// One quantizable layer of an fp32 model.
#[derive(Debug, Clone)]
pub struct LayerProbe {
    pub name: String,
    pub type_name: String,
    pub form: Form,
    /// None for an InnerProduct.
    pub geometry: Option<Geometry>,
    pub num_output: usize,
    /// Input channels (all groups; `num_input` for an InnerProduct).
    pub inch: usize,
    pub group: usize,
    /// Inputs per group and output position (the GEMM's k).
    pub rows: usize,
    /// fp32 weights `[group][out_g][rows]`.
    pub(super) weights: Vec<f32>,
    pub(super) bias: Option<Vec<f32>>,
    pub activation: Activation,
    /// Whether the int8 layer de-scales and adds the bias with one FMA.
    pub(super) fused: bool,
}

fn layer_error(l: &Layer, message: impl std::fmt::Display) -> Error {
    Error::layer(&l.name, &l.type_name, message)
}

/// `weight_data_size / num_output`, checked.
fn per_output(p: &Params, num_output: i32, weight_size: i32) -> Result<(usize, usize)> {
    if num_output <= 0 || weight_size <= 0 || weight_size % num_output != 0 {
        return Err(p.invalid(format!("weight_data_size {weight_size} is not a multiple of num_output {num_output}")));
    }
    Ok((num_output as usize, (weight_size / num_output) as usize))
}

impl LayerProbe {
    /// The probe of layer `name` of fp32 `graph`. Errors name the layer: unknown, not
    /// quantizable, already int8, dynamic weights, or inconsistent params and weights.
    pub fn new(graph: &Graph, name: &str) -> Result<LayerProbe> {
        let l = graph
            .layer_index(name)
            .map(|i| &graph.layers[i])
            .ok_or_else(|| Error::input(format!("the model has no layer named {name:?}")))?;
        if !quantize::CALIBRATED.contains(&l.type_name.as_str()) {
            return Err(layer_error(
                l,
                "is not quantizable (ncnn makes Convolution, ConvolutionDepthWise and InnerProduct int8)",
            ));
        }
        let p = Params::new(l)?;
        if p.int(8) != 0 {
            return Err(layer_error(l, "is already int8: the probe takes the fp32 model"));
        }
        if l.type_name != "InnerProduct" && p.int(19) != 0 {
            return Err(layer_error(l, "has dynamic weights, which cannot be quantized ahead of time"));
        }
        let activation = Activation::of_layer(&p);
        let (form, geometry, num_output, inch, group, rows, bias_term, fused) = match l.type_name.as_str() {
            "InnerProduct" => {
                let (num_output, k) = per_output(&p, p.int(0), p.int(2))?;
                (Form::InnerProduct, None, num_output, k, 1, k, p.int(1) != 0, innerproduct_int8::FUSES_BIAS)
            }
            kind => {
                let geometry = Geometry::read(&p, false)?;
                let (num_output, k) = per_output(&p, p.int(0), p.int(6))?;
                let maxk = geometry.kernel.0 * geometry.kernel.1;
                let group = if kind == "ConvolutionDepthWise" { p.int(7).max(0) as usize } else { 1 };
                if group == 0 || !num_output.is_multiple_of(group) || !k.is_multiple_of(maxk) {
                    return Err(p.invalid(format!(
                        "num_output {num_output}, group {group} and kernel {maxk} do not fit weight_data_size"
                    )));
                }
                let inch = k / maxk * group;
                let (form, fused) = if group == 1 && kind == "Convolution" {
                    (Form::Convolution, convolution_int8::FUSES_BIAS)
                } else if convolution_depthwise_int8::is_depthwise(num_output, group, inch) {
                    (Form::Depthwise, convolution_depthwise_int8::depthwise_fuses_bias(&geometry, group))
                } else {
                    (Form::Grouped, convolution_int8::FUSES_BIAS)
                };
                (form, Some(geometry), num_output, inch, group, k, p.int(5) != 0, fused)
            }
        };
        let weights = p.weight_f32("weight")?;
        if weights.len() != num_output * rows {
            return Err(p.invalid(format!("holds {} weights, its params say {}", weights.len(), num_output * rows)));
        }
        let bias = if bias_term { Some(int8::array(&p, "bias", num_output)?) } else { None };
        Ok(LayerProbe {
            name: l.name.clone(),
            type_name: l.type_name.clone(),
            form,
            geometry,
            num_output,
            inch,
            group,
            rows,
            weights,
            bias,
            activation,
            fused,
        })
    }

    pub(super) fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::layer(&self.name, &self.type_name, message)
    }

    fn shape_error(&self, message: impl std::fmt::Display) -> Error {
        Error::shape(&self.name, &self.type_name, message)
    }

    /// How many weight scales the layer takes: one per output channel, or per group.
    pub fn scale_count(&self) -> usize {
        if self.type_name == "ConvolutionDepthWise" {
            self.group
        } else {
            self.num_output
        }
    }

    /// Output channels one weight scale applies to.
    pub fn outputs_per_scale(&self) -> usize {
        self.num_output / self.scale_count()
    }

    /// ncnn2table's "6-bit" layers: 3×3 stride-1 dilation-1 Convolution weights are kept within
    /// ±31 for ncnn's int8 Winograd.
    pub fn six_bit(&self) -> bool {
        self.form == Form::Convolution
            && self.geometry.is_some_and(|g| g.kernel == (3, 3) && g.stride == (1, 1) && g.dilation == (1, 1))
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    fn flat_input(&self, s: Shape) -> bool {
        match self.form {
            Form::InnerProduct => true,
            // The int8 Convolution runs a flat blob through a 1×1 kernel as an inner product.
            Form::Convolution => s.dims == 1 && self.geometry.is_some_and(|g| g.kernel == (1, 1)) && s.w == self.rows,
            _ => false,
        }
    }

    /// The layer's input columns at up to `count` output positions drawn with `seed` (every
    /// position when there are fewer; every row of a 2-D InnerProduct input; the one column of a
    /// flat input), and its fp32 `output` at those positions when given.
    pub fn sample(&self, input: BlobView, output: Option<BlobView>, count: usize, seed: u64) -> Result<Patches> {
        let s = input.shape;
        if input.data.len() != s.len() {
            return Err(Error::input(format!("input blob holds {} values for shape {s}", input.data.len())));
        }
        let (columns, padding, positions, plane) = if self.flat_input(s) {
            if s.dims == 2 && s.w == self.rows {
                (patches::transpose(input.data, s.h, s.w), None, (0..s.h).collect(), None)
            } else if s.len() == self.rows {
                (input.data.to_vec(), None, vec![0], None)
            } else {
                return Err(self.shape_error(format!(
                    "input {s} has {} values, the weights expect {}",
                    s.len(),
                    self.rows
                )));
            }
        } else {
            let g = self.geometry.as_ref().expect("convolutions have a geometry");
            if s.dims == 4 || s.c != self.inch {
                return Err(self.shape_error(format!(
                    "input {s} does not have the {} channels of a 1-D to 3-D input it expects",
                    self.inch
                )));
            }
            let (ow, oh, _) =
                g.output_size(s.w, s.h).ok_or_else(|| self.shape_error(format!("kernel does not fit input {s}")))?;
            let positions = patches::sample_positions(ow * oh, count, seed);
            let (columns, padding) = patches::im2col(g, input, &positions, ow);
            (columns, padding, positions, Some(ow * oh))
        };
        let n = positions.len();
        let outputs = output.map(|o| self.outputs_at(o, &positions, plane)).transpose()?;
        Ok(Patches { groups: self.group, rows: self.rows, n, columns, padding, outputs, positions })
    }

    fn outputs_at(&self, o: BlobView, positions: &[usize], plane: Option<usize>) -> Result<Vec<f32>> {
        let s = o.shape;
        let m = self.num_output;
        let bad = || self.shape_error(format!("output {s} is not what this layer makes of the given input"));
        if o.data.len() != s.len() {
            return Err(bad());
        }
        match plane {
            Some(plane) if s.dims == 3 && s.c == m && s.w * s.h == plane => {
                Ok(patches::gather(o.data, m, plane, positions))
            }
            Some(_) => Err(bad()),
            None if s.dims == 2 && s.w == m && s.h == positions.len() => Ok(patches::transpose(o.data, s.h, m)),
            None if s.len() == m && positions.len() == 1 => Ok(o.data.to_vec()),
            None => Err(bad()),
        }
    }
}
