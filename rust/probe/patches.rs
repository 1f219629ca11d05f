//! A quantizable layer's inputs as the columns its int8 GEMM multiplies (im2col at sampled output
//! positions, with the layer's own padding rules), and its fp32 outputs at the same positions.

use crate::base::Geometry;
use crate::engine::Shape;
use crate::error::{Error, Result};

/// A borrowed fp32 blob (e.g. a numpy array), in ncnn's layout.
#[derive(Debug, Clone, Copy)]
pub struct BlobView<'a> {
    pub shape: Shape,
    pub data: &'a [f32],
}

/// Columns of a layer's input, arranged by group: `(groups · rows) × n`, row-major, column j
/// holding the inputs of one output position. With the layer's fp32 outputs there, when given.
#[derive(Debug, Clone, PartialEq)]
pub struct Patches {
    /// 1, except for ConvolutionDepthWise (its group count).
    pub groups: usize,
    /// Inputs per group and position: `in_g · kh · kw`, or `num_input` for an InnerProduct.
    pub rows: usize,
    /// Positions (columns).
    pub n: usize,
    pub columns: Vec<f32>,
    /// Which entries are padding, kept only when the layer pads with a non-zero value: the int8
    /// layer pads the quantized input with `(i8)pad_value`, not with `q(pad_value · s_in)`.
    pub padding: Option<Vec<bool>>,
    /// `num_output × n` fp32 outputs at the same positions, when the layer's output was given.
    pub outputs: Option<Vec<f32>>,
    /// The output position of each column in its sample: `oy · outw + ox`, or the row of a 2-D
    /// InnerProduct input.
    pub positions: Vec<usize>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `count` of `0..total` drawn without replacement (all of them when there are fewer), sorted.
/// Deterministic in `seed`.
pub fn sample_positions(total: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..total).collect();
    if count < total {
        // Partial Fisher-Yates: the first `count` entries become a uniform sample.
        let mut state = seed;
        for i in 0..count {
            let j = i + (splitmix(&mut state) % (total - i) as u64) as usize;
            positions.swap(i, j);
        }
        positions.truncate(count);
        positions.sort_unstable();
    }
    positions
}

/// im2col of a (c, h, w) input at output `positions` of a `ow`-wide output plane: rows
/// `(ch, ky, kx)`, the layer's padding resolved for this input size, padded entries holding the
/// layer's pad value (and marked when it is not zero).
pub fn im2col(g: &Geometry, input: BlobView, positions: &[usize], ow: usize) -> (Vec<f32>, Option<Vec<bool>>) {
    let s = input.shape;
    let (w, h, c) = (s.w, s.h, s.c);
    let pad = g.padding(w, h);
    let (kw, kh) = g.kernel;
    let (dw, dh) = g.dilation;
    let (sw, sh) = g.stride;
    let rows = c * kh * kw;
    let n = positions.len();
    let mut columns = vec![0.0f32; rows * n];
    let mut padding = (g.pad_value != 0.0).then(|| vec![false; rows * n]);
    for ch in 0..c {
        let plane = &input.data[ch * w * h..(ch + 1) * w * h];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = (ch * kh + ky) * kw + kx;
                for (j, &pos) in positions.iter().enumerate() {
                    let (oy, ox) = (pos / ow, pos % ow);
                    let iy = (oy * sh + ky * dh) as isize - pad.top as isize;
                    let ix = (ox * sw + kx * dw) as isize - pad.left as isize;
                    let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                    columns[row * n + j] = if inside { plane[iy as usize * w + ix as usize] } else { g.pad_value };
                    if let (false, Some(mask)) = (inside, padding.as_mut()) {
                        mask[row * n + j] = true;
                    }
                }
            }
        }
    }
    (columns, padding)
}

/// `channels × positions.len()` values of `out` (channel-major, `plane` values per channel).
pub fn gather(out: &[f32], channels: usize, plane: usize, positions: &[usize]) -> Vec<f32> {
    let mut v = Vec::with_capacity(channels * positions.len());
    for ch in 0..channels {
        v.extend(positions.iter().map(|&p| out[ch * plane + p]));
    }
    v
}

/// The transpose of a row-major `rows × cols` matrix.
pub fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// Rows of `values` (`rows × n`) with their columns concatenated part after part.
fn concat_rows<T: Copy>(parts: &[(&[T], usize)], rows: usize) -> Vec<T> {
    let total: usize = parts.iter().map(|p| p.1).sum();
    let mut out = Vec::with_capacity(rows * total);
    for r in 0..rows {
        for &(v, n) in parts {
            out.extend_from_slice(&v[r * n..(r + 1) * n]);
        }
    }
    out
}

