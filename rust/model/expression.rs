//! ncnn's shape expressions (`src/expression.cpp`): the strings pnnx writes into Reshape `6=`,
//! Crop `19=`..`21=` and Interp `9=` so that a size can follow the input's shape at run time,
//! e.g. `6="1,1,//(96,0n),0n"`.
//!
//! The language: a comma-separated list of items; an item is a literal, a size of an input blob
//! (`0w 0h 0d 0c 0n`: digit = the layer's bottom index, letter = w/h/d/c of its shape or n, its
//! batch, which is 1 in every blob ncnnq runs), or `op(arg,...)`. ncnn evaluates the token stream
//! as prefix notation right to left on a stack and ignores the parentheses; for a well-formed
//! expression that is the tree evaluated here. Values are typed as in ncnn:
//!
//! - ints: sizes, and literals whose `%d` reading equals their `%f` reading (`3`, `2.0`);
//!   everything else a literal reads is a float (`2.5`, `1e3`);
//! - `+ - * max min` on two ints stay int (two's-complement wrap); `//` on two ints is C's
//!   division, truncating toward zero (`//(-7,2)` = -3), on a float `floorf(a/b)` (-4 for -7.0);
//! - `abs neg sign square` keep the operand's type; `trunc ceil floor round` make an int (ints
//!   pass through); `/`, `pow fmod remainder atan2 logaddexp` and the float functions always give
//!   a float; `and or xor lshift rshift` take the operands' raw 32 bits as ints;
//! - every item of the list is finally converted to int by truncation.
//!
//! Parsing happens once, when a model is read; a string ncnn would misread is refused there,
//! naming the layer and parameter: unbalanced parentheses, an operator without `(` or with the
//! wrong number of arguments (ncnn would read past the stack), a literal with trailing text (ncnn
//! reads `10w` as 10), a size of a bottom the layer does not have. Evaluation errors (an int
//! `//` by zero, `//(-2147483648,-1)`, which stops ncnn with SIGFPE) are run-time errors.

use super::layer_spec::{self, ParamKind};
use super::{ParamDict, ParamValue};
use std::fmt;

/// Which extent of an input blob a size token reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    W,
    H,
    D,
    C,
    /// The batch: 1 for every blob ncnnq runs.
    N,
}

impl Dim {
    fn letter(self) -> char {
        match self {
            Dim::W => 'w',
            Dim::H => 'h',
            Dim::D => 'd',
            Dim::C => 'c',
            Dim::N => 'n',
        }
    }
}

/// What a size token sees of a blob: ncnn's `Mat::shape()` (unused extents are 1, an empty blob
/// is all 0) and its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extents {
    pub w: i32,
    pub h: i32,
    pub d: i32,
    pub c: i32,
    pub n: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unary {
    // Keep the operand's type.
    Abs,
    Neg,
    Sign,
    Square,
    // Float to int.
    Trunc,
    Ceil,
    Floor,
    Round,
    // Always float.
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    Cos,
    Cosh,
    Erf,
    Exp,
    Log,
    Log10,
    Reciprocal,
    Rsqrt,
    Sin,
    Sinh,
    Sqrt,
    Tan,
    Tanh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binary {
    // Int on two ints, else float.
    Add,
    Sub,
    Mul,
    FloorDiv,
    Max,
    Min,
    // Always float.
    Div,
    Atan2,
    Fmod,
    Pow,
    Remainder,
    LogAddExp,
    // Raw 32 bits as ints.
    And,
    Or,
    Xor,
    Lshift,
    Rshift,
}

const UNARY: &[(&str, Unary)] = &[
    ("abs", Unary::Abs),
    ("neg", Unary::Neg),
    ("sign", Unary::Sign),
    ("square", Unary::Square),
    ("trunc", Unary::Trunc),
    ("ceil", Unary::Ceil),
    ("floor", Unary::Floor),
    ("round", Unary::Round),
    ("acos", Unary::Acos),
    ("acosh", Unary::Acosh),
    ("asin", Unary::Asin),
    ("asinh", Unary::Asinh),
    ("atan", Unary::Atan),
    ("atanh", Unary::Atanh),
    ("cos", Unary::Cos),
    ("cosh", Unary::Cosh),
    ("erf", Unary::Erf),
    ("exp", Unary::Exp),
    ("log", Unary::Log),
    ("log10", Unary::Log10),
    ("reciprocal", Unary::Reciprocal),
    ("rsqrt", Unary::Rsqrt),
    ("sin", Unary::Sin),
    ("sinh", Unary::Sinh),
    ("sqrt", Unary::Sqrt),
    ("tan", Unary::Tan),
    ("tanh", Unary::Tanh),
];

const BINARY: &[(&str, Binary)] = &[
    ("+", Binary::Add),
    ("-", Binary::Sub),
    ("*", Binary::Mul),
    ("//", Binary::FloorDiv),
    ("max", Binary::Max),
    ("min", Binary::Min),
    ("/", Binary::Div),
    ("atan2", Binary::Atan2),
    ("fmod", Binary::Fmod),
    ("pow", Binary::Pow),
    ("remainder", Binary::Remainder),
    ("logaddexp", Binary::LogAddExp),
    ("and", Binary::And),
    ("or", Binary::Or),
    ("xor", Binary::Xor),
    ("lshift", Binary::Lshift),
    ("rshift", Binary::Rshift),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i32),
    Float(f32),
}

