//! A decimal number's text read as an `f64`, for the Worker's size.
//!
//! `str::parse::<f64>` brings core's correctly rounding reader and its
//! table of 128-bit powers of five (10 KB of data that gzip cannot shrink)
//! into the Worker, for three header values (`retry-after`,
//! `retry-after-ms`, a cost in exponent notation). [`parse_f64`] accepts
//! the same texts and gives the same value whenever the digits fit in 53
//! bits and the decimal exponent is within ±22 (the exact "fast path" core
//! takes too: one correctly rounded multiplication or division); beyond
//! that the value is within a few units in the last place (and the few
//! texts within those of `f64::MAX` may read as infinity), which the
//! callers (that round to whole milliseconds or billionths) never see.

/// The number `text` spells in `str::parse::<f64>`'s grammar: an optional
/// sign, then `inf`, `infinity`, `nan` (any case) or digits with an
/// optional `.` and an optional exponent (`e`/`E`, optional sign, digits).
/// `None` for anything else (no whitespace, no `_`).
pub fn parse_f64(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let (negative, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let v = if b.eq_ignore_ascii_case(b"inf") || b.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else if b.eq_ignore_ascii_case(b"nan") {
        f64::NAN
    } else {
        number(b)?
    };
    Some(if negative { -v } else { v })
}

/// Digits, an optional `.`, an optional exponent; unsigned.
fn number(b: &[u8]) -> Option<f64> {
    let mut mantissa = 0u64;
    // The power of ten the mantissa's last digit stands for.
    let mut exp = 0i64;
    let mut exact = true;
    let mut any_digit = false;
    let mut dot = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            any_digit = true;
            let d = u64::from(c - b'0');
            if mantissa < 1_000_000_000_000_000_000 {
                mantissa = mantissa * 10 + d;
                exp -= i64::from(dot);
            } else {
                // More digits than a u64 holds: the rest only scales.
                exact &= d == 0;
                exp += i64::from(!dot);
            }
        } else if c == b'.' && !dot {
            dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if i < b.len() {
        if !b[i].eq_ignore_ascii_case(&b'e') {
            return None;
        }
        i += 1;
        let negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        if i == b.len() {
            return None;
        }
        let mut e = 0i64;
        for &c in &b[i..] {
            if !c.is_ascii_digit() {
                return None;
            }
            e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
        }
        exp += if negative { -e } else { e };
    }
    if mantissa == 0 {
        return Some(0.0);
    }
    let m = mantissa as f64;
    if exact && mantissa <= 1 << 53 && (-22..=22).contains(&exp) {
        // Both operands exact: one correctly rounded operation.
        let mut p = 1.0;
        for _ in 0..exp.unsigned_abs() {
            p *= 10.0;
        }
        return Some(if exp < 0 { m / p } else { m * p });
    }
    let exp = exp.clamp(-800, 800) as i32;
    // In two halves, so that a tiny or huge power does not leave the range
    // before the mantissa scales it back.
    Some(m * 10f64.powi(exp / 2) * 10f64.powi(exp - exp / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(text: &str) {
        let core = text.parse::<f64>().ok();
        let ours = parse_f64(text);
        match (core, ours) {
            (None, None) => {}
            (Some(a), Some(b)) if a.is_nan() => assert!(b.is_nan(), "{text}"),
            (Some(a), Some(b)) => {
                let close = a == b || ((a - b) / a).abs() < 1e-14 || (a.abs() < 1e-300 && b.abs() < 1e-300)
                    || (a.abs() > 1.79e308 && b == a.signum() * f64::INFINITY);
                assert!(close, "{text}: {a} vs {b}");
            }
            _ => panic!("{text}: {core:?} vs {ours:?}"),
        }
    }

    #[test]
    fn reads_what_core_reads() {
        for t in [
            "0", "1", "-1", "+1", "1.5", ".5", "5.", ".", "", "+", "-", "e5", "1e", "1e+", "1e-", "1e5", "1E5", "1e+5",
            "1e-5", "-0", "-0.0", "00012", "0.0005", "12.34.5", "1_000", " 1", "1 ", "inf", "-inf", "+Infinity", "NaN",
            "nan", "infinit", "0x10", "1e400", "1e-400", "-1e400", "123456789012345678901234567890",
            "0.000000000000000000000000000001", "9007199254740993", "9007199254740992", "179769313486231570e291",
            "4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "1e22", "1e23", "3.14159", "0.1",
            "0.30000000000000004", "1e1000000000000", "1e-1000000000000", "0e999999", "１",
        ] {
            same(t);
        }
    }

    #[test]
    fn exact_on_the_fast_path_and_close_elsewhere() {
        // A small linear congruential generator: deterministic texts.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..next(20) {
                t.push((b'0' + next(10) as u8) as char);
            }
            if next(2) == 0 {
                t.push('.');
                for _ in 0..next(20) {
                    t.push((b'0' + next(10) as u8) as char);
                }
            }
            if next(3) == 0 {
                t.push('e');
                if next(2) == 0 {
                    t.push('-');
                }
                t.push_str(&next(40).to_string());
            }
            same(&t);
            let digits = t.bytes().filter(u8::is_ascii_digit).count();
            if digits <= 15 && !t.contains('e') {
                assert_eq!(parse_f64(&t).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{t}");
            }
        }
    }
}