fn select_rows<T: Copy>(v: &[T], rows: usize, n: usize, columns: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(rows * columns.len());
    for r in 0..rows {
        out.extend(columns.iter().map(|&j| v[r * n + j]));
    }
    out
}

impl Patches {
    /// Output rows (`num_output`) when outputs are held.
    pub fn output_rows(&self) -> Option<usize> {
        self.outputs.as_ref().map(|o| o.len().checked_div(self.n).unwrap_or(0))
    }

    /// Several samples' patches of one layer as one set of columns, in order.
    pub fn concat(parts: &[&Patches]) -> Result<Patches> {
        let Some(first) = parts.first() else { return Err(Error::input("no patches to concatenate")) };
        let (groups, rows) = (first.groups, first.rows);
        if let Some(p) = parts.iter().find(|p| (p.groups, p.rows) != (groups, rows)) {
            return Err(Error::input(format!(
                "patches of different layers: {groups}×{rows} rows and {}×{} rows",
                p.groups, p.rows
            )));
        }
        if parts.iter().any(|p| p.output_rows() != first.output_rows()) {
            return Err(Error::input("patches with and without outputs (or of different layers)"));
        }
        let k = groups * rows;
        let columns = concat_rows(&parts.iter().map(|p| (&p.columns[..], p.n)).collect::<Vec<_>>(), k);
        let padding = parts.iter().any(|p| p.padding.is_some()).then(|| {
            let masks: Vec<Vec<bool>> =
                parts.iter().map(|p| p.padding.clone().unwrap_or_else(|| vec![false; k * p.n])).collect();
            concat_rows(&masks.iter().zip(parts).map(|(m, p)| (&m[..], p.n)).collect::<Vec<_>>(), k)
        });
        let outputs = first.output_rows().map(|m| {
            concat_rows(&parts.iter().map(|p| (&p.outputs.as_ref().expect("checked")[..], p.n)).collect::<Vec<_>>(), m)
        });
        Ok(Patches {
            groups,
            rows,
            n: parts.iter().map(|p| p.n).sum(),
            columns,
            padding,
            outputs,
            positions: parts.iter().flat_map(|p| p.positions.iter().copied()).collect(),
        })
    }

    /// The columns at `columns` (indices into these patches), in that order.
    pub fn select(&self, columns: &[usize]) -> Result<Patches> {
        if let Some(&j) = columns.iter().find(|&&j| j >= self.n) {
            return Err(Error::input(format!("column {j} of patches with {} columns", self.n)));
        }
        let k = self.groups * self.rows;
        Ok(Patches {
            groups: self.groups,
            rows: self.rows,
            n: columns.len(),
            columns: select_rows(&self.columns, k, self.n, columns),
            padding: self.padding.as_ref().map(|m| select_rows(m, k, self.n, columns)),
            outputs: self.outputs.as_ref().map(|o| select_rows(o, o.len() / self.n.max(1), self.n, columns)),
            positions: columns.iter().map(|&j| self.positions[j]).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_a_sorted_sample_without_repeats() {
        let p = sample_positions(100, 10, 3);
        assert_eq!(p.len(), 10);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_positions(5, 10, 3), vec![0, 1, 2, 3, 4]);
        assert_eq!(p, sample_positions(100, 10, 3), "deterministic");
        assert_ne!(p, sample_positions(100, 10, 4));
    }

    fn patches(n: usize, first: f32) -> Patches {
        Patches {
            groups: 1,
            rows: 2,
            n,
            columns: (0..2 * n).map(|i| first + i as f32).collect(),
            padding: None,
            outputs: Some((0..3 * n).map(|i| -(first + i as f32)).collect()),
            positions: (0..n).collect(),
        }
    }

    #[test]
    fn concat_and_select_keep_columns_together() {
        let (a, b) = (patches(2, 0.0), patches(3, 10.0));
        let c = Patches::concat(&[&a, &b]).unwrap();
        assert_eq!(c.n, 5);
        assert_eq!(c.columns, vec![0.0, 1.0, 10.0, 11.0, 12.0, 2.0, 3.0, 13.0, 14.0, 15.0]);
        assert_eq!(c.positions, vec![0, 1, 0, 1, 2]);
        let s = c.select(&[4, 0]).unwrap();
        assert_eq!(s.columns, vec![12.0, 0.0, 15.0, 2.0]);
        assert_eq!(s.outputs.unwrap(), vec![-12.0, -0.0, -15.0, -2.0, -18.0, -4.0]);
        assert!(c.select(&[5]).is_err());
        let mut other = patches(1, 0.0);
        other.rows = 3;
        assert!(Patches::concat(&[&a, &other]).is_err());
    }
}