impl Value {
    fn as_f32(self) -> f32 {
        match self {
            Value::Int(i) => i as f32,
            Value::Float(f) => f,
        }
    }

    /// The union's int member: a float's raw bits (what ncnn's bitwise operators read).
    fn raw_bits(self) -> i32 {
        match self {
            Value::Int(i) => i,
            Value::Float(f) => f.to_bits() as i32,
        }
    }

    /// C's `(int)f` as x86 computes it: truncation, and `INT_MIN` for NaN or out of range.
    pub fn to_int(self) -> i32 {
        match self {
            Value::Int(i) => i,
            Value::Float(f) => c_int(f64::from(f)),
        }
    }
}

fn c_int(v: f64) -> i32 {
    if v > -2_147_483_649.0 && v < 2_147_483_648.0 {
        v as i32
    } else {
        i32::MIN
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Size { blob: usize, dim: Dim },
    Literal(Value),
    Unary(Unary, Box<Node>),
    Binary(Binary, Box<Node>, Box<Node>),
}

/// A parsed expression list, ready to evaluate against the layer's input shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    items: Vec<Node>,
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token<'a> {
    Open,
    Close,
    Comma,
    Word(&'a str),
}

/// ncnn's tokenizer: `(`, `)` and `,` separate words; nothing else does (not even spaces).
fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        let punct = match ch {
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            _ => continue,
        };
        if start < i {
            tokens.push(Token::Word(&text[start..i]));
        }
        tokens.push(punct);
        start = i + 1;
    }
    if start < text.len() {
        tokens.push(Token::Word(&text[start..]));
    }
    tokens
}

fn size_token(word: &str) -> Option<Node> {
    let b = word.as_bytes();
    if b.len() != 2 || !b[0].is_ascii_digit() {
        return None;
    }
    let dim = match b[1] {
        b'w' => Dim::W,
        b'h' => Dim::H,
        b'd' => Dim::D,
        b'c' => Dim::C,
        b'n' => Dim::N,
        _ => return None,
    };
    Some(Node::Size { blob: usize::from(b[0] - b'0'), dim })
}

