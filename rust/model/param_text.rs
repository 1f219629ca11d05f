//! The text `.param` format (formats.md §1): parsing with ncnn's tokenisation and typing rules,
//! and writing with ncnn's writer conventions (fixed-width names, only non-default params).
//!
//! Where ncnn would silently misread a file (over-long value tokens, TAB-separated pairs, ten
//! fraction digits, mixed-type arrays) we stop with an error that names the line instead.

use super::float_text::{format_ncnn_float, parse_ncnn_float};
use super::graph::{BlobShape, DuplicateName, Graph, GraphBuilder, Layer};
use super::layer_spec::ParamKind;
use super::param_defaults;
use super::param_dict::{ParamDict, ParamValue, MAX_PARAM_ID, SHAPE_HINT_ID};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fmt::Write as _;

pub const MAGIC: i32 = 7_767_517;
/// ncnn scans each value with `%15[^,\n ]`.
const MAX_VALUE_CHARS: usize = 15;
const MAX_NAME_CHARS: usize = 255;

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    line: usize,
    /// Byte offset of the token in the source.
    start: usize,
}

struct Tokens<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(src: &'a str) -> Self {
        Self { src, pos: 0, line: 1 }
    }

    fn skip_space(&mut self) {
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            if bytes[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        let bytes = self.src.as_bytes();
        if self.pos >= bytes.len() {
            return None;
        }
        let mut end = self.pos;
        while end < bytes.len() && !bytes[end].is_ascii_whitespace() {
            end += 1;
        }
        Some(Token { text: &self.src[self.pos..end], line: self.line, start: self.pos })
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.peek()?;
        self.pos = t.start + t.text.len();
        Some(t)
    }

    /// The byte right after the current position (used to spot a TAB after a value).
    fn following_byte(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Consumes raw text up to and including the next `"` (a quoted string with spaces).
    fn take_until_quote(&mut self, from: usize) -> Option<&'a str> {
        let rest = &self.src[from..];
        let close = rest.find('"')?;
        let text = &rest[..close];
        self.line += text.matches('\n').count();
        self.pos = from + close + 1;
        Some(text)
    }
}

struct Ctx<'f> {
    file: &'f str,
}

impl Ctx<'_> {
    fn err(&self, line: usize, layer: Option<&str>, message: impl Into<String>) -> Error {
        Error::Param { file: self.file.to_string(), line, layer: layer.map(str::to_string), message: message.into() }
    }
}

fn parse_int(text: &str) -> Option<i32> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i32>().ok()
}

fn looks_float(text: &str) -> bool {
    text.bytes().any(|b| b == b'.' || b == b'e' || b == b'E')
}

enum Scalar {
    Int(i32),
    Float(f32),
}

fn parse_number(text: &str) -> std::result::Result<Scalar, String> {
    if text.len() > MAX_VALUE_CHARS {
        return Err(format!(
            "value '{text}' is longer than {MAX_VALUE_CHARS} characters (ncnn would split it and misread the layer)"
        ));
    }
    if text.is_empty() {
        return Err("empty value".into());
    }
    if looks_float(text) {
        let v = parse_ncnn_float(text)
            .ok_or_else(|| format!("'{text}' is not a number ncnn can read exactly (at most 9 fraction digits)"))?;
        // ncnn would read it as ±inf, which no layer means and no .param file can be written back with.
        if !v.is_finite() {
            return Err(format!("'{text}' is beyond a 32-bit float's range"));
        }
        Ok(Scalar::Float(v))
    } else {
        parse_int(text).map(Scalar::Int).ok_or_else(|| format!("'{text}' is not a number"))
    }
}

