//! Looking at JSON text without building it: the values that follow a
//! member name, and the length of a string as it decodes.
//!
//! For hot paths that need one or two facts from a document (a stream
//! event's text length, whether a usage member is null) and would otherwise
//! parse every event into a `serde_json::Value`. A member name found this
//! way is always a real member name: a quote inside a JSON string is
//! escaped, so `"name":` cannot occur inside one. Nothing here checks the
//! whole grammar: callers that rely on the text being valid JSON parse it.

/// What follows each `key` (a quoted member name) and its colon in `text`
/// (JSON whitespace skipped): where the member's value starts.
pub fn member_values<'a>(text: &'a [u8], key: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || loop {
        // Only a quote can start the key: look at quotes, not at every byte.
        from += text.get(from..)?.iter().position(|&b| b == b'"')?;
        let rest = &text[from..];
        from += 1;
        if let Some(after) = rest.strip_prefix(key) {
            if let Some(value) = skip_space(after).strip_prefix(b":") {
                from += key.len() - 1;
                return Some(skip_space(value));
            }
        }
    })
}

/// Every member of a JSON text, in one pass: `visit(name, value)` for each
/// (`value` where the member's value starts, whitespace skipped), strings
/// skipped whole so a name inside one is never taken for a member;
/// `visit` says where to go on (how many bytes of the value it read), or
/// stops the walk (`None`). `false` when the text has a string that is
/// not well formed or `visit` stopped.
pub fn walk_members(text: &[u8], mut visit: impl FnMut(&[u8], &[u8]) -> Option<usize>) -> bool {
    let mut at = 0;
    while let Some(q) = text[at..].iter().position(|&b| b == b'"') {
        let start = at + q;
        let Some(end) = string_end(&text[start..]) else { return false };
        at = start + end;
        if let Some(value) = skip_space(&text[at..]).strip_prefix(b":") {
            let value = skip_space(value);
            let value_at = text.len() - value.len();
            let Some(read) = visit(&text[start + 1..start + end - 1], value) else { return false };
            at = value_at + read;
        }
    }
    true
}

/// The length of the string `value` starts with, quotes included.
fn string_end(value: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        i += value.get(i..)?.iter().position(|&b| b == b'"' || b == b'\\')?;
        if value[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// `bytes` without the JSON whitespace they start with.
pub fn skip_space(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The UTF-8 length of the string that `value` starts with (at its opening
/// quote) once its escapes are decoded; `None` when `value` does not start
/// with a well-formed string.
pub fn string_len(value: &[u8]) -> Option<u64> {
    let mut rest = value.strip_prefix(b"\"")?;
    let mut len = 0u64;
    loop {
        let (&b, after) = rest.split_first()?;
        rest = after;
        match b {
            b'"' => return Some(len),
            b'\\' => {
                let (&e, after) = rest.split_first()?;
                rest = after;
                if e != b'u' {
                    len += 1;
                    continue;
                }
                let unit = hex4(rest)?;
                rest = &rest[4..];
                len += match unit {
                    0..=0x7f => 1,
                    0x80..=0x7ff => 2,
                    // A high surrogate and its low half: one 4-byte character.
                    0xd800..=0xdbff if rest.starts_with(b"\\u") && hex4(&rest[2..]).is_some_and(|lo| (0xdc00..=0xdfff).contains(&lo)) => {
                        rest = &rest[6..];
                        4
                    }
                    // A lone surrogate decodes to U+FFFD.
                    _ => 3,
                };
            }
            _ => len += 1,
        }
    }
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..4)?;
    let mut n = 0;
    for &d in digits {
        n = n * 16 + (d as char).to_digit(16)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_len_is_the_decoded_utf8_length() {
        for text in ["", "hello", "a\"b\\c\n\t/", "é ü ß", "日本", "😀", "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}"] {
            let json = serde_json::to_string(text).unwrap();
            assert_eq!(string_len(json.as_bytes()), Some(text.len() as u64), "{json}");
        }
        // Escaped forms of the same characters, and a lone surrogate (U+FFFD).
        assert_eq!(string_len(br#""\u00e9\u65e5\ud83d\ude00\/""#), Some(2 + 3 + 4 + 1));
        assert_eq!(string_len(br#""\ud83d x""#), Some(3 + 2));
        let lone: String = serde_json::from_str(r#""\ud83d x""#).unwrap_or_default();
        assert!(lone.is_empty() || lone.len() == 5);
        assert_eq!(string_len(b"\"open"), None);
        assert_eq!(string_len(b"null"), None);
        assert_eq!(string_len(br#""\u12""#), None);
    }

    #[test]
    fn member_values_skip_space_and_names_inside_strings() {
        let text = br#"{"a" : 1, "b":"\"a\":2", "c":{"a":[3]}}"#;
        let found: Vec<&[u8]> = member_values(text, b"\"a\"").collect();
        assert_eq!(found.len(), 2);
        assert!(found[0].starts_with(b"1,"));
        assert!(found[1].starts_with(b"[3]"));
    }

    #[test]
    fn walk_members_sees_every_member_once_and_no_name_inside_a_string() {
        let text = br#"{"a" : "x\"b\":1", "c":{"d":[1,{"e":null}]}, "f":"\\"}"#;
        let mut seen = Vec::new();
        assert!(walk_members(text, |name, value| {
            seen.push((String::from_utf8_lossy(name).into_owned(), value[0]));
            Some(0)
        }));
        assert_eq!(seen, [("a".into(), b'"'), ("c".into(), b'{'), ("d".into(), b'['), ("e".into(), b'n'), ("f".into(), b'"')]);
        assert!(!walk_members(br#"{"a":"open}"#, |_, _| Some(0)));
        assert!(!walk_members(br#"{"a":1}"#, |_, _| None));
    }
}
