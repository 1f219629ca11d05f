use super::*;

/// Blob 0 is 7×3×1×5 (w,h,d,c), blob 1 is 1-D of 12.
const BLOBS: [Extents; 2] = [Extents { w: 7, h: 3, d: 1, c: 5, n: 1 }, Extents { w: 12, h: 1, d: 1, c: 1, n: 1 }];

fn values(text: &str) -> Vec<Value> {
    Expression::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).eval_values(&BLOBS).unwrap()
}

fn one(text: &str) -> Value {
    let v = values(text);
    assert_eq!(v.len(), 1, "{text}");
    v[0]
}

fn ints(text: &str) -> Vec<i32> {
    Expression::parse(text).unwrap().eval(&BLOBS).unwrap()
}

fn error(text: &str) -> String {
    match Expression::parse(text) {
        Ok(e) => panic!("{text} parsed as {e:?}"),
        Err(m) => m,
    }
}

#[test]
fn sizes_read_the_bottoms_shapes() {
    assert_eq!(ints("0w,0h,0d,0c,0n,1w,1h,1c"), vec![7, 3, 1, 5, 1, 12, 1, 1]);
    let e = Expression::parse("1,1,//(96,0n),0n").unwrap();
    assert_eq!(e.len(), 4);
    assert_eq!(e.blob_count(), 1);
    assert!(e.reads_batch());
    assert_eq!(e.eval(&BLOBS[..1]).unwrap(), vec![1, 1, 96, 1]);
    assert_eq!(Expression::parse("*(1c,2)").unwrap().blob_count(), 2);
    assert!(!Expression::parse("0w,1c").unwrap().reads_batch());
}

#[test]
fn literals_are_int_when_percent_d_and_percent_f_agree() {
    assert_eq!(one("3"), Value::Int(3));
    assert_eq!(one("-3"), Value::Int(-3));
    assert_eq!(one("+3"), Value::Int(3));
    assert_eq!(one("2.0"), Value::Int(2), "sscanf %d reads 2, %f reads 2.0: equal, so int");
    assert_eq!(one("3e0"), Value::Int(3));
    assert_eq!(one("-0.0"), Value::Int(0));
    assert_eq!(one("2.5"), Value::Float(2.5));
    assert_eq!(one("1e3"), Value::Float(1000.0), "%d reads 1, %f 1000");
    assert_eq!(one(".5"), Value::Float(0.5));
    assert_eq!(one("16777217"), Value::Int(16_777_217), "compared as floats, like ncnn");
    assert_eq!(one("3000000000"), Value::Float(3e9), "beyond int: float");
}

#[test]
fn int_arithmetic_stays_int_and_wraps() {
    assert_eq!(one("+(0w,2)"), Value::Int(9));
    assert_eq!(one("-(0w,2)"), Value::Int(5), "first argument minus second");
    assert_eq!(one("*(0h,0c)"), Value::Int(15));
    assert_eq!(one("max(0w,0c)"), Value::Int(7));
    assert_eq!(one("min(0w,0c)"), Value::Int(5));
    assert_eq!(one("+(2147483647,1)"), Value::Int(i32::MIN));
    assert_eq!(one("*(65536,65536)"), Value::Int(0));
}

#[test]
fn integer_floor_division_truncates_toward_zero() {
    assert_eq!(one("//(7,2)"), Value::Int(3));
    assert_eq!(one("//(-7,2)"), Value::Int(-3), "C division, not Python's -4");
    assert_eq!(one("//(7,-2)"), Value::Int(-3));
    assert_eq!(one("//(-7,-2)"), Value::Int(3));
    assert_eq!(one("//(neg(0w),2)"), Value::Int(-3));
    let zero = Expression::parse("//(0w,-(0h,3))").unwrap().eval(&BLOBS).unwrap_err();
    assert!(zero.contains("7 // 0"), "{zero}");
    let overflow = Expression::parse("//(-2147483648,-1)").unwrap().eval(&BLOBS).unwrap_err();
    assert!(overflow.contains("overflows"), "{overflow}");
}

