//! Weight arrays as stored in a `.bin` (formats.md §3): the storage tags, fp16, int8 and the
//! legacy 256-entry codebook, and the 4-byte alignment of every array.

use half::f16;

pub const TAG_F32: u32 = 0x0000_0000;
pub const TAG_F16: u32 = 0x0130_6B47;
pub const TAG_I8: u32 = 0x000D_4B38;
/// "Raw data with extra scaling": float32, no scaling is actually applied by ncnn.
pub const TAG_F32_SCALED: u32 = 0x0002_C056;

/// The values of one array, in the form they are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightData {
    F32(Vec<f32>),
    /// IEEE binary16 bit patterns.
    F16(Vec<u16>),
    I8(Vec<i8>),
    /// Legacy quantized storage: value i = codebook[indices[i]]. `tag` is the array's non-zero
    /// 4-byte flag, kept so the array is rewritten byte for byte.
    Codebook {
        tag: u32,
        codebook: Vec<f32>,
        indices: Vec<u8>,
    },
}

/// How tagged float arrays are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Each array keeps the storage it was read with.
    Keep,
    F32,
    F16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub name: &'static str,
    /// Read with ModelBin type 0 (tag first) rather than raw float32.
    pub tagged: bool,
    pub data: WeightData,
}

impl WeightData {
    pub fn len(&self) -> usize {
        match self {
            WeightData::F32(v) => v.len(),
            WeightData::F16(v) => v.len(),
            WeightData::I8(v) => v.len(),
            WeightData::Codebook { indices, .. } => indices.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn storage_name(&self) -> &'static str {
        match self {
            WeightData::F32(_) => "fp32",
            WeightData::F16(_) => "fp16",
            WeightData::I8(_) => "int8",
            WeightData::Codebook { .. } => "codebook",
        }
    }

    /// The values as float32 (int8 values as their integer value, unscaled).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            WeightData::F32(v) => v.clone(),
            WeightData::F16(v) => v.iter().map(|&h| f16::from_bits(h).to_f32()).collect(),
            WeightData::I8(v) => v.iter().map(|&q| f32::from(q)).collect(),
            WeightData::Codebook { codebook, indices, .. } => {
                indices.iter().map(|&i| codebook[usize::from(i)]).collect()
            }
        }
    }

    /// Borrow as float32 without copying when already stored that way.
    pub fn as_f32(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            WeightData::F32(v) => std::borrow::Cow::Borrowed(v),
            other => std::borrow::Cow::Owned(other.to_f32()),
        }
    }

    pub fn is_float(&self) -> bool {
        !matches!(self, WeightData::I8(_))
    }
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Reads consecutive arrays from a `.bin` buffer, tracking the byte offset for error messages.
pub struct BinReader<'a> {
    data: &'a [u8],
    pub offset: usize,
}

impl<'a> BinReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, offset: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.offset
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!("file ends while reading {what}: needs {n} bytes, {} left", self.remaining()));
        }
        let s = &self.data[self.offset..self.offset + n];
        self.offset += n;
        Ok(s)
    }

    fn f32s(&mut self, count: usize, what: &str) -> Result<Vec<f32>, String> {
        let bytes = self.take(count.checked_mul(4).ok_or("array size overflows")?, what)?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// One array as `ModelBin::load(count, type)` reads it.
    pub fn read(&mut self, name: &'static str, count: usize, tagged: bool) -> Result<Weight, String> {
        if !tagged {
            let v = self.f32s(count, name)?;
            return Ok(Weight { name, tagged, data: WeightData::F32(v) });
        }
        let tag_bytes = self.take(4, name)?;
        let tag = u32::from_le_bytes([tag_bytes[0], tag_bytes[1], tag_bytes[2], tag_bytes[3]]);
        let data = match tag {
            TAG_F16 => {
                let bytes = self.take(pad4(count * 2), name)?;
                WeightData::F16(bytes[..count * 2].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect())
            }
            TAG_I8 => {
                let bytes = self.take(pad4(count), name)?;
                WeightData::I8(bytes[..count].iter().map(|&b| b as i8).collect())
            }
            TAG_F32_SCALED | TAG_F32 => WeightData::F32(self.f32s(count, name)?),
            _ => {
                // ncnn takes any other non-zero tag as the legacy 256-entry codebook.
                let codebook = self.f32s(256, name)?;
                let bytes = self.take(pad4(count), name)?;
                WeightData::Codebook { tag, codebook, indices: bytes[..count].to_vec() }
            }
        };
        Ok(Weight { name, tagged, data })
    }
}

/// float32 -> IEEE binary16 with round-to-nearest-even (what F16C hardware does).
pub fn f32_to_f16_bits(v: f32) -> u16 {
    f16::from_f32(v).to_bits()
}

