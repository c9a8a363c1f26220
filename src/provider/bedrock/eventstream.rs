//! AWS event-stream binary framing (`application/vnd.amazon.eventstream`),
//! the body of Bedrock's `ConverseStream`: decoding across arbitrary chunk
//! splits with both CRCs checked, and encoding (for tests and the mock).
//!
//! A message is
//!
//! ```text
//! total length  u32 BE   (the whole message, these 4 bytes and the CRCs included)
//! headers length u32 BE
//! prelude CRC   u32 BE   (CRC32 of the 8 bytes above)
//! headers       repeated: name length u8, name, value type u8, value
//! payload       the rest
//! message CRC   u32 BE   (CRC32 of everything before it)
//! ```
//!
//! Header values by type: 0 true and 1 false (no bytes), 2 byte (1),
//! 3 short (2), 4 integer (4), 5 long (8), 6 byte array and 7 string (u16 BE
//! length, then the bytes), 8 timestamp (i64 BE, ms since the epoch),
//! 9 UUID (16). Integers are big-endian two's complement.
//!
//! This file depends on nothing but `std`, so the mock
//! provider (`tests/mock-provider`) includes it by path and frames its
//! replies with the very same code the gateway's decoder is tested with
//! (and against frames made independently: `tests/transcripts/bedrock/`).

use std::fmt;

/// The smallest message: prelude, no headers, no payload, message CRC.
const MIN_MESSAGE: usize = 16;
/// Largest message accepted (AWS's limit is 16 MiB of payload, 128 KiB of
/// headers).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 128 * 1024 + MIN_MESSAGE;

/// A frame that is not a valid event-stream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

fn bad(message: impl Into<String>) -> FrameError {
    FrameError(message.into())
}

/// A header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One header of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Value,
}