/// A literal typed as ncnn types it: int when `sscanf("%d")` and `sscanf("%f")` read the same
/// number, else float. Unlike sscanf, the whole word must be the number.
fn literal(word: &str) -> Option<Value> {
    let f: f32 = word.parse().ok()?;
    // `%d` reads an optional sign and the leading digits.
    let unsigned = word.strip_prefix(['+', '-']).unwrap_or(word);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let prefix = &word[..word.len() - unsigned.len() + digits];
        // Out of int range: glibc's %d wraps, and the wrapped value never equals the float.
        if let Ok(i) = prefix.parse::<i32>() {
            if i as f32 == f {
                return Some(Value::Int(i));
            }
        }
    }
    Some(Value::Float(f))
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn expect(&mut self, want: Token<'static>, context: &str) -> Result<(), String> {
        match self.peek() {
            Some(t) if t == want => {
                self.pos += 1;
                Ok(())
            }
            other => Err(format!("expected {} {context}, found {}", describe(Some(want)), describe(other))),
        }
    }

    fn item(&mut self) -> Result<Node, String> {
        let word = match self.peek() {
            Some(Token::Word(w)) => w,
            other => {
                return Err(format!("expected a number, a size like 0w or an operator, found {}", describe(other)))
            }
        };
        self.pos += 1;
        if let Some(node) = size_token(word) {
            return Ok(node);
        }
        if let Some(&(_, op)) = UNARY.iter().find(|(name, _)| *name == word) {
            let mut args = self.arguments(word, 1)?;
            return Ok(Node::Unary(op, Box::new(args.remove(0))));
        }
        if let Some(&(_, op)) = BINARY.iter().find(|(name, _)| *name == word) {
            let mut args = self.arguments(word, 2)?;
            let b = args.remove(1);
            let a = args.remove(0);
            return Ok(Node::Binary(op, Box::new(a), Box::new(b)));
        }
        if word.len() == 2 && word.as_bytes()[0].is_ascii_digit() && word.as_bytes()[1].is_ascii_alphabetic() {
            return Err(format!("'{word}' is not a size (a bottom index 0-9 and one of w, h, d, c, n)"));
        }
        literal(word).map(Node::Literal).ok_or_else(|| format!("'{word}' is neither a number, a size nor an operator"))
    }

    fn arguments(&mut self, op: &str, arity: usize) -> Result<Vec<Node>, String> {
        let context = format!("after operator '{op}'");
        self.expect(Token::Open, &context)?;
        let mut args = vec![self.item()?];
        while self.peek() == Some(Token::Comma) {
            self.pos += 1;
            args.push(self.item()?);
        }
        self.expect(Token::Close, &format!("to close the arguments of '{op}'"))?;
        if args.len() != arity {
            let plural = if arity == 1 { "" } else { "s" };
            return Err(format!("'{op}' takes {arity} argument{plural}, got {}", args.len()));
        }
        Ok(args)
    }
}

fn describe(t: Option<Token>) -> String {
    match t {
        None => "the end".into(),
        Some(Token::Open) => "'('".into(),
        Some(Token::Close) => "')'".into(),
        Some(Token::Comma) => "','".into(),
        Some(Token::Word(w)) => format!("'{w}'"),
    }
}

impl Expression {
    /// Parses an expression list; the message says what is wrong and where.
    pub fn parse(text: &str) -> Result<Expression, String> {
        let mut p = Parser { tokens: tokenize(text), pos: 0 };
        if p.tokens.is_empty() {
            return Err("the expression is empty".into());
        }
        let mut items = vec![p.item()?];
        while p.peek() == Some(Token::Comma) {
            p.pos += 1;
            items.push(p.item()?);
        }
        if p.pos < p.tokens.len() {
            return Err(format!("unexpected {} after item {}", describe(p.peek()), items.len()));
        }
        Ok(Expression { items })
    }

    /// Number of values the list yields.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many bottoms the expression reads: the highest index referenced, plus one.
    pub fn blob_count(&self) -> usize {
        fn walk(n: &Node) -> usize {
            match n {
                Node::Size { blob, .. } => blob + 1,
                Node::Literal(_) => 0,
                Node::Unary(_, a) => walk(a),
                Node::Binary(_, a, b) => walk(a).max(walk(b)),
            }
        }
        self.items.iter().map(walk).max().unwrap_or(0)
    }