pub fn f16_bits_to_f32(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

fn push_f32s(out: &mut Vec<u8>, values: &[f32]) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_padding(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The storage a tagged float array changes to when written with `storage`, if it changes.
fn conversion(weight: &Weight, storage: Storage) -> Option<Storage> {
    match (&weight.data, storage) {
        _ if !weight.tagged => None,
        (WeightData::I8(_), _) | (_, Storage::Keep) => None,
        (WeightData::F32(_), Storage::F32) | (WeightData::F16(_), Storage::F16) => None,
        (_, target) => Some(target),
    }
}

/// Converts `weight` to what a `.bin` written with `storage` reads back as (tagged float arrays
/// become fp16 under [`Storage::F16`]), so a graph computes what its written file computes.
pub fn store_as(weight: &mut Weight, storage: Storage) {
    match conversion(weight, storage) {
        Some(Storage::F16) => {
            weight.data = WeightData::F16(weight.data.as_f32().iter().map(|&v| f32_to_f16_bits(v)).collect());
        }
        Some(_) => weight.data = WeightData::F32(weight.data.to_f32()),
        None => {}
    }
}

/// Appends one array in `.bin` form. Raw (untagged) arrays are always float32.
pub fn write_weight(out: &mut Vec<u8>, weight: &Weight, storage: Storage) {
    debug_assert_eq!(out.len() % 4, 0);
    if !weight.tagged {
        push_f32s(out, &weight.data.as_f32());
        return;
    }
    match (conversion(weight, storage), &weight.data) {
        (Some(Storage::F16), data) => {
            out.extend_from_slice(&TAG_F16.to_le_bytes());
            for v in data.as_f32().iter() {
                out.extend_from_slice(&f32_to_f16_bits(*v).to_le_bytes());
            }
            push_padding(out);
        }
        (Some(_), data) => {
            out.extend_from_slice(&TAG_F32.to_le_bytes());
            push_f32s(out, &data.as_f32());
        }
        (None, WeightData::F32(v)) => {
            out.extend_from_slice(&TAG_F32.to_le_bytes());
            push_f32s(out, v);
        }
        (None, WeightData::F16(bits)) => {
            out.extend_from_slice(&TAG_F16.to_le_bytes());
            for b in bits {
                out.extend_from_slice(&b.to_le_bytes());
            }
            push_padding(out);
        }
        (None, WeightData::I8(v)) => {
            out.extend_from_slice(&TAG_I8.to_le_bytes());
            out.extend(v.iter().map(|&q| q as u8));
            push_padding(out);
        }
        (None, WeightData::Codebook { tag, codebook, indices }) => {
            out.extend_from_slice(&tag.to_le_bytes());
            push_f32s(out, codebook);
            out.extend_from_slice(indices);
            push_padding(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(w: &Weight, storage: Storage) -> (Vec<u8>, Weight) {
        let mut bytes = Vec::new();
        write_weight(&mut bytes, w, storage);
        assert_eq!(bytes.len() % 4, 0);
        let mut r = BinReader::new(&bytes);
        let back = r.read(w.name, w.data.len(), w.tagged).unwrap();
        assert_eq!(r.remaining(), 0);
        (bytes, back)
    }

    #[test]
    fn every_storage_round_trips_with_alignment() {
        for n in [0usize, 1, 2, 3, 4, 5, 7] {
            let f: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
            let w = Weight { name: "w", tagged: true, data: WeightData::F32(f.clone()) };
            assert_eq!(round_trip(&w, Storage::Keep).1, w);
            let (bytes, h) = round_trip(&w, Storage::F16);
            assert_eq!(bytes.len(), 4 + pad4(2 * n));
            assert_eq!(h.data.to_f32(), f, "these values are exact in fp16");
            let q = Weight { name: "q", tagged: true, data: WeightData::I8((0..n as i8).map(|i| i - 3).collect()) };
            let (bytes, back) = round_trip(&q, Storage::F16);
            assert_eq!(bytes.len(), 4 + pad4(n));
            assert_eq!(back, q, "int8 stays int8 whatever the float storage");
            let raw = Weight { name: "b", tagged: false, data: WeightData::F32(f.clone()) };
            assert_eq!(round_trip(&raw, Storage::F16).1, raw, "raw arrays are always fp32");
        }
    }

    #[test]
    fn store_as_gives_what_the_written_file_reads_back() {
        let f: Vec<f32> = (0..7).map(|i| i as f32 * 0.3 - 1.1).collect();
        let arrays = [
            Weight { name: "w", tagged: true, data: WeightData::F32(f.clone()) },
            Weight { name: "b", tagged: false, data: WeightData::F32(f.clone()) },
            Weight { name: "q", tagged: true, data: WeightData::I8(vec![-3, 0, 5]) },
            Weight { name: "h", tagged: true, data: WeightData::F16(f.iter().map(|&v| f32_to_f16_bits(v)).collect()) },
        ];
        for storage in [Storage::Keep, Storage::F32, Storage::F16] {
            for w in &arrays {
                let mut stored = w.clone();
                store_as(&mut stored, storage);
                assert_eq!(stored, round_trip(w, storage).1, "{} under {storage:?}", w.name);
            }
        }
    }

    #[test]
    fn codebook_round_trips() {
        let mut codebook: Vec<f32> = (0..256).map(|i| i as f32 / 10.0).collect();
        codebook[0] = 0.5;
        let data = WeightData::Codebook { tag: 0x0000_0100, codebook, indices: vec![0, 5, 255] };
        let w = Weight { name: "w", tagged: true, data };
        let (_, back) = round_trip(&w, Storage::Keep);
        assert_eq!(back, w);
        assert_eq!(back.data.to_f32(), vec![0.5, 0.5, 25.5]);
    }

    #[test]
    fn truncation_is_reported() {
        let bytes = [0u8; 6];
        let mut r = BinReader::new(&bytes);
        let err = r.read("weight", 4, true).unwrap_err();
        assert!(err.contains("needs 16 bytes, 2 left"), "{err}");
    }
}