#[test]
fn a_float_operand_promotes_and_floor_division_floors() {
    assert_eq!(one("+(0w,0.5)"), Value::Float(7.5));
    assert_eq!(one("*(2.5,2)"), Value::Float(5.0), "stays float even when integral");
    assert_eq!(one("//(7.5,2)"), Value::Float(3.0));
    assert_eq!(one("//(-7.5,2)"), Value::Float(-4.0), "floorf for floats");
    assert_eq!(one("//(1.5,0)"), Value::Float(f32::INFINITY), "no error for floats");
    assert_eq!(one("max(2.5,0w)"), Value::Float(7.0));
    assert_eq!(one("min(2.5,0w)"), Value::Float(2.5));
    assert_eq!(ints("*(2.5,0w)"), vec![17], "the list item is truncated");
    assert_eq!(ints("*(-2.5,0w)"), vec![-17], "truncated toward zero");
}

#[test]
fn division_and_float_binaries_always_give_floats() {
    assert_eq!(one("/(0w,2)"), Value::Float(3.5));
    assert_eq!(one("/(6,2)"), Value::Float(3.0));
    assert_eq!(one("pow(2,10)"), Value::Float(1024.0));
    assert_eq!(one("fmod(-7,3)"), Value::Float(-1.0));
    assert_eq!(one("remainder(-7,3)"), Value::Float(2.0), "fmod + b when the signs differ");
    assert_eq!(one("remainder(-6,3)"), Value::Float(3.0), "ncnn adds b even when fmod is zero");
    assert_eq!(one("remainder(7,3)"), Value::Float(1.0));
    assert_eq!(one("atan2(1,1)"), Value::Float(std::f32::consts::FRAC_PI_4));
    assert_eq!(one("logaddexp(0,0)"), Value::Float(std::f32::consts::LN_2));
    let Value::Float(v) = one("logaddexp(1,2)") else { panic!() };
    assert!((v - (1f32.exp() + 2f32.exp()).ln()).abs() < 1e-6);
}

#[test]
fn unaries_keep_or_change_the_type_as_ncnn_does() {
    assert_eq!(one("abs(-(0h,0w))"), Value::Int(4));
    assert_eq!(one("neg(0w)"), Value::Int(-7));
    assert_eq!(one("sign(-(0h,0w))"), Value::Int(-1));
    assert_eq!(one("sign(0)"), Value::Int(0));
    assert_eq!(one("square(0h)"), Value::Int(9));
    assert_eq!(one("abs(-2.5)"), Value::Float(2.5));
    assert_eq!(one("neg(2.5)"), Value::Float(-2.5));
    assert_eq!(one("sign(-2.5)"), Value::Float(-1.0), "stays float");
    assert_eq!(one("square(1.5)"), Value::Float(2.25));
    assert_eq!(one("trunc(-2.5)"), Value::Int(-2));
    assert_eq!(one("ceil(2.1)"), Value::Int(3));
    assert_eq!(one("floor(-2.1)"), Value::Int(-3));
    assert_eq!(one("round(2.5)"), Value::Int(3), "half away from zero");
    assert_eq!(one("round(-2.5)"), Value::Int(-3));
    assert_eq!(one("floor(0w)"), Value::Int(7), "ints pass through");
    assert_eq!(one("sqrt(0c)"), Value::Float(5f32.sqrt()));
    assert_eq!(one("rsqrt(4)"), Value::Float(0.5));
    assert_eq!(one("reciprocal(4)"), Value::Float(0.25));
    assert_eq!(one("exp(0)"), Value::Float(1.0));
    assert_eq!(one("log(1)"), Value::Float(0.0));
    assert_eq!(one("log10(100)"), Value::Float(2.0));
    for (f, x) in [
        ("sin", 0.5f32.sin()),
        ("cos", 0.5f32.cos()),
        ("tan", 0.5f32.tan()),
        ("asin", 0.5f32.asin()),
        ("acos", 0.5f32.acos()),
        ("atan", 0.5f32.atan()),
        ("sinh", 0.5f32.sinh()),
        ("cosh", 0.5f32.cosh()),
        ("tanh", 0.5f32.tanh()),
        ("asinh", 0.5f32.asinh()),
        ("atanh", 0.5f32.atanh()),
        ("erf", 0.520_499_9),
    ] {
        let Value::Float(v) = one(&format!("{f}(0.5)")) else { panic!("{f}") };
        assert!((v - x).abs() < 1e-6, "{f}: {v} vs {x}");
    }
    let Value::Float(v) = one("acosh(2)") else { panic!() };
    assert!((v - 1.316_958).abs() < 1e-6);
}

