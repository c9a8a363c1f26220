//! JSON text written by hand, for the few documents the Worker writes on
//! every request (the log line, the attempt trail): no `serde` pass, no
//! intermediate values; the same text `serde_json` would write.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_serde_json() {
        for text in ["", "plain", "a\"b\\c", "tab\there\nnl\r", "\u{1}\u{1f}\u{7f}\u{8}\u{c}", "é ünï 字 🚀", "x</script>"] {
            let mut out = String::new();
            quote(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

}
