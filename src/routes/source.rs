//! Source files and spans: where every piece of the route language came from.
//!
//! A [`Span`] is a byte range in one [`SourceFile`]; [`Sources`] owns the
//! files and turns a span into `file:line:col` and the text of its line.
//! Columns count characters (not bytes) from 1, as editors do.

/// Index of a file in [`Sources`].
pub type FileId = u32;

/// A byte range `start..end` in file `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A value and the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// One route file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// As shown in diagnostics, e.g. `routes/main.route`.
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Whether this file is in the YAML form (by extension).
    pub fn is_yaml(&self) -> bool {
        self.name.ends_with(".yaml") || self.name.ends_with(".yml")
    }
}

/// A resolved position: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

/// Every file of one compilation.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Byte offset of the start of every line, per file.
    line_starts: Vec<Vec<usize>>,
}

impl Sources {
    pub fn new(files: Vec<SourceFile>) -> Self {
        let line_starts = files
            .iter()
            .map(|f| {
                std::iter::once(0)
                    .chain(f.text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect()
            })
            .collect();
        Sources { files, line_starts }
    }

    /// Index of the line holding `offset` and the byte where it starts.
    fn line_of(&self, file: FileId, offset: usize) -> (usize, usize) {
        let starts = &self.line_starts[file as usize];
        let line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        (line, starts[line])
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id as usize]
    }

    /// Line and column of a byte offset (clamped to the file).
    pub fn position(&self, file: FileId, offset: u32) -> Position {
        let text = &self.file(file).text;
        let offset = floor_char_boundary(text, offset as usize);
        let (line, line_start) = self.line_of(file, offset);
        let col = text[line_start..offset].chars().count() + 1;
        Position { line: line + 1, col }
    }

    /// The full text of the line holding `offset`, without its newline.
    pub fn line_text(&self, file: FileId, offset: u32) -> &str {
        let text = &self.file(file).text;
        let offset = floor_char_boundary(text, offset as usize);
        let (_, start) = self.line_of(file, offset);
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        text[start..end].trim_end_matches('\r')
    }

    /// `name:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        let p = self.position(span.file, span.start);
        format!("{}:{}:{}", self.file(span.file).name, p.line, p.col)
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let s = Sources::new(vec![SourceFile::new("a.route", "ab\nçd ef\n")]);
        assert_eq!(s.position(0, 0), Position { line: 1, col: 1 });
        let e = "ab\nçd ".len() as u32;
        assert_eq!(s.position(0, e), Position { line: 2, col: 4 });
        assert_eq!(s.line_text(0, e), "çd ef");
        assert_eq!(s.location(Span::new(0, e as usize, e as usize + 2)), "a.route:2:4");
    }
}