    /// Whether a batch size (`0n`..) is read (in ncnn this switches Reshape to its batch path).
    pub fn reads_batch(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::Size { dim, .. } => *dim == Dim::N,
                Node::Literal(_) => false,
                Node::Unary(_, a) => walk(a),
                Node::Binary(_, a, b) => walk(a) || walk(b),
            }
        }
        self.items.iter().any(walk)
    }

    /// The list's values, each truncated to int as ncnn does.
    pub fn eval(&self, blobs: &[Extents]) -> Result<Vec<i32>, String> {
        self.items.iter().map(|n| eval(n, blobs).map(Value::to_int)).collect()
    }

    /// The list's values before the final conversion to int.
    pub fn eval_values(&self, blobs: &[Extents]) -> Result<Vec<Value>, String> {
        self.items.iter().map(|n| eval(n, blobs)).collect()
    }

    /// The values when they do not depend on any input (a list of constants).
    pub fn constant(&self) -> Option<Vec<i32>> {
        if self.blob_count() > 0 {
            return None;
        }
        self.eval(&[]).ok()
    }

    /// Infix text for people: `96 // @0.n`, sizes as `@<bottom>.<extent>`.
    pub fn infix(&self) -> String {
        self.items.iter().map(|n| infix(n, 0)).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Expression {
    /// ncnn's own syntax (what the param file holds, canonical spacing).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.items.iter().map(prefix).collect();
        write!(f, "{}", items.join(","))
    }
}

fn literal_text(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        // Shortest round-trip text; an integral float only arises beyond int range, where it
        // still reads back as a float.
        Value::Float(x) => format!("{x:?}"),
    }
}

fn unary_name(op: Unary) -> &'static str {
    UNARY.iter().find(|(_, o)| *o == op).map_or("?", |(n, _)| *n)
}

fn binary_name(op: Binary) -> &'static str {
    BINARY.iter().find(|(_, o)| *o == op).map_or("?", |(n, _)| *n)
}

fn prefix(n: &Node) -> String {
    match n {
        Node::Size { blob, dim } => format!("{blob}{}", dim.letter()),
        Node::Literal(v) => literal_text(*v),
        Node::Unary(op, a) => format!("{}({})", unary_name(*op), prefix(a)),
        Node::Binary(op, a, b) => format!("{}({},{})", binary_name(*op), prefix(a), prefix(b)),
    }
}

/// Binding strength of the infix operators (higher binds tighter); functions print as calls.
fn precedence(op: Binary) -> Option<u8> {
    match op {
        Binary::Add | Binary::Sub => Some(1),
        Binary::Mul | Binary::Div | Binary::FloorDiv => Some(2),
        _ => None,
    }
}

fn infix(n: &Node, outer: u8) -> String {
    match n {
        Node::Size { blob, dim } => format!("@{blob}.{}", dim.letter()),
        Node::Literal(v) => literal_text(*v),
        Node::Unary(Unary::Neg, a) => format!("-{}", infix(a, 3)),
        Node::Unary(op, a) => format!("{}({})", unary_name(*op), infix(a, 0)),
        Node::Binary(op, a, b) => match precedence(*op) {
            Some(p) => {
                // Left-associative: the right operand needs parentheses at equal precedence.
                let text = format!("{} {} {}", infix(a, p), binary_name(*op), infix(b, p + 1));
                if p < outer {
                    format!("({text})")
                } else {
                    text
                }
            }
            None => format!("{}({}, {})", binary_name(*op), infix(a, 0), infix(b, 0)),
        },
    }
}

/// The expression parameters a layer type reads: (id, name).
pub fn expression_params(type_name: &str) -> Vec<(u32, &'static str)> {
    let Some(spec) = layer_spec::lookup(type_name) else { return Vec::new() };
    spec.params.iter().filter(|p| p.kind == ParamKind::Expr).map(|p| (p.id, p.name)).collect()
}