#[test]
fn bitwise_operators_read_raw_bits() {
    assert_eq!(one("and(0w,0c)"), Value::Int(5));
    assert_eq!(one("or(0w,8)"), Value::Int(15));
    assert_eq!(one("xor(0w,0c)"), Value::Int(2));
    assert_eq!(one("lshift(0h,4)"), Value::Int(48));
    assert_eq!(one("rshift(-16,2)"), Value::Int(-4), "arithmetic shift");
    assert_eq!(one("lshift(1,33)"), Value::Int(2), "x86 uses the count's low 5 bits");
    assert_eq!(one("and(1.5,-1)"), Value::Int(1.5f32.to_bits() as i32), "a float's bits");
}

#[test]
fn nesting_and_lists() {
    assert_eq!(ints("-1,*(0h,2),+(1w,2)"), vec![-1, 6, 14]);
    assert_eq!(ints("+(*(-2,1),10)"), vec![8]);
    assert_eq!(ints("floor(/(+(0w,1),2)),max(min(0w,0h),0c)"), vec![4, 5]);
    assert_eq!(ints("//(*(0w,0h),square(+(1,1)))"), vec![5]);
}

#[test]
fn float_to_int_follows_x86() {
    assert_eq!(ints("*(1e10,1)"), vec![i32::MIN]);
    assert_eq!(ints("sqrt(-1)"), vec![i32::MIN], "NaN");
    assert_eq!(one("sign(sqrt(-1))"), Value::Float(-1.0));
}

#[test]
fn malformed_expressions_say_what_is_wrong() {
    assert!(error("").contains("empty"));
    assert!(error("1,1,//(96,0n").contains("expected ')'"), "{}", error("1,1,//(96,0n"));
    assert!(error("//(96)").contains("takes 2 arguments, got 1"));
    assert!(error("neg(1,2)").contains("takes 1 argument, got 2"));
    assert!(error("+,1,2").contains("expected '(' after operator '+'"), "ncnn would take the tokens as prefix");
    assert!(error("10w").contains("'10w'"), "ncnn's sscanf would read 10");
    assert!(error("0x").contains("not a size"));
    assert!(error("foo(1)").contains("'foo'"));
    assert!(error("1 ,2").contains("'1 '"), "spaces are part of ncnn's tokens");
    assert!(error("1)").contains("unexpected ')'"));
    assert!(error("(1)").contains("found '('"));
    assert!(error("1,,2").contains("found ','"));
    let missing = Expression::parse("+(0w,2w)").unwrap().eval(&BLOBS).unwrap_err();
    assert!(missing.contains("input 2, but the layer has 2"), "{missing}");
}

#[test]
fn text_forms() {
    let e = Expression::parse("1,1,//(96,0n),0n").unwrap();
    assert_eq!(e.to_string(), "1,1,//(96,0n),0n");
    assert_eq!(e.infix(), "1, 1, 96 // @0.n, @0.n");
    let e = Expression::parse("*(-(0w,1),+(0h,2)),-(0c,-(1,0h)),floor(/(0w,2.5))").unwrap();
    assert_eq!(e.infix(), "(@0.w - 1) * (@0.h + 2), @0.c - (1 - @0.h), floor(@0.w / 2.5)");
    assert_eq!(Expression::parse(&e.to_string()).unwrap(), e);
    assert_eq!(Expression::parse("neg(0w),max(0w,1)").unwrap().infix(), "-@0.w, max(@0.w, 1)");
    assert_eq!(Expression::parse("4,*(2,3)").unwrap().constant(), Some(vec![4, 6]));
    assert_eq!(Expression::parse("4,0w").unwrap().constant(), None);
}

#[test]
fn a_batch_read_without_batch_axes_is_flagged() {
    let mut p = ParamDict::new();
    p.set(6, ParamValue::Str("1,1,//(96,0n),0n".into()));
    let w = lost_batch_axes("Reshape", &p).unwrap();
    assert!(w.contains("12=/13=") && w.contains("4 dims"), "{w}");
    p.set_int(12, 0);
    p.set_int(13, 0);
    assert_eq!(lost_batch_axes("Reshape", &p), None);
    let mut plain = ParamDict::new();
    plain.set(6, ParamValue::Str("0w,-1".into()));
    assert_eq!(lost_batch_axes("Reshape", &plain), None);
}