impl Header {
    /// A string header (type 7), the kind every Bedrock header is.
    pub fn string(name: &str, value: &str) -> Header {
        Header {
            name: name.to_string(),
            value: Value::String(value.to_string()),
        }
    }
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of the string header `name` (`:event-type`, ...).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| match &h.value {
            Value::String(s) if h.name == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// CRC-32 (ISO-HDLC, zlib's) with one 256-entry table, made on first use:
/// a table in the binary would be 1 KiB of the Worker that gzip cannot
/// shrink (and a slice-by-16 crate 16 KiB).
fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *entry = c;
        }
        table
    });
    let mut crc = !0u32;
    for &b in bytes {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// Splits a byte stream that arrives in arbitrary chunks into [`Message`]s.
#[derive(Debug, Default)]
pub struct Reader {
    /// Bytes of a message not yet complete.
    buf: Vec<u8>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Reads `bytes`, appending every message they complete to `out`.
    /// After an error the stream cannot be trusted: stop reading it.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), FrameError> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            match next_message(&self.buf[start..]) {
                Ok(Some((message, used))) => {
                    out.push(message);
                    start += used;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..start);
        result
    }

    /// Bytes held that do not make a whole message yet (after the body
    /// ended: a message cut short).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The first message of `bytes` and the bytes it took, or `None` if
/// `bytes` does not hold all of it yet. The prelude is checked as soon as
/// it is there, so a garbled length never makes the reader wait for
/// megabytes that will not come.
fn next_message(bytes: &[u8]) -> Result<Option<(Message, usize)>, FrameError> {
    if bytes.len() < 12 {
        return Ok(None);
    }
    let total = be32(bytes, 0) as usize;
    let headers_len = be32(bytes, 4) as usize;
    let prelude_crc = be32(bytes, 8);
    if crc32(&bytes[..8]) != prelude_crc {
        return Err(bad("event-stream message has a bad prelude CRC"));
    }
    if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total) {
        return Err(bad(format!(
            "event-stream message length {total} is out of range"
        )));
    }
    if headers_len > total - MIN_MESSAGE {
        return Err(bad(format!(
            "event-stream headers length {headers_len} does not fit a {total}-byte message"
        )));
    }
    if bytes.len() < total {
        return Ok(None);
    }
    let message_crc = be32(bytes, total - 4);
    if crc32(&bytes[..total - 4]) != message_crc {
        return Err(bad("event-stream message has a bad message CRC"));
    }
    let headers = parse_headers(&bytes[12..12 + headers_len])?;
    let payload = bytes[12 + headers_len..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

/// Takes `n` bytes from the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], FrameError> {
    if rest.len() < n {
        return Err(bad("event-stream header runs past the headers"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_array<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], FrameError> {
    let mut array = [0u8; N];
    array.copy_from_slice(take(rest, N)?);
    Ok(array)
}

fn parse_headers(mut rest: &[u8]) -> Result<Vec<Header>, FrameError> {
    let mut headers = Vec::new();
    while !rest.is_empty() {
        let name_len = take(&mut rest, 1)?[0] as usize;
        if name_len == 0 {
            return Err(bad("event-stream header has an empty name"));
        }
        let name = std::str::from_utf8(take(&mut rest, name_len)?)
            .map_err(|_| bad("event-stream header name is not UTF-8"))?
            .to_string();
        let kind = take(&mut rest, 1)?[0];
        let value = match kind {
            0 => Value::Bool(true),
            1 => Value::Bool(false),
            2 => Value::Byte(i8::from_be_bytes(take_array(&mut rest)?)),
            3 => Value::Short(i16::from_be_bytes(take_array(&mut rest)?)),
            4 => Value::Int(i32::from_be_bytes(take_array(&mut rest)?)),
            5 => Value::Long(i64::from_be_bytes(take_array(&mut rest)?)),
            6 | 7 => {
                let len = u16::from_be_bytes(take_array(&mut rest)?) as usize;
                let bytes = take(&mut rest, len)?;
                if kind == 6 {
                    Value::Bytes(bytes.to_vec())
                } else {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| bad(format!("event-stream header `{name}` is not UTF-8")))?;
                    Value::String(text.to_string())
                }
            }
            8 => Value::Timestamp(i64::from_be_bytes(take_array(&mut rest)?)),
            9 => Value::Uuid(take_array(&mut rest)?),
            other => {
                return Err(bad(format!(
                    "event-stream header `{name}` has unknown value type {other}"
                )))
            }
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

fn encode_header(header: &Header, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let name = header.name.as_bytes();
    let name_len = u8::try_from(name.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("an event-stream header name must be 1 to 255 bytes"))?;
    out.push(name_len);
    out.extend_from_slice(name);
    let sized = |kind: u8, bytes: &[u8], out: &mut Vec<u8>| {
        let len = u16::try_from(bytes.len())
            .map_err(|_| bad("an event-stream header value must be at most 65535 bytes"))?;
        out.push(kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok::<(), FrameError>(())
    };
    match &header.value {
        Value::Bool(true) => out.push(0),
        Value::Bool(false) => out.push(1),
        Value::Byte(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Short(v) => {
            out.push(3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Int(v) => {
            out.push(4);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Long(v) => {
            out.push(5);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Bytes(bytes) => sized(6, bytes, out)?,
        Value::String(text) => sized(7, text.as_bytes(), out)?,
        Value::Timestamp(v) => {
            out.push(8);
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Uuid(bytes) => {
            out.push(9);
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

/// One complete message with valid CRCs.
pub fn encode_frame(headers: &[Header], payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut encoded_headers = Vec::new();
    for header in headers {
        encode_header(header, &mut encoded_headers)?;
    }
    let total = MIN_MESSAGE + encoded_headers.len() + payload.len();
    if total > MAX_MESSAGE {
        return Err(bad("an event-stream message must be at most 16 MiB"));
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    Ok(out)
}

/// An `event` message as Bedrock sends them: `:event-type`,
/// `:content-type: application/json`, `:message-type: event`.
pub fn encode_event(event_type: &str, json: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_frame(
        &[
            Header::string(":event-type", event_type),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "event"),
        ],
        json,
    )
}

/// An `exception` message (`:exception-type`, e.g. `throttlingException`).
pub fn encode_exception(exception_type: &str, json: &[u8]) -> Result<Vec<u8>, FrameError> {
    encode_frame(
        &[
            Header::string(":exception-type", exception_type),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "exception"),
        ],
        json,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], chunk: usize) -> Result<(Vec<Message>, usize), FrameError> {
        let mut reader = Reader::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            reader.push(piece, &mut out)?;
        }
        Ok((out, reader.pending()))
    }

    #[test]
    fn round_trips_every_header_type_at_every_chunk_size() {
        let headers = vec![
            Header {
                name: "t".into(),
                value: Value::Bool(true),
            },
            Header {
                name: "f".into(),
                value: Value::Bool(false),
            },
            Header {
                name: "b".into(),
                value: Value::Byte(-2),
            },
            Header {
                name: "s".into(),
                value: Value::Short(-300),
            },
            Header {
                name: "i".into(),
                value: Value::Int(70_000),
            },
            Header {
                name: "l".into(),
                value: Value::Long(-5_000_000_000),
            },
            Header {
                name: "bytes".into(),
                value: Value::Bytes(vec![0, 1, 255]),
            },
            Header::string(":event-type", "contentBlockDelta"),
            Header {
                name: "ts".into(),
                value: Value::Timestamp(1_700_000_000_000),
            },
            Header {
                name: "id".into(),
                value: Value::Uuid([7; 16]),
            },
        ];
        let mut stream = encode_frame(&headers, b"{\"a\":1}").unwrap();
        stream.extend(encode_frame(&[], b"").unwrap());
        for chunk in 1..=stream.len() {
            let (messages, pending) = read_all(&stream, chunk).unwrap();
            assert_eq!(pending, 0);
            assert_eq!(messages.len(), 2);
            assert_eq!(messages[0].headers, headers);
            assert_eq!(messages[0].payload, b"{\"a\":1}");
            assert_eq!(
                messages[0].header_str(":event-type"),
                Some("contentBlockDelta")
            );
            assert_eq!(messages[0].header_str("t"), None);
            assert_eq!(messages[1], Message::default());
        }
    }

    #[test]
    fn the_empty_message_matches_its_independent_encoding() {
        // 16 bytes: total 16, headers 0, CRC32 of those 8 bytes, CRC32 of the
        // 12 before it (computed with Python's zlib.crc32).
        let bytes = encode_frame(&[], b"").unwrap();
        assert_eq!(
            bytes,
            [0, 0, 0, 16, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
    }

    #[test]
    fn crc32_is_zlibs() {
        // The catalogue's check value, and two more from Python's zlib.crc32.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn bad_crcs_and_lengths_are_errors() {
        let good = encode_event("messageStart", b"{\"role\":\"assistant\"}").unwrap();
        for at in [0, 5, 9, 20, good.len() - 6, good.len() - 1] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x40;
            assert!(read_all(&bytes, 7).is_err(), "flipped byte {at}");
        }
        // A prelude that claims a huge message (with a valid prelude CRC)
        // fails at once instead of waiting.
        let mut huge = Vec::new();
        huge.extend_from_slice(&(u32::MAX).to_be_bytes());
        huge.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32(&huge);
        huge.extend_from_slice(&crc.to_be_bytes());
        assert!(read_all(&huge, 12).unwrap_err().0.contains("out of range"));
        // Headers longer than the message.
        let mut long = Vec::new();
        long.extend_from_slice(&16u32.to_be_bytes());
        long.extend_from_slice(&1u32.to_be_bytes());
        let crc = crc32(&long);
        long.extend_from_slice(&crc.to_be_bytes());
        assert!(read_all(&long, 12).is_err());
    }

    #[test]
    fn garbled_headers_are_errors_not_panics() {
        for headers in [
            &[0u8][..],                // empty name
            &[1, b'a'],                // no type
            &[1, b'a', 7, 0],          // string length cut
            &[1, b'a', 7, 0, 5, b'x'], // string shorter than its length
            &[1, b'a', 4, 0, 0],       // integer cut
            &[1, b'a', 42],            // unknown type
            &[1, b'a', 7, 0, 1, 0xff], // not UTF-8
            &[2, 0xff, 0xfe, 0],       // name not UTF-8
        ] {
            let mut bytes = Vec::new();
            let total = (MIN_MESSAGE + headers.len()) as u32;
            bytes.extend_from_slice(&total.to_be_bytes());
            bytes.extend_from_slice(&(headers.len() as u32).to_be_bytes());
            let crc = crc32(&bytes);
            bytes.extend_from_slice(&crc.to_be_bytes());
            bytes.extend_from_slice(headers);
            let crc = crc32(&bytes);
            bytes.extend_from_slice(&crc.to_be_bytes());
            assert!(read_all(&bytes, 3).is_err(), "{headers:?}");
        }
    }

    #[test]
    fn a_cut_message_stays_pending() {
        let bytes = encode_event("metadata", b"{}").unwrap();
        let (messages, pending) = read_all(&bytes[..bytes.len() - 1], 4).unwrap();
        assert!(messages.is_empty());
        assert_eq!(pending, bytes.len() - 1);
    }

    #[test]
    fn encoding_rejects_what_cannot_be_framed() {
        assert!(encode_frame(&[Header::string("", "x")], b"").is_err());
        assert!(encode_frame(&[Header::string(&"n".repeat(256), "x")], b"").is_err());
        assert!(encode_frame(&[Header::string("n", &"v".repeat(65_536))], b"").is_err());
    }
}
