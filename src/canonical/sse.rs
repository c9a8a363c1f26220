//! Server-sent events read from a byte stream that arrives in arbitrary
//! chunks: a frame may be split across chunks, a chunk may hold many frames.
//!
//! Every SSE-speaking provider decoder (OpenAI-compatible, Anthropic,
//! Gemini, Cohere) feeds its upstream chunks through one [`SseReader`].
//! Lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event are joined
//! with `\n`; comments (`:`) and `id:` / `retry:` lines are skipped.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The `event:` field, when the event has one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Splits a byte stream into [`Frame`]s.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The event being read.
    event: Option<String>,
    data: Option<String>,
    /// The previous chunk ended in `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
}

impl SseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `bytes`, returning every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (here, ends_in_cr) = (&rest[..end], rest[end] == b'\r');
            rest = &rest[end + 1..];
            if ends_in_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            // A line inside this chunk is read where it is; one that began
            // in an earlier chunk is joined in `self.line` (kept for reuse).
            let frame = if self.line.is_empty() {
                self.line_done(here)
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(here);
                let frame = self.line_done(&line);
                line.clear();
                self.line = line;
                frame
            };
            frames.extend(frame);
        }
        self.line.extend_from_slice(rest);
        frames
    }

    /// The stream ended: an event whose blank line never came is still
    /// returned (providers are not always careful about the last one).
    pub fn finish(&mut self) -> Option<Frame> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Some(frame) = self.line_done(&line) {
                return Some(frame);
            }
        }
        self.dispatch()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<Frame> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (&line[..colon], line[colon + 1..].strip_prefix(b" ").unwrap_or(&line[colon + 1..])),
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Frame> {
        let event = self.event.take();
        let data = self.data.take();
        match (event, data) {
            (None, None) => None,
            (event, data) => Some(Frame {
                event,
                data: data.unwrap_or_default(),
            }),
        }
    }
}

/// One SSE event as bytes: `event: NAME\n` (when named), `data: DATA\n\n`.
pub fn frame(event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut reader = SseReader::new();
        let mut frames: Vec<Frame> = chunks.iter().flat_map(|c| reader.push(c)).collect();
        frames.extend(reader.finish());
        frames
    }

    fn f(event: Option<&str>, data: &str) -> Frame {
        Frame { event: event.map(str::to_string), data: data.to_string() }
    }

    #[test]
    fn frames_split_anywhere_are_joined() {
        let text = b"event: message_start\ndata: {\"a\":1}\n\n: ping\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        let whole = all(&[text]);
        assert_eq!(whole, vec![f(Some("message_start"), "{\"a\":1}"), f(None, "x\ny"), f(None, "[DONE]")]);
        for cut in 0..text.len() {
            assert_eq!(all(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        let text = b"data: a\r\n\r\ndata: b\r\rdata:c\n\n";
        let whole = all(&[text]);
        assert_eq!(whole, vec![f(None, "a"), f(None, "b"), f(None, "c")]);
        for cut in 0..text.len() {
            assert_eq!(all(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_kept() {
        assert_eq!(all(&[b"data: {\"x\":1}"]), vec![f(None, "{\"x\":1}")]);
        assert_eq!(all(&[b"data: {\"x\":1}\n"]), vec![f(None, "{\"x\":1}")]);
        assert!(all(&[b"", b": comment\n"]).is_empty());
    }

    #[test]
    fn frame_writes_multi_line_data() {
        assert_eq!(frame(Some("ping"), "{}"), "event: ping\ndata: {}\n\n");
        assert_eq!(frame(None, "a\nb"), "data: a\ndata: b\n\n");
        assert_eq!(all(&[frame(Some("e"), "a\nb").as_bytes()]), vec![f(Some("e"), "a\nb")]);
    }
}
