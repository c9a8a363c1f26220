//! Mapping a slice into a `Vec` with a plain loop, for the Worker's size.
//!
//! `iter().map(f).collect()` (and its `Result` form) makes the compiler
//! copy a chain of iterator adapters (`from_iter`, `try_fold`,
//! `GenericShunt`, `extend_trusted`, …) for every call site; these loops
//! are one small function per site. Use them in code that goes into the
//! Worker when a slice is mapped element by element.

/// `f` applied to each element of `items` (with its index).
pub fn map<'a, T, U>(items: &'a [T], mut f: impl FnMut(usize, &'a T) -> U) -> Vec<U> {
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        out.push(f(i, x));
    }
    out
}

/// `f` applied to each element of `items` (with its index), up to the
/// first error, which is the answer.
pub fn try_map<'a, T, U, E>(items: &'a [T], mut f: impl FnMut(usize, &'a T) -> Result<U, E>) -> Result<Vec<U>, E> {
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        out.push(f(i, x)?);
    }
    Ok(out)
}

/// The `Some` answers of `f` for the items, in order: a filter, a filter-map
/// or a map over any iterator as one small loop per site (`collect` copies
/// `from_iter` and `extend_desugared` for each one).
pub fn keep<I: IntoIterator, U>(items: I, mut f: impl FnMut(I::Item) -> Option<U>) -> Vec<U> {
    let mut out = Vec::new();
    for x in items {
        if let Some(y) = f(x) {
            out.push(y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_in_order_with_indexes() {
        assert_eq!(map(&["a", "b"], |i, s| format!("{i}{s}")), ["0a", "1b"]);
        assert!(map(&[] as &[u8], |_, x| *x).is_empty());
    }

    #[test]
    fn stops_at_the_first_error() {
        let mut seen = Vec::new();
        let got = try_map(&[1, 2, 3, 4], |i, x| {
            seen.push(i);
            if *x == 3 { Err(format!("bad {x}")) } else { Ok(x * 10) }
        });
        assert_eq!(got, Err("bad 3".to_string()));
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!(try_map(&[1, 2], |_, x| Ok::<_, ()>(x + 1)), Ok(vec![2, 3]));
    }

    #[test]
    fn keeps_the_some_answers_in_order() {
        assert_eq!(keep([3, 1, 4, 1, 5], |x| (x != 1).then_some(x * 2)), [6, 8, 10]);
        assert_eq!(keep("a,,b".split(','), |s| (!s.is_empty()).then(|| s.to_string())), ["a", "b"]);
        assert!(keep(0..0, Some).is_empty());
    }
}
