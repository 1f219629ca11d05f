//! Float <-> text exactly as ncnn's `.param` reader sees it.
//!
//! ncnn does not use `strtof`: it accumulates integer and fraction digits in 32-bit unsigned
//! integers and applies the exponent in double. To round-trip a float we must print text that
//! *this* parser maps back to the same bits, and reject text it would misread.

/// Parses a float token with ncnn's algorithm. Returns `None` for text that ncnn would misread
/// (digit accumulators overflowing, trailing garbage, no digits).
pub fn parse_ncnn_float(token: &str) -> Option<f32> {
    let bytes = token.as_bytes();
    let mut p = 0;
    let negative = bytes.first() == Some(&b'-');
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        p += 1;
    }
    let mut int_part: u64 = 0;
    let mut digits = 0;
    while p < bytes.len() && bytes[p].is_ascii_digit() {
        int_part = int_part * 10 + u64::from(bytes[p] - b'0');
        if int_part > u64::from(u32::MAX) {
            return None;
        }
        p += 1;
        digits += 1;
    }
    let mut v = int_part as f64;
    if p < bytes.len() && bytes[p] == b'.' {
        p += 1;
        let mut frac: u64 = 0;
        let mut pow10: u64 = 1;
        while p < bytes.len() && bytes[p].is_ascii_digit() {
            frac = frac * 10 + u64::from(bytes[p] - b'0');
            pow10 *= 10;
            // ncnn's pow10 is a 32-bit unsigned int: a tenth fraction digit overflows it.
            if pow10 > u64::from(u32::MAX) || frac > u64::from(u32::MAX) {
                return None;
            }
            p += 1;
            digits += 1;
        }
        v += frac as f64 / pow10 as f64;
    }
    if digits == 0 {
        return None;
    }
    if p < bytes.len() && (bytes[p] == b'e' || bytes[p] == b'E') {
        p += 1;
        let exp_positive = bytes.get(p) != Some(&b'-');
        if matches!(bytes.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        let start = p;
        let mut expon: u32 = 0;
        while p < bytes.len() && bytes[p].is_ascii_digit() {
            expon = expon.checked_mul(10)?.checked_add(u32::from(bytes[p] - b'0'))?;
            p += 1;
        }
        if p == start {
            return None;
        }
        let mut scale = 1.0f64;
        while expon >= 8 {
            scale *= 1e8;
            expon -= 8;
        }
        while expon > 0 {
            scale *= 10.0;
            expon -= 1;
        }
        v = if exp_positive { v * scale } else { v / scale };
    }
    if p != bytes.len() {
        return None;
    }
    Some(if negative { -(v as f32) } else { v as f32 })
}

/// C's `printf("%.*e", precision, v)` for finite values.
pub fn c_exponent(v: f32, precision: usize) -> String {
    let s = format!("{v:.precision$e}");
    // Rust prints `1.5e-3`; C prints `1.5e-03`.
    let (mantissa, exp) = s.split_once('e').expect("exponent format");
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// The text ncnn's tools would write (`%e`) when ncnn's reader maps it back to the same bits;
/// otherwise the shortest longer form that does. Always at most 15 characters.
pub fn format_ncnn_float(v: f32) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    for precision in 6..=8 {
        let text = c_exponent(v, precision);
        if parse_ncnn_float(&text).map(f32::to_bits) == Some(v.to_bits()) {
            return Some(text);
        }
    }
    Some(c_exponent(v, 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_ncnn() {
        assert_eq!(parse_ncnn_float("1.000000e-03"), Some(1e-3));
        assert_eq!(parse_ncnn_float("-0.5"), Some(-0.5));
        assert_eq!(parse_ncnn_float("3e2"), Some(300.0));
        assert_eq!(parse_ncnn_float("1.5E+1"), Some(15.0));
        assert_eq!(parse_ncnn_float(".25"), Some(0.25));
        assert_eq!(parse_ncnn_float("1.2345678901"), None, "ten fraction digits overflow");
        assert_eq!(parse_ncnn_float("1.0x"), None);
        assert_eq!(parse_ncnn_float("e5"), None);
    }

    #[test]
    fn c_style_exponent() {
        assert_eq!(c_exponent(1e-3, 6), "1.000000e-03");
        assert_eq!(c_exponent(123.0, 6), "1.230000e+02");
        assert_eq!(c_exponent(-1.0 / 6.0, 6), "-1.666667e-01");
    }

    #[test]
    fn formatted_floats_round_trip_through_ncnn_parser() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let text = format_ncnn_float(v).unwrap();
            assert!(text.len() <= 15, "{text}");
            let back = parse_ncnn_float(&text).unwrap();
            assert!(back.to_bits() == v.to_bits() || (back - v).abs() <= v.abs() * 2e-7, "{v:e} -> {text} -> {back:e}");
        }
        assert_eq!(format_ncnn_float(0.1).unwrap(), "1.000000e-01");
    }
}
