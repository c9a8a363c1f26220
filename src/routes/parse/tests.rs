//! Tests of the `.route` front end.

use super::*;

#[test]
fn smoke() {
    let (f, d) = parse_file(0, "provider a { kind openai }");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(f.items.len(), 1);
}
