//! What a pass did, and the signature every pass has.

use crate::model::Graph;

/// What a pass did: the layers of each match (the surviving layer first) and the matches it
/// declined where ncnn would have rewritten.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassLog {
    pub fired: Vec<Vec<String>>,
    pub declined: Vec<String>,
}

impl PassLog {
    pub fn fire(&mut self, g: &Graph, layers: &[usize]) {
        self.fired.push(layers.iter().map(|&i| g.layers[i].name.clone()).collect());
    }

    pub fn decline(&mut self, message: String) {
        self.declined.push(message);
    }
}

pub type PassFn = fn(&mut Graph, &mut PassLog);