/// Parses one `key=value` token (and any quoted continuation) into (id, value).
fn parse_param(tokens: &mut Tokens, tok: Token, ctx: &Ctx, layer: &str) -> Result<Option<(u32, ParamValue)>> {
    let (key_text, value_text) = tok.text.split_once('=').expect("caller checked '='");
    let key =
        parse_int(key_text).ok_or_else(|| ctx.err(tok.line, Some(layer), format!("bad parameter key '{key_text}'")))?;
    let err = |m: String| ctx.err(tok.line, Some(layer), m);
    if tokens.following_byte() == Some(b'\t') {
        return Err(err(format!(
            "TAB after '{}': ncnn reads TAB as part of the value and would silently drop the next parameter; use spaces",
            tok.text
        )));
    }
    if key <= -23300 {
        let id = -(key + 23300);
        if !(0..=MAX_PARAM_ID as i32).contains(&id) {
            return Err(err(format!("array parameter key {key} is out of range (id {id} not in 0..31)")));
        }
        let mut parts = value_text.split(',');
        let n_text = parts.next().unwrap_or("");
        let n = parse_int(n_text)
            .filter(|n| *n >= 0)
            .ok_or_else(|| err(format!("array parameter {key}: bad element count '{n_text}'")))?;
        let elems: Vec<&str> = parts.collect();
        if elems.len() != n as usize {
            return Err(err(format!("array parameter {key} declares {n} elements but has {}", elems.len())));
        }
        if n == 0 {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(elems.len());
        for e in &elems {
            values.push(parse_number(e).map_err(|m| err(format!("array parameter {key}: {m}")))?);
        }
        // ncnn records the array type of the last element; mixed arrays are almost surely typos.
        let last_is_float = matches!(values.last(), Some(Scalar::Float(_)));
        if values.iter().any(|v| matches!(v, Scalar::Float(_)) != last_is_float) {
            return Err(err(format!(
                "array parameter {key} mixes ints and floats (ncnn would reinterpret some elements bitwise)"
            )));
        }
        let value = if last_is_float {
            ParamValue::FloatArray(values.iter().map(|v| if let Scalar::Float(f) = v { *f } else { 0.0 }).collect())
        } else {
            ParamValue::IntArray(values.iter().map(|v| if let Scalar::Int(i) = v { *i } else { 0 }).collect())
        };
        return Ok(Some((id as u32, value)));
    }
    if !(0..=MAX_PARAM_ID as i32).contains(&key) {
        return Err(err(format!("parameter id {key} is out of range 0..31")));
    }
    let id = key as u32;
    let first = value_text.as_bytes().first().copied();
    match first {
        None => Err(err(format!("parameter {id} has no value"))),
        Some(b'"') => {
            let value_start = tok.start + key_text.len() + 2;
            let body = tokens
                .take_until_quote(value_start)
                .ok_or_else(|| err(format!("parameter {id}: unterminated quoted string")))?;
            if body.len() > MAX_NAME_CHARS {
                return Err(err(format!("parameter {id}: string longer than {MAX_NAME_CHARS} characters")));
            }
            Ok(Some((id, ParamValue::Str(body.to_string()))))
        }
        Some(c) if c.is_ascii_alphabetic() => {
            if value_text.len() > MAX_NAME_CHARS {
                return Err(err(format!("parameter {id}: string longer than {MAX_NAME_CHARS} characters")));
            }
            Ok(Some((id, ParamValue::Str(value_text.to_string()))))
        }
        Some(_) if value_text.contains(',') => {
            let elems: Vec<&str> = value_text.split(',').collect();
            let float = looks_float(elems[0]);
            let mut ints = Vec::new();
            let mut floats = Vec::new();
            for e in &elems {
                match parse_number(e).map_err(|m| err(format!("array parameter {id}: {m}")))? {
                    Scalar::Float(f) if float => floats.push(f),
                    Scalar::Int(i) if !float => ints.push(i),
                    _ => {
                        return Err(err(format!(
                            "array parameter {id}: element '{e}' does not have the type of the first element (ncnn types the whole array by it)"
                        )))
                    }
                }
            }
            Ok(Some((id, if float { ParamValue::FloatArray(floats) } else { ParamValue::IntArray(ints) })))
        }
        Some(_) => {
            let v = parse_number(value_text).map_err(|m| err(format!("parameter {id}: {m}")))?;
            Ok(Some((
                id,
                match v {
                    Scalar::Int(i) => ParamValue::Int(i),
                    Scalar::Float(f) => ParamValue::Float(f),
                },
            )))
        }
    }
}

fn is_param_token(text: &str) -> bool {
    match text.split_once('=') {
        Some((key, _)) => parse_int(key).is_some(),
        None => false,
    }
}

/// Decodes `-23330=` shape hints into one shape per top (formats.md §1.5).
pub fn decode_shape_hints(values: &[i32], ntops: usize) -> Vec<Option<BlobShape>> {
    if ntops == 0 {
        return Vec::new();
    }
    let step = values.len() / ntops;
    (0..ntops)
        .map(|i| {
            let v = &values[i * step..(i + 1) * step];
            if v.is_empty() {
                return None;
            }
            let at = |k: usize| v.get(k).copied().unwrap_or(0);
            let shape = match v[0] {
                1 => BlobShape { dims: 1, w: at(1), h: 1, d: 1, c: 1 },
                2 => BlobShape { dims: 2, w: at(1), h: at(2), d: 1, c: 1 },
                3 => BlobShape { dims: 3, w: at(1), h: at(2), d: 1, c: if step == 5 { at(4) } else { at(3) } },
                4 => BlobShape { dims: 4, w: at(1), h: at(2), d: at(3), c: at(4) },
                _ => return None,
            };
            Some(shape)
        })
        .collect()
}

/// Parses a text `.param`. `file` is used in error messages.
pub fn parse(src: &str, file: &str) -> Result<Graph> {
    let ctx = Ctx { file };
    let mut tokens = Tokens::new(src);
    let header = |tokens: &mut Tokens, what: &str| -> Result<(i32, usize)> {
        let t = tokens.next().ok_or_else(|| ctx.err(tokens.line, None, format!("file ends before the {what}")))?;
        let v = parse_int(t.text)
            .ok_or_else(|| ctx.err(t.line, None, format!("expected the {what}, found '{}'", t.text)))?;
        Ok((v, t.line))
    };
    let (magic, line) = header(&mut tokens, "magic number 7767517")?;
    if magic != MAGIC {
        return Err(ctx.err(line, None, format!("bad magic {magic}: not an ncnn .param file (expected 7767517)")));
    }
    let (layer_count, line) = header(&mut tokens, "layer count")?;
    let (blob_count, _) = header(&mut tokens, "blob count")?;
    if layer_count <= 0 || blob_count <= 0 {
        return Err(ctx.err(
            line,
            None,
            format!("counts line '{layer_count} {blob_count}': both counts must be positive"),
        ));
    }

    let mut builder = GraphBuilder::new();
    let mut name_lines: HashMap<String, usize> = HashMap::new();
    for index in 0..layer_count as usize {
        let type_tok = tokens.next().ok_or_else(|| {
            ctx.err(tokens.line, None, format!("counts line says {layer_count} layers but the file has only {index}"))
        })?;
        let line = type_tok.line;
        let name_tok = tokens
            .next()
            .ok_or_else(|| ctx.err(line, None, format!("layer {index} ({}): missing name", type_tok.text)))?;
        let name = name_tok.text;
        let lerr = |m: String| ctx.err(line, Some(name), m);
        for t in [type_tok, name_tok] {
            if t.text.len() > MAX_NAME_CHARS {
                let head: String = t.text.chars().take(32).collect();
                return Err(lerr(format!("'{head}…' is longer than {MAX_NAME_CHARS} characters")));
            }
        }
        if is_param_token(type_tok.text) || parse_int(type_tok.text).is_some() {
            return Err(lerr(format!("expected a layer type, found '{}' (is the counts line right?)", type_tok.text)));
        }
        let mut counts = [0usize; 2];
        for (k, what) in ["bottom count", "top count"].iter().enumerate() {
            let t = tokens.next().ok_or_else(|| lerr(format!("missing {what}")))?;
            counts[k] = parse_int(t.text)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| lerr(format!("{what} '{}' is not a non-negative integer", t.text)))?;
        }
        let mut names = Vec::with_capacity(counts[0] + counts[1]);
        for k in 0..counts[0] + counts[1] {
            let t = tokens
                .next()
                .ok_or_else(|| lerr(format!("file ends in the blob names ({k} of {})", counts[0] + counts[1])))?;
            if is_param_token(t.text) {
                return Err(lerr(format!(
                    "expected {} blob names but found parameter '{}' after {k}",
                    counts[0] + counts[1],
                    t.text
                )));
            }
            if t.text.len() > MAX_NAME_CHARS {
                return Err(lerr(format!("blob name longer than {MAX_NAME_CHARS} characters")));
            }
            names.push(t.text.to_string());
        }
        let mut params = ParamDict::new();
        let mut hints: Option<Vec<i32>> = None;
        while let Some(t) = tokens.peek() {
            if !is_param_token(t.text) {
                break;
            }
            tokens.next();
            if let Some((id, value)) = parse_param(&mut tokens, t, &ctx, name)? {
                if id == SHAPE_HINT_ID {
                    match value {
                        ParamValue::IntArray(v) => hints = Some(v),
                        _ => return Err(lerr("shape hints (-23330) must be an int array".into())),
                    }
                    continue;
                }
                if params.contains(id) {
                    builder.warn(format!(
                        "{file}:{line}: layer '{name}': parameter {id} given twice; the later value wins"
                    ));
                }
                params.set(id, value);
            }
        }
        let (bottoms, tops) = names.split_at(counts[0]);
        let li = builder.add_layer(type_tok.text, name, bottoms, tops, params).map_err(&lerr)?;
        if let Some(&first_line) = name_lines.get(name) {
            builder.duplicate_name(DuplicateName { name: name.into(), file: file.into(), first_line, line });
        } else {
            name_lines.insert(name.into(), line);
        }
        if let Some(h) = hints {
            let tops: Vec<usize> = builder.layer(li).tops.clone();
            for (blob, shape) in tops.iter().zip(decode_shape_hints(&h, tops.len())) {
                if let Some(s) = shape {
                    builder.set_shape(*blob, s);
                }
            }
        }
    }
    if let Some(t) = tokens.peek() {
        // ncnn stops after the declared count and ignores the rest; so do we, loudly.
        builder.warn(format!(
            "{file}:{}: counts line says {layer_count} layers but more follow (from '{}'); they are ignored, as ncnn does",
            t.line, t.text
        ));
    }
    let actual = builder.blob_count();
    if (blob_count as usize) < actual {
        return Err(ctx.err(2, None, format!("counts line says {blob_count} blobs but the layers use {actual}")));
    }
    if blob_count as usize > actual {
        builder.warn(format!("{file}:2: counts line says {blob_count} blobs but the layers use {actual}"));
    }
    let mut graph = builder.finish();
    lint_param_types(&mut graph, file);
    Ok(graph)
}