/// The layer's expression parameters that are set, parsed: (id, name, expression).
pub fn layer_expressions(type_name: &str, params: &ParamDict) -> Result<Vec<(u32, &'static str, Expression)>, String> {
    let mut out = Vec::new();
    for (id, name) in expression_params(type_name) {
        // ncnn reads a non-string value here as the empty string: no expression.
        let Some(ParamValue::Str(text)) = params.get(id) else { continue };
        if text.is_empty() {
            continue;
        }
        let e = Expression::parse(text).map_err(|m| format!("parameter {id} ({name}) \"{text}\": {m}"))?;
        out.push((id, name, e));
    }
    Ok(out)
}

/// Checks a layer's expressions when its file is read: each parses and reads only bottoms the
/// layer has (ncnn finds either only when it runs, or never).
pub fn check_layer(type_name: &str, params: &ParamDict, bottoms: usize) -> Result<(), String> {
    for (id, name, e) in layer_expressions(type_name, params)? {
        if e.blob_count() > bottoms {
            return Err(format!(
                "parameter {id} ({name}) \"{e}\" reads input {} but the layer has {bottoms} input{}",
                e.blob_count() - 1,
                if bottoms == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(())
}

/// A warning for a Reshape whose expression reads a batch size but that names no batch axes:
/// pnnx writes 12=/13= with such expressions, and ncnn's `ModelWriter` (ncnn2int8, ncnnoptimize)
/// drops them, after which ncnn reshapes on its plain path (a 4-item list gives a 4-D blob).
pub fn lost_batch_axes(type_name: &str, params: &ParamDict) -> Option<String> {
    if type_name != "Reshape" || params.contains(12) || params.contains(13) {
        return None;
    }
    let (_, _, e) = layer_expressions(type_name, params).ok()?.into_iter().next()?;
    e.reads_batch().then(|| {
        format!(
            "shape expression \"{e}\" reads the batch (0n) but 12=/13= (batch axes) are missing, as \
             ncnn2int8 and ncnnoptimize write it; ncnn then reshapes to {} dims instead of dropping the batch",
            e.len()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation

// libm's float functions, which ncnn calls; Rust's own acosh/asinh/atanh differ in the last bit
// and std has no erf.
extern "C" {
    fn acoshf(x: f32) -> f32;
    fn asinhf(x: f32) -> f32;
    fn atanhf(x: f32) -> f32;
    fn erff(x: f32) -> f32;
}

/// C++'s `std::max` / `std::min` on floats (the first operand wins ties and NaN comparisons).
fn c_max(a: f32, b: f32) -> f32 {
    if a < b {
        b
    } else {
        a
    }
}

fn c_min(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}

fn eval(n: &Node, blobs: &[Extents]) -> Result<Value, String> {
    Ok(match n {
        Node::Literal(v) => *v,
        Node::Size { blob, dim } => {
            let e = blobs.get(*blob).ok_or_else(|| {
                format!("size {blob}{} refers to input {blob}, but the layer has {}", dim.letter(), blobs.len())
            })?;
            Value::Int(match dim {
                Dim::W => e.w,
                Dim::H => e.h,
                Dim::D => e.d,
                Dim::C => e.c,
                Dim::N => e.n,
            })
        }
        Node::Unary(op, a) => unary(*op, eval(a, blobs)?),
        Node::Binary(op, a, b) => binary(*op, eval(a, blobs)?, eval(b, blobs)?)?,
    })
}

fn unary(op: Unary, v: Value) -> Value {
    use Unary::{
        Abs, Acos, Acosh, Asin, Asinh, Atan, Atanh, Ceil, Cos, Cosh, Erf, Exp, Floor, Log, Log10, Neg, Reciprocal,
        Round, Rsqrt, Sign, Sin, Sinh, Sqrt, Square, Tan, Trunc,
    };
    match (op, v) {
        (Abs, Value::Int(a)) => Value::Int(if a > 0 { a } else { a.wrapping_neg() }),
        (Neg, Value::Int(a)) => Value::Int(a.wrapping_neg()),
        (Sign, Value::Int(a)) => Value::Int(a.signum()),
        (Square, Value::Int(a)) => Value::Int(a.wrapping_mul(a)),
        (Abs, Value::Float(a)) => Value::Float(a.abs()),
        (Neg, Value::Float(a)) => Value::Float(-a),
        // NaN is neither > 0 nor == 0: -1, as in ncnn.
        (Sign, Value::Float(a)) => Value::Float(if a > 0.0 {
            1.0
        } else if a == 0.0 {
            0.0
        } else {
            -1.0
        }),
        (Square, Value::Float(a)) => Value::Float(a * a),
        (Trunc | Ceil | Floor | Round, Value::Int(a)) => Value::Int(a),
        (Trunc, Value::Float(a)) => Value::Int(c_int(f64::from(a))),
        (Ceil, Value::Float(a)) => Value::Int(c_int(f64::from(a).ceil())),
        (Floor, Value::Float(a)) => Value::Int(c_int(f64::from(a).floor())),
        // C's round: half away from zero, like Rust's.
        (Round, Value::Float(a)) => Value::Int(c_int(f64::from(a).round())),
        (op, v) => {
            let a = v.as_f32();
            // SAFETY: plain libm functions of one float, no pointers.
            Value::Float(match op {
                Acos => a.acos(),
                Acosh => unsafe { acoshf(a) },
                Asin => a.asin(),
                Asinh => unsafe { asinhf(a) },
                Atan => a.atan(),
                Atanh => unsafe { atanhf(a) },
                Cos => a.cos(),
                Cosh => a.cosh(),
                Erf => unsafe { erff(a) },
                Exp => a.exp(),
                Log => a.ln(),
                Log10 => a.log10(),
                Reciprocal => 1.0 / a,
                Rsqrt => 1.0 / a.sqrt(),
                Sin => a.sin(),
                Sinh => a.sinh(),
                Sqrt => a.sqrt(),
                Tan => a.tan(),
                _ => a.tanh(),
            })
        }
    }
}

fn binary(op: Binary, x: Value, y: Value) -> Result<Value, String> {
    use Binary::{Add, And, Atan2, Div, FloorDiv, Fmod, Lshift, Max, Min, Mul, Or, Pow, Remainder, Rshift, Sub, Xor};
    if let (Add | Sub | Mul | FloorDiv | Max | Min, Value::Int(a), Value::Int(b)) = (op, x, y) {
        return Ok(Value::Int(match op {
            Add => a.wrapping_add(b),
            Sub => a.wrapping_sub(b),
            Mul => a.wrapping_mul(b),
            Max => a.max(b),
            Min => a.min(b),
            _ => match (a, b) {
                (_, 0) => return Err(format!("integer division {a} // 0")),
                (i32::MIN, -1) => return Err(format!("integer division {a} // -1 overflows")),
                // C's `/`: truncation toward zero.
                _ => a / b,
            },
        }));
    }
    if let And | Or | Xor | Lshift | Rshift = op {
        let (a, b) = (x.raw_bits(), y.raw_bits());
        // x86 shifts by the count's low 5 bits.
        return Ok(Value::Int(match op {
            And => a & b,
            Or => a | b,
            Xor => a ^ b,
            Lshift => a.wrapping_shl(b as u32),
            _ => a.wrapping_shr(b as u32),
        }));
    }
    let (a, b) = (x.as_f32(), y.as_f32());
    Ok(Value::Float(match op {
        Add => a + b,
        Sub => a - b,
        Mul => a * b,
        FloorDiv => (a / b).floor(),
        Max => c_max(a, b),
        Min => c_min(a, b),
        Div => a / b,
        Atan2 => a.atan2(b),
        Fmod => a % b,
        Pow => a.powf(b),
        Remainder => {
            let r = a % b;
            if a * b < 0.0 {
                r + b
            } else {
                r
            }
        }
        _ => {
            if a.is_nan() {
                a
            } else if b.is_nan() {
                b
            } else if a == b {
                a + std::f32::consts::LN_2
            } else {
                let (hi, lo) = (c_max(a, b), c_min(a, b));
                hi + (lo - hi).exp().ln_1p()
            }
        }
    }))
}

#[cfg(test)]
mod tests;
