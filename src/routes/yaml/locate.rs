//! Finding YAML keys and values in the source text, since serde_yaml gives
//! no positions.
//!
//! Block-style YAML only: a key is found by walking the lines by
//! indentation along its path (`routes` → `smart` → `when`); its value is the
//! text after `key:` on that line, or the `- item` lines under it. Quoted,
//! folded or multi-line values are located only when their text appears as
//! is; otherwise the caller falls back to the key's position.

/// One line: where it starts in the file and its text (without newline).
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    start: usize,
    text: &'a str,
}

impl Line<'_> {
    fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// Blank or only a comment: not part of the structure.
    fn is_blank(&self) -> bool {
        let t = self.text.trim();
        t.is_empty() || t.starts_with('#')
    }
}

/// Where a key was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyPos {
    /// File offsets of the key's text.
    pub start: usize,
    pub end: usize,
    /// Index of its line.
    line: usize,
    indent: usize,
    /// One past the last line of its value (the lines indented under it).
    block_end: usize,
}

pub struct Locator<'a> {
    lines: Vec<Line<'a>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let t = raw.strip_suffix('\n').unwrap_or(raw);
            let t = t.strip_suffix('\r').unwrap_or(t);
            lines.push(Line { start, text: t });
            start += raw.len();
        }
        Locator { lines }
    }

    /// The key at `path`, each element nested under the previous one.
    pub fn key(&self, path: &[&str]) -> Option<KeyPos> {
        let (mut from, mut to, mut parent) = (0, self.lines.len(), None::<usize>);
        let mut found = None;
        for name in path {
            let pos = self.key_in(from, to, parent, name)?;
            from = pos.line + 1;
            to = pos.block_end;
            parent = Some(pos.indent);
            found = Some(pos);
        }
        found
    }

    /// The key `name` among the lines `from..to` that are children of a key
    /// indented by `parent`.
    fn key_in(&self, from: usize, to: usize, parent: Option<usize>, name: &str) -> Option<KeyPos> {
        let level = self.lines[from..to]
            .iter()
            .find(|l| !l.is_blank())
            .map(|l| l.indent())?;
        if parent.is_some_and(|p| level <= p) {
            return None;
        }
        for i in from..to {
            let line = self.lines[i];
            if line.is_blank() || line.indent() != level {
                continue;
            }
            let body = &line.text[level..];
            let key_len = [name.to_string(), format!("\"{name}\""), format!("'{name}'")]
                .iter()
                .find(|k| {
                    body.strip_prefix(k.as_str())
                        .and_then(|r| r.strip_prefix(':'))
                        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
                })
                .map(|k| k.len());
            if let Some(len) = key_len {
                let block_end = (i + 1..to)
                    .find(|&j| !self.lines[j].is_blank() && self.lines[j].indent() <= level)
                    .unwrap_or(to);
                let start = line.start + level;
                return Some(KeyPos {
                    start,
                    end: start + len,
                    line: i,
                    indent: level,
                    block_end,
                });
            }
        }
        None
    }

    /// The file offset where the key's block ends (its last non-blank text).
    pub fn block_end(&self, key: &KeyPos) -> usize {
        (key.line..key.block_end)
            .rev()
            .map(|j| self.lines[j])
            .find(|l| !l.is_blank())
            .map_or(key.end, |l| l.start + l.text.trim_end().len())
    }

    /// File offsets of each item's text: a scalar on the key's line, the
    /// elements of a flow list `[a, b]` there, or the `- item` lines under
    /// the key. `None` for an item whose text is not there as is.
    pub fn values(&self, key: &KeyPos, items: &[String]) -> Vec<Option<usize>> {
        let line = self.lines[key.line];
        let after = key.end - line.start + 1;
        let rest = line.text.get(after..).unwrap_or("");
        let inline = !rest.trim().is_empty() && !rest.trim_start().starts_with('#');
        let mut out = Vec::new();
        if inline {
            let mut cursor = after;
            for item in items {
                match line.text.get(cursor..).and_then(|t| t.find(item.as_str())) {
                    Some(i) if !item.is_empty() => {
                        out.push(Some(line.start + cursor + i));
                        cursor += i + item.len();
                    }
                    _ => out.push(None),
                }
            }
            return out;
        }
        let dashes: Vec<Line> = (key.line + 1..key.block_end)
            .map(|j| self.lines[j])
            .filter(|l| l.text.trim_start().starts_with('-'))
            .collect();
        for (n, item) in items.iter().enumerate() {
            let spot = dashes.get(n).and_then(|l| {
                let dash = l.indent() + 1;
                let i = l.text.get(dash..)?.find(item.as_str())?;
                (!item.is_empty()).then_some(l.start + dash + i)
            });
            out.push(spot);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "routes:\n  # a comment\n  smart:\n    when: model == \"x\"   # why\n    try:\n      - a:x\n      - b:y\n\n  other:\n    try: [c:z, d:w]\ngateway:\n  subrequests: 5\n";

    #[test]
    fn keys_are_found_along_their_path() {
        let l = Locator::new(TEXT);
        let when = l.key(&["routes", "smart", "when"]).unwrap();
        assert_eq!(&TEXT[when.start..when.end], "when");
        assert_eq!(
            l.values(&when, &["model == \"x\"".into()]),
            [Some(TEXT.find("model").unwrap())]
        );
        let try_ = l.key(&["routes", "smart", "try"]).unwrap();
        let spots = l.values(&try_, &["a:x".into(), "b:y".into()]);
        assert_eq!(spots, [TEXT.find("a:x"), TEXT.find("b:y")]);
        let smart = l.key(&["routes", "smart"]).unwrap();
        assert_eq!(
            &TEXT[smart.start..l.block_end(&smart)],
            "smart:\n    when: model == \"x\"   # why\n    try:\n      - a:x\n      - b:y"
        );
        let other = l.key(&["routes", "other", "try"]).unwrap();
        assert_eq!(
            l.values(&other, &["c:z".into(), "d:w".into()]),
            [TEXT.find("c:z"), TEXT.find("d:w")]
        );
        assert!(l.key(&["routes", "when"]).is_none());
        assert!(l.key(&["gateway", "subrequests"]).is_some());
        assert_eq!(l.values(&other, &["nope".into()]), [None]);
    }
}
