//! Looking at JSON text without building it: every member name with
//! where its value starts, and the length of a string as it decodes.
//!
//! For hot paths that need one or two facts from a document (a stream
//! event's text length, whether a usage member is null) and would otherwise
//! parse every event into a `serde_json::Value`. Strings are skipped whole,
//! so a name inside one is never taken for a member. Nothing here checks
//! the whole grammar: callers that rely on the text being valid JSON parse
//! it.

/// What [`walk_members`] calls for each member: `(name, value)` → bytes read.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Option<usize> + 'a;

/// Every member of a JSON text, in one pass: `visit(name, value)` for each
/// (`value` where the member's value starts, whitespace skipped), strings
/// skipped whole so a name inside one is never taken for a member;
/// `visit` says where to go on (how many bytes of the value it read), or
/// stops the walk (`None`). `false` when the text has a string that is
/// not well formed or `visit` stopped.
pub fn walk_members(text: &[u8], visit: &mut Visit<'_>) -> bool {
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
/// with a well-formed string. (A string with escapes, the rare case, is
/// decoded by serde_json.)
pub fn string_len(value: &[u8]) -> Option<u64> {
    if !value.starts_with(b"\"") {
        return None;
    }
    let end = string_end(value)?;
    let raw = &value[1..end - 1];
    if !raw.contains(&b'\\') {
        return Some(raw.len() as u64);
    }
    serde_json::from_slice::<String>(&value[..end]).ok().map(|s| s.len() as u64)
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
        // Escaped forms of the same characters; a lone surrogate is no
        // string serde_json reads (so the full decode refuses it too).
        assert_eq!(string_len(br#""\u00e9\u65e5\ud83d\ude00\/""#), Some(2 + 3 + 4 + 1));
        assert_eq!(string_len(br#""\ud83d x""#), None);
        assert!(serde_json::from_str::<serde_json::Value>(r#""\ud83d x""#).is_err());
        assert_eq!(string_len(b"\"open"), None);
        assert_eq!(string_len(b"null"), None);
        assert_eq!(string_len(br#""\u12""#), None);
    }

    #[test]
    fn walk_members_sees_every_member_once_and_no_name_inside_a_string() {
        let text = br#"{"a" : "x\"b\":1", "c":{"d":[1,{"e":null}]}, "f":"\\"}"#;
        let mut seen = Vec::new();
        assert!(walk_members(text, &mut |name, value| {
            seen.push((String::from_utf8_lossy(name).into_owned(), value[0]));
            Some(0)
        }));
        assert_eq!(seen, [("a".into(), b'"'), ("c".into(), b'{'), ("d".into(), b'['), ("e".into(), b'n'), ("f".into(), b'"')]);
        assert!(!walk_members(br#"{"a":"open}"#, &mut |_, _| Some(0)));
        assert!(!walk_members(br#"{"a":1}"#, &mut |_, _| None));
    }
}
