//! JSON text written by hand, for the documents the Worker writes (answers
//! and stream chunks in both dialects, error bodies, the log line, the
//! attempt trail, the objects' messages, answers and state): no `serde`
//! pass, no intermediate values, no derived `Serialize` impls (each one a
//! copy of `serde_json`'s writer per field type); the same text
//! `serde_json` would write. Each writer is tested against the derive it
//! replaced, which is kept for the tests only.

/// Appends `text` as a JSON string (quoted, escaped as `serde_json` does).
pub fn quote(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Appends `,"name":` (`name` needs no escaping; `first`: without the comma).
pub fn key(out: &mut String, name: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

/// Appends a number, or `null`.
pub fn number(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => out.push_str(&n.to_string()),
        None => out.push_str("null"),
    }
}

/// Appends an unsigned integer.
pub fn uint(out: &mut String, n: u64) {
    out.push_str(&n.to_string());
}

/// Appends a signed integer (as wide as the stored bucket levels).
///
/// Through `u64`'s `Display` when the magnitude fits (always, in practice):
/// `i128`'s own brings core's 128-bit formatting into the Worker.
pub fn int(out: &mut String, n: i128) {
    if n < 0 {
        out.push('-');
    }
    let mut m = n.unsigned_abs();
    if let Ok(small) = u64::try_from(m) {
        out.push_str(&small.to_string());
        return;
    }
    let mut digits = [0u8; 39];
    let mut at = digits.len();
    while m > 0 {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Appends `true` or `false`.
pub fn boolean(out: &mut String, b: bool) {
    out.push_str(if b { "true" } else { "false" });
}

/// Appends `null` for a field that is always `null` (a `()` the derive writes so).
pub fn null(out: &mut String, _: &()) {
    out.push_str("null");
}

/// Appends `text` quoted, or `null`.
pub fn text_or_null(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => quote(out, text),
        None => out.push_str("null"),
    }
}

/// Appends a float as `serde_json` writes it (shortest round-trip text,
/// `null` when not finite), or `null`.
pub fn float(out: &mut String, n: Option<f64>) {
    match n {
        Some(n) => out.push_str(&serde_json::to_string(&n).unwrap_or_default()),
        None => out.push_str("null"),
    }
}

/// Appends a `serde_json::Value` (the one writer the provider requests use too).
pub fn value(out: &mut String, v: &serde_json::Value) {
    out.push_str(&value_text(v));
}

/// A `serde_json::Value` as compact JSON text: what its `Display` writes,
/// through the writer the provider requests use (`Display` brings its own
/// two copies, the compact and the pretty one).
pub fn value_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Appends `[…]`, each item by `write`.
pub fn array<T>(out: &mut String, items: &[T], write: impl Fn(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(out, item);
    }
    out.push(']');
}

/// Something written as one JSON document (a message, an answer, stored state).
pub trait ToJson {
    /// Appends the document to `out`.
    fn write_json(&self, out: &mut String);

    /// The document alone.
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        self.write_json(&mut out);
        out
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        quote(out, self);
    }
}

impl ToJson for serde_json::Value {
    fn write_json(&self, out: &mut String) {
        value(out, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_display_writes_them() {
        for n in [0, 1, -1, 9, -10, i128::from(u64::MAX), -i128::from(u64::MAX), i128::from(u64::MAX) + 1, i128::MAX, i128::MIN, -(1 << 70)] {
            let mut out = String::new();
            int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn quoting_matches_serde_json() {
        for text in ["", "plain", "a\"b\\c", "tab\there\nnl\r", "\u{1}\u{1f}\u{7f}\u{8}\u{c}", "é ünï 字 🚀", "x</script>"] {
            let mut out = String::new();
            quote(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn value_text_is_what_display_writes() {
        let v = serde_json::json!({"b": [1, 2.5, null, true], "a": "x\"\n", "c": {}, "d": -3, "e": 1e300});
        for v in [v.clone(), v["b"].clone(), v["a"].clone(), serde_json::Value::Null] {
            assert_eq!(value_text(&v), v.to_string());
        }
    }

    #[test]
    fn scalars_match_serde_json() {
        let mut out = String::new();
        for n in [0u64, 7, u64::MAX] {
            out.clear();
            uint(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
        for n in [0i128, -5, i128::MAX, i128::MIN] {
            out.clear();
            int(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
        for n in [None, Some(0.0), Some(-0.0), Some(1.5), Some(1e20), Some(1e-7), Some(123.456), Some(f64::NAN), Some(f64::INFINITY)] {
            out.clear();
            float(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap(), "{n:?}");
        }
        for b in [true, false] {
            out.clear();
            boolean(&mut out, b);
            assert_eq!(out, serde_json::to_string(&b).unwrap());
        }
        for t in [None, Some("a\"b")] {
            out.clear();
            text_or_null(&mut out, t);
            assert_eq!(out, serde_json::to_string(&t).unwrap());
        }
        out.clear();
        array(&mut out, &[1u64, 2, 3], |out, n| uint(out, *n));
        assert_eq!(out, "[1,2,3]");
        out.clear();
        array(&mut out, &[] as &[u64], |out, n| uint(out, *n));
        assert_eq!(out, "[]");
    }

}