/// Warns where a value's written type differs from the type the layer reads and ncnn's bitwise
/// reinterpretation changes its meaning (`1=1` for a float parameter reads as 1.4e-45).
fn lint_param_types(graph: &mut Graph, file: &str) {
    let mut warnings = Vec::new();
    for layer in &graph.layers {
        if let Some(w) = super::expression::lost_batch_axes(&layer.type_name, &layer.params) {
            warnings.push(format!("{file}: layer '{}' ({}): {w}", layer.name, layer.type_name));
        }
        let Some(spec) = layer.spec() else { continue };
        for (id, value) in layer.params.iter() {
            let Some(p) = spec.param(id) else {
                warnings.push(format!(
                    "{file}: layer '{}' ({}): parameter {id} is not one ncnn reads",
                    layer.name, layer.type_name
                ));
                continue;
            };
            let suspicious = match (p.kind, value) {
                (ParamKind::Float, ParamValue::Int(i)) => *i != 0,
                (ParamKind::Int, ParamValue::Float(f)) => *f != 0.0,
                (ParamKind::FloatArray, ParamValue::IntArray(v)) => v.iter().any(|&i| i != 0),
                (ParamKind::IntArray, ParamValue::FloatArray(v)) => v.iter().any(|&f| f != 0.0),
                _ => false,
            };
            if suspicious {
                warnings.push(format!(
                    "{file}: layer '{}' ({}): parameter {id} ({}) is written as {} but read as {:?}; ncnn reinterprets the bits",
                    layer.name, layer.type_name, p.name, value.kind_name(), p.kind
                ));
            }
        }
    }
    graph.warnings.extend(warnings);
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_float(out: &mut String, v: f32, layer: &Layer, id: u32) -> Result<()> {
    let text = format_ncnn_float(v).ok_or_else(|| {
        Error::layer(
            &layer.name,
            &layer.type_name,
            format!("parameter {id} is {v}, which a .param file cannot represent"),
        )
    })?;
    out.push_str(&text);
    Ok(())
}

fn write_value(out: &mut String, id: u32, value: &ParamValue, layer: &Layer) -> Result<()> {
    match value {
        ParamValue::Int(i) => {
            let _ = write!(out, " {id}={i}");
        }
        ParamValue::Float(f) => {
            let _ = write!(out, " {id}=");
            write_float(out, *f, layer, id)?;
        }
        ParamValue::IntArray(v) => {
            let _ = write!(out, " {}={}", -(23300 + id as i32), v.len());
            for i in v {
                let _ = write!(out, ",{i}");
            }
        }
        ParamValue::FloatArray(v) => {
            let _ = write!(out, " {}={}", -(23300 + id as i32), v.len());
            for f in v {
                out.push(',');
                write_float(out, *f, layer, id)?;
            }
        }
        ParamValue::Str(s) => {
            if s.contains('"') || s.len() > MAX_NAME_CHARS {
                return Err(Error::layer(
                    &layer.name,
                    &layer.type_name,
                    format!("string parameter {id} cannot be written: {s:?}"),
                ));
            }
            let _ = write!(out, " {id}=\"{s}\"");
        }
    }
    Ok(())
}

/// Serializes a graph the way ncnn's `ModelWriter` lays out a `.param`.
pub fn write(graph: &Graph) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(out, "{MAGIC}");
    let _ = writeln!(out, "{} {}", graph.layers.len(), graph.referenced_blob_count());
    for layer in &graph.layers {
        for name in [&layer.type_name, &layer.name] {
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
                return Err(Error::layer(
                    &layer.name,
                    &layer.type_name,
                    format!("name {name:?} is empty or contains whitespace"),
                ));
            }
        }
        let _ = write!(out, "{:<24} {:<24} {} {}", layer.type_name, layer.name, layer.bottoms.len(), layer.tops.len());
        for &b in layer.bottoms.iter().chain(&layer.tops) {
            let _ = write!(out, " {}", graph.blobs[b].name);
        }
        let shapes: Option<Vec<BlobShape>> =
            layer.tops.iter().map(|&t| graph.blobs[t].shape.filter(|s| s.dims != 0)).collect();
        if let Some(shapes) = shapes.filter(|s| !s.is_empty()) {
            let _ = write!(out, " -23330={}", 5 * shapes.len());
            for s in shapes {
                let _ = write!(out, ",{},{},{},{},{}", s.dims, s.w, s.h, s.d, s.c);
            }
        }
        for (id, value) in param_defaults::emitted(layer.spec(), &layer.params) {
            write_value(&mut out, id, value, layer)?;
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "7767517\n3 3\nInput data 0 1 data 0=4 1=4 2=3\n\
        Convolution conv 1 1 data c -23330=4,3,4,4,8 0=8 1=3 4=1 5=1 6=216 9=2 -23310=1,1.000000e-01\n\
        Pooling pool 1 1 c out 0=1 4=1\n";

    #[test]
    fn parses_layers_params_and_hints() {
        let g = parse(SMALL, "t.param").unwrap();
        assert_eq!(g.layers.len(), 3);
        let conv = &g.layers[1];
        assert_eq!(conv.params.int(0, 0), 8);
        assert_eq!(conv.params.float_array(10), vec![0.1]);
        assert_eq!(g.blobs[1].shape, Some(BlobShape { dims: 3, w: 4, h: 4, d: 1, c: 8 }));
        assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    }

    #[test]
    fn writes_ncnn_layout_and_round_trips() {
        let g = parse(SMALL, "t.param").unwrap();
        let text = write(&g).unwrap();
        assert!(
            text.starts_with("7767517\n3 3\nInput                    data                     0 1 data 0=4 1=4 2=3\n"),
            "{text}"
        );
        assert!(text.contains(" -23330=5,3,4,4,1,8 0=8 1=3 4=1 5=1 6=216 9=2 -23310=1,1.000000e-01\n"), "{text}");
        let back = parse(&text, "t2.param").unwrap();
        g.same_as(&back).unwrap();
        assert_eq!(write(&back).unwrap(), text, "writing is deterministic");
    }

    fn parse_err(src: &str) -> String {
        parse(src, "bad.param").unwrap_err().to_string()
    }

    #[test]
    fn new_style_arrays_strings_and_quotes() {
        let g =
            // Noop reads none of these, so the strings are kept as strings (Reshape's 6= would be
            // checked as a shape expression).
            parse("7767517\n2 2\nInput in 0 1 x\nNoop r 1 1 x y 0=1,2,3 6=\"a b,c\" 9=word,x\n", "t.param").unwrap();
        let p = &g.layers[1].params;
        assert_eq!(p.int_array(0), vec![1, 2, 3]);
        assert_eq!(p.string(6), "a b,c");
        assert_eq!(p.string(9), "word,x");
    }

    #[test]
    fn malformed_inputs_are_named() {
        assert!(parse_err("7767518\n1 1\nInput in 0 1 x\n").contains("bad magic 7767518"));
        assert!(parse_err("7767517\n2 1\nInput in 0 1 x\n").contains("says 2 layers but the file has only 1"));
        let g = parse("7767517\n1 1\nInput in 0 1 x\nReLU r 1 1 x y\n", "t.param").unwrap();
        assert_eq!(g.layers.len(), 1);
        assert!(g.warnings[0].contains("more follow"), "{:?}", g.warnings);
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 nope y\n");
        assert!(e.contains("bad.param:4: layer 'r': bottom blob 'nope' is not produced"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x x\n");
        assert!(e.contains("top blob 'x' is already produced by layer 'in'"), "{e}");
        let e = parse_err("7767517\n2 3\nInput in 0 1 x\nSplit sp 1 2 x a a\n");
        assert!(e.contains("top blob 'a' is already produced by layer 'sp'"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 0=1.00000000000000001\n");
        assert!(e.contains("longer than 15"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 0=12x\n");
        assert!(e.contains("'12x' is not a number"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 40=1\n");
        assert!(e.contains("out of range"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 0=1\t1=2\n");
        assert!(e.contains("TAB"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nSlice s 1 1 x y -23300=3,1,2\n");
        assert!(e.contains("declares 3 elements but has 2"), "{e}");
        let e = parse_err("7767517\n1 0\nInput in 0 1 x\n");
        assert!(e.contains("must be positive"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 0=1.0e101\n");
        assert!(e.contains("bad.param:4: layer 'r': parameter 0: '1.0e101' is beyond a 32-bit float's range"), "{e}");
        let e = parse_err("7767517\n2 2\nInput in 0 1 x\nClip c 1 1 x y -23310=2,0.0,-9e99\n");
        assert!(e.contains("'-9e99' is beyond"), "{e}");
    }

    #[test]
    fn type_confusion_is_flagged() {
        let g = parse("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y 0=1\n", "t.param").unwrap();
        assert!(g.warnings.iter().any(|w| w.contains("written as int but read as Float")), "{:?}", g.warnings);
        assert_eq!(g.layers[1].params.float(0, 0.0), f32::from_bits(1), "reads like ncnn");
    }

    #[test]
    fn duplicate_layer_names_load_with_a_warning_and_are_named_by_line() {
        let src = "7767517\n4 4\nInput in 0 1 x\nReLU r 1 1 x y\nReLU s 1 1 y z\nReLU r 1 1 z w\n";
        let g = parse(src, "t.param").unwrap();
        assert_eq!(g.layers.len(), 4, "loaded, as ncnn does");
        assert!(g.warnings.iter().any(|w| w.contains("t.param:6: layer name 'r' is already used on line 4")));
        let e = g.check_unique_layer_names().unwrap_err();
        assert!(e.starts_with("t.param: lines 4 and 6 both name a layer 'r'"), "{e}");
        assert!(parse("7767517\n2 2\nInput in 0 1 x\nReLU r 1 1 x y\n", "t.param")
            .unwrap()
            .check_unique_layer_names()
            .is_ok());
    }
}
