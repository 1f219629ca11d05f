//! The B operand of the int8 GEMM: a convolution's quantized, padded input seen as its im2col
//! matrix, read in place (never materialized outside the reference).

/// The quantized, padded input of a convolution and its geometry: B is its im2col matrix,
/// rows `(c, ky, kx)` for channels `c0..c0+channels`, columns the output pixels `(oy, ox)`.
#[derive(Debug, Clone, Copy)]
pub struct ConvSource<'a> {
    /// Padded planes, `pw·ph` bytes each.
    pub data: &'a [i8],
    pub pw: usize,
    pub ph: usize,
    /// First channel and channel count of this GEMM (a group of a grouped convolution).
    pub c0: usize,
    pub channels: usize,
    /// (w, h) of kernel, dilation and stride.
    pub kernel: (usize, usize),
    pub dilation: (usize, usize),
    pub stride: (usize, usize),
    pub ow: usize,
    pub oh: usize,
}

impl ConvSource<'_> {
    /// A plain k×n matrix (row-major) seen as a 1×1 convolution source.
    pub fn dense(data: &[i8], k: usize, n: usize) -> ConvSource<'_> {
        ConvSource {
            data,
            pw: n,
            ph: 1,
            c0: 0,
            channels: k,
            kernel: (1, 1),
            dilation: (1, 1),
            stride: (1, 1),
            ow: n,
            oh: 1,
        }
    }

    pub fn k(&self) -> usize {
        self.channels * self.kernel.0 * self.kernel.1
    }

    pub fn n(&self) -> usize {
        self.ow * self.oh
    }

    /// B[r][j].
    #[inline]
    pub fn at(&self, r: usize, j: usize) -> i8 {
        let (kw, kh) = self.kernel;
        let c = self.c0 + r / (kw * kh);
        let t = r % (kw * kh);
        let (ky, kx) = (t / kw, t % kw);
        let (oy, ox) = (j / self.ow, j % self.ow);
        let y = oy * self.stride.1 + ky * self.dilation.1;
        let x = ox * self.stride.0 + kx * self.dilation.0;
        self.data[(c * self.ph + y) * self.pw + x]
    }

    /// Offset in `data` of B row r's first pixel: `B[r][j] = data[rows[r] + oy·sh·pw + ox·sw]`.
    pub fn row_offsets(&self) -> Vec<usize> {
        let (kw, kh) = self.kernel;
        (0..self.k())
            .map(|r| {
                let c = self.c0 + r / (kw * kh);
                let t = r % (kw * kh);
                let (ky, kx) = (t / kw, t % kw);
                c * self.pw * self.ph + ky * self.dilation.1 * self.pw + kx * self.dilation.0
            })
            .collect()
    }

    pub(crate) fn check(&self) {
        let (ew, eh) = (self.dilation.0 * (self.kernel.0 - 1) + 1, self.dilation.1 * (self.kernel.1 - 1) + 1);
        assert!(self.kernel.0 > 0 && self.kernel.1 > 0 && self.stride.0 > 0 && self.stride.1 > 0);
        assert!(self.ow == 0 || (self.ow - 1) * self.stride.0 + ew <= self.pw, "conv source: width");
        assert!(self.oh == 0 || (self.oh - 1) * self.stride.1 + eh <= self.ph, "conv source: height");
        assert!((self.c0 + self.channels) * self.pw * self.ph <= self.data.len(), "conv source: channels");
    }
}
