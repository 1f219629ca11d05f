//! A layer's `key=value` parameters, typed the way they were written.
//!
//! ncnn stores a scalar as a union of `int` and `float` and lets the layer pick the reading. We
//! keep the written type (so a model round-trips exactly) and reproduce ncnn's reinterpretation
//! when a layer reads a parameter with the other type.

use std::collections::BTreeMap;

/// ncnn allows ids 0..=31; 30 (shape hints) and 31 (featmask) are reserved by the net.
pub const MAX_PARAM_ID: u32 = 31;
pub const SHAPE_HINT_ID: u32 = 30;
pub const FEATMASK_ID: u32 = 31;

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i32),
    Float(f32),
    IntArray(Vec<i32>),
    FloatArray(Vec<f32>),
    Str(String),
}

impl ParamValue {
    /// The value read as an int, with ncnn's bit reinterpretation of floats.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            ParamValue::Int(i) => Some(*i),
            ParamValue::Float(f) => Some(f.to_bits() as i32),
            _ => None,
        }
    }

    /// The value read as a float, with ncnn's bit reinterpretation of ints.
    pub fn as_float(&self) -> Option<f32> {
        match self {
            ParamValue::Float(f) => Some(*f),
            ParamValue::Int(i) => Some(f32::from_bits(*i as u32)),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::IntArray(_) => "int array",
            ParamValue::FloatArray(_) => "float array",
            ParamValue::Str(_) => "string",
        }
    }

    /// Bitwise equality: distinguishes -0.0 from 0.0 and compares NaN payloads, which is what
    /// "the same graph" means for a codec.
    pub fn same_bits(&self, other: &ParamValue) -> bool {
        match (self, other) {
            (ParamValue::Float(a), ParamValue::Float(b)) => a.to_bits() == b.to_bits(),
            (ParamValue::FloatArray(a), ParamValue::FloatArray(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            _ => self == other,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamDict {
    entries: BTreeMap<u32, ParamValue>,
}

impl ParamDict {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, id: u32, value: ParamValue) {
        debug_assert!(id <= MAX_PARAM_ID);
        self.entries.insert(id, value);
    }

    pub fn remove(&mut self, id: u32) -> Option<ParamValue> {
        self.entries.remove(&id)
    }

    pub fn get(&self, id: u32) -> Option<&ParamValue> {
        self.entries.get(&id)
    }

    pub fn contains(&self, id: u32) -> bool {
        self.entries.contains_key(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &ParamValue)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn int(&self, id: u32, default: i32) -> i32 {
        self.get(id).and_then(ParamValue::as_int).unwrap_or(default)
    }

    pub fn float(&self, id: u32, default: f32) -> f32 {
        self.get(id).and_then(ParamValue::as_float).unwrap_or(default)
    }

    /// An array parameter read as ints (float elements reinterpreted bitwise, like ncnn).
    pub fn int_array(&self, id: u32) -> Vec<i32> {
        match self.get(id) {
            Some(ParamValue::IntArray(v)) => v.clone(),
            Some(ParamValue::FloatArray(v)) => v.iter().map(|f| f.to_bits() as i32).collect(),
            _ => Vec::new(),
        }
    }

    /// An array parameter read as floats (int elements reinterpreted bitwise, like ncnn).
    pub fn float_array(&self, id: u32) -> Vec<f32> {
        match self.get(id) {
            Some(ParamValue::FloatArray(v)) => v.clone(),
            Some(ParamValue::IntArray(v)) => v.iter().map(|i| f32::from_bits(*i as u32)).collect(),
            _ => Vec::new(),
        }
    }

    pub fn string(&self, id: u32) -> String {
        match self.get(id) {
            Some(ParamValue::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }

    pub fn set_int(&mut self, id: u32, v: i32) {
        self.set(id, ParamValue::Int(v));
    }

    pub fn set_float(&mut self, id: u32, v: f32) {
        self.set(id, ParamValue::Float(v));
    }

    /// Bitwise equality of two dicts (see [`ParamValue::same_bits`]).
    pub fn same_bits(&self, other: &ParamDict) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|((ka, va), (kb, vb))| ka == kb && va.same_bits(vb))
    }
}
