//! Fault directives: what a request asks the mock to do besides answering.
//!
//! A directive is a `name=value` pair. The same names come from three
//! sources, applied in this order so that later ones win:
//!
//! 1. start-up flags (`--status 503`, `--latency-ms 20`, ...),
//! 2. URL path segments before the API root (`/status=429/fail_times=1/v1/...`),
//! 3. request headers (`x-mock-status: 500`, `x-mock-latency-ms: 20`, ...).
//!
//! Names are matched with `-` and `_` treated alike, so `retry-after`,
//! `retry_after` and the header `x-mock-retry-after` are one directive.
//! Values are checked strictly: a typo must produce a visible 400, never a
//! silently ignored directive.

use std::fmt;
use std::time::Duration;

use hyper::HeaderMap;

/// Largest accepted delay, so that a typo cannot park a connection for days.
const MAX_DELAY_MS: u64 = 600_000;
/// Largest accepted number of stream chunks.
const MAX_CHUNKS: u32 = 100_000;
/// Prefix of the request headers that carry directives.
pub const HEADER_PREFIX: &str = "x-mock-";

/// What goes wrong with a response, on top of its status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a well-formed response.
    #[default]
    None,
    /// Close the TCP connection (with a reset) without sending any response.
    Reset,
    /// A 200 whose JSON body (or one SSE event) is not valid JSON.
    Malformed,
    /// The body ends abruptly: the connection is aborted mid-body.
    Cut,
    /// The body stops mid-way and falls silent: no more bytes, no end, the
    /// connection stays open until the client gives up.
    Stall,
}

impl Fault {
    fn parse(value: &str) -> Option<Fault> {
        match value {
            "none" => Some(Fault::None),
            "reset" => Some(Fault::Reset),
            "malformed" => Some(Fault::Malformed),
            "cut" => Some(Fault::Cut),
            "stall" => Some(Fault::Stall),
            _ => None,
        }
    }
}

/// The effective directives of one request (or the start-up defaults).
///
/// `None` means "not set", so that a default can be told apart from an
/// explicit value and the accessors below can supply the documented defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// HTTP status to answer with (200-599).
    pub status: Option<u16>,
    /// `Retry-After` header value, in seconds.
    pub retry_after: Option<u64>,
    /// `retry-after-ms` header value, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// Delay before the response headers.
    pub latency_ms: Option<u64>,
    /// Delay between the response headers and the first body byte.
    pub ttfb_ms: Option<u64>,
    /// Delay between consecutive stream events.
    pub chunk_delay_ms: Option<u64>,
    /// Number of content chunks in a stream.
    pub chunks: Option<u32>,
    /// What goes wrong with the response.
    pub fault: Option<Fault>,
    /// For `fault=cut` on a stream: events sent after the role chunk.
    pub cut_after: Option<u32>,
    /// Status and fault apply only to the first N calls per (path, key).
    pub fail_times: Option<u64>,
    /// Status and fault apply only to calls 1, N+1, 2N+1, … per (path, key).
    pub fail_every: Option<u64>,
    /// Status and fault apply only to calls whose API key ends with this.
    pub fail_key: Option<KeySuffix>,
}

/// A short API-key suffix, kept inline so [`Directives`] stays `Copy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeySuffix {
    len: u8,
    bytes: [u8; 32],
}

impl KeySuffix {
    /// At most 32 visible ASCII characters.
    fn parse(text: &str) -> Option<KeySuffix> {
        if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(KeySuffix {
            len: text.len() as u8,
            bytes,
        })
    }

    fn matches(&self, key: &str) -> bool {
        key.as_bytes().ends_with(&self.bytes[..self.len as usize])
    }
}

/// Where a directive came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A start-up flag.
    Flag,
    /// A URL path segment.
    Path,
    /// A request header.
    Header,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "start-up flag",
            Source::Path => "URL path",
            Source::Header => "request header",
        })
    }
}

/// A directive that could not be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectiveError {
    /// Where it came from.
    pub source: Source,
    /// The name as written.
    pub name: String,
    /// The value as written.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mock-provider: bad directive `{}={}` (from {}): {}",
            self.name, self.value, self.source, self.reason
        )
    }
}

impl std::error::Error for DirectiveError {}

/// The known directive names, in their canonical (path) spelling.
pub const NAMES: [&str; 12] = [
    "status",
    "retry_after",
    "retry_after_ms",
    "latency_ms",
    "ttfb_ms",
    "chunk_delay_ms",
    "chunks",
    "fault",
    "cut_after",
    "fail_times",
    "fail_every",
    "fail_key",
];

/// Compares a written name with a canonical one, `-` and `_` being equal.
fn same_name(written: &str, canonical: &str) -> bool {
    written.len() == canonical.len()
        && written
            .bytes()
            .zip(canonical.bytes())
            .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
}

/// Whether `name` is a directive (`-` and `_` alike).
pub fn is_directive(name: &str) -> bool {
    NAMES.iter().any(|canonical| same_name(name, canonical))
}

fn parse_int(value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected an integer from {min} to {max}")),
    }
}

impl Directives {
    /// Applies one `name=value` directive over the current values.
    pub fn set(&mut self, source: Source, name: &str, value: &str) -> Result<(), DirectiveError> {
        let fail = |reason: String| DirectiveError {
            source,
            name: name.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let v = value.trim();
        let Some(canonical) = NAMES.iter().copied().find(|c| same_name(name, c)) else {
            return Err(fail(format!(
                "unknown directive; known ones are {}",
                NAMES.join(", ")
            )));
        };
        match canonical {
            "status" => self.status = Some(parse_int(v, 200, 599).map_err(fail)? as u16),
            "retry_after" => self.retry_after = Some(parse_int(v, 0, 86_400).map_err(fail)?),
            "retry_after_ms" => {
                self.retry_after_ms = Some(parse_int(v, 0, 86_400_000).map_err(fail)?)
            }
            "latency_ms" => self.latency_ms = Some(parse_int(v, 0, MAX_DELAY_MS).map_err(fail)?),
            "ttfb_ms" => self.ttfb_ms = Some(parse_int(v, 0, MAX_DELAY_MS).map_err(fail)?),
            "chunk_delay_ms" => {
                self.chunk_delay_ms = Some(parse_int(v, 0, MAX_DELAY_MS).map_err(fail)?)
            }
            "chunks" => {
                self.chunks = Some(parse_int(v, 1, u64::from(MAX_CHUNKS)).map_err(fail)? as u32)
            }
            "fault" => {
                self.fault = Some(Fault::parse(v).ok_or_else(|| {
                    fail("expected one of none, reset, malformed, cut, stall".to_owned())
                })?)
            }
            "cut_after" => {
                self.cut_after = Some(parse_int(v, 0, u64::from(MAX_CHUNKS)).map_err(fail)? as u32)
            }
            "fail_times" => self.fail_times = Some(parse_int(v, 0, u64::MAX).map_err(fail)?),
            "fail_every" => self.fail_every = Some(parse_int(v, 1, u64::MAX).map_err(fail)?),
            "fail_key" => {
                self.fail_key =
                    Some(KeySuffix::parse(v).ok_or_else(|| {
                        fail("expected 1 to 32 visible ASCII characters".to_owned())
                    })?)
            }
            _ => unreachable!("every name in NAMES is handled"),
        }
        Ok(())
    }

    /// Applies the `key=value` segments of a URL path prefix (the part
    /// before the API root). Segments without `=` are plain path.
    pub fn apply_path(&mut self, prefix: &str) -> Result<(), DirectiveError> {
        for segment in prefix.split('/') {
            if let Some((name, value)) = segment.split_once('=') {
                self.set(Source::Path, name, value)?;
            }
        }
        Ok(())
    }

    /// Applies the `x-mock-*` request headers.
    pub fn apply_headers(&mut self, headers: &HeaderMap) -> Result<(), DirectiveError> {
        for (name, value) in headers {
            if let Some(directive) = name.as_str().strip_prefix(HEADER_PREFIX) {
                let value = value.to_str().map_err(|_| DirectiveError {
                    source: Source::Header,
                    name: directive.to_owned(),
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    reason: "the value is not visible ASCII".to_owned(),
                })?;
                self.set(Source::Header, directive, value)?;
            }
        }
        Ok(())
    }

    /// Drops the status, fault and retry hints: what is left once
    /// `fail_times` is used up.
    pub fn healed(mut self) -> Directives {
        self.status = None;
        self.fault = None;
        self.retry_after = None;
        self.retry_after_ms = None;
        self
    }

    /// Whether status and fault apply to the call numbered `call` (1-based)
    /// on its (path, key) pair, made with API key `key`.
    pub fn failing(&self, call: u64, key: &str) -> bool {
        self.fail_times.is_none_or(|n| call <= n)
            && self
                .fail_every
                .is_none_or(|n| call.saturating_sub(1).is_multiple_of(n))
            && self.fail_key.is_none_or(|k| k.matches(key))
    }

    /// The status to answer with.
    pub fn status(&self) -> u16 {
        self.status.unwrap_or(200)
    }

    /// The fault to inject.
    pub fn fault(&self) -> Fault {
        self.fault.unwrap_or_default()
    }

    /// Delay before the response headers.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.unwrap_or(0))
    }

    /// Delay between headers and the first body byte.
    pub fn ttfb(&self) -> Duration {
        Duration::from_millis(self.ttfb_ms.unwrap_or(0))
    }

    /// Delay between stream events.
    pub fn chunk_delay(&self) -> Duration {
        Duration::from_millis(self.chunk_delay_ms.unwrap_or(0))
    }

    /// Number of content chunks in a stream (default 4).
    pub fn chunks(&self) -> u32 {
        self.chunks.unwrap_or(4)
    }

    /// Events sent after the role chunk before a cut (default 2).
    pub fn cut_after(&self) -> u32 {
        self.cut_after.unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn path_segments_set_directives_and_ignore_plain_ones() {
        let mut d = Directives::default();
        d.apply_path("/t/abc123/status=429/retry_after=2/latency-ms=5")
            .unwrap();
        assert_eq!(d.status, Some(429));
        assert_eq!(d.retry_after, Some(2));
        assert_eq!(d.latency_ms, Some(5));
        assert_eq!(d.fault(), Fault::None);
        assert_eq!(d.chunks(), 4);
    }

    #[test]
    fn headers_override_path_which_overrides_defaults() {
        let mut d = Directives {
            status: Some(503),
            chunks: Some(9),
            ..Directives::default()
        };
        d.apply_path("/status=500/chunks=3").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-mock-status", HeaderValue::from_static("429"));
        headers.insert("x-mock-fault", HeaderValue::from_static("cut"));
        headers.insert("x-other", HeaderValue::from_static("ignored"));
        d.apply_headers(&headers).unwrap();
        assert_eq!(d.status(), 429);
        assert_eq!(d.chunks(), 3);
        assert_eq!(d.fault(), Fault::Cut);
    }

    #[test]
    fn bad_values_and_unknown_names_are_errors() {
        let mut d = Directives::default();
        let err = d.apply_path("/status=abc/v").unwrap_err();
        assert_eq!(err.name, "status");
        assert!(err.to_string().contains("status=abc"), "{err}");
        assert!(d.set(Source::Flag, "status", "99").is_err());
        assert!(d.set(Source::Flag, "chunks", "0").is_err());
        assert!(d.set(Source::Flag, "fault", "explode").is_err());
        let err = d.set(Source::Header, "latncy_ms", "5").unwrap_err();
        assert!(err.reason.contains("unknown directive"), "{err}");
    }

    #[test]
    fn fail_times_heals_after_n_calls() {
        let mut d = Directives::default();
        d.apply_path("/status=429/retry_after=1/fail_times=2")
            .unwrap();
        assert!(d.failing(1, "k") && d.failing(2, "k") && !d.failing(3, "k"));
        let healed = d.healed();
        assert_eq!(healed.status(), 200);
        assert_eq!(healed.retry_after, None);
        assert!(Directives::default().failing(1_000, "k"));
    }

    #[test]
    fn fail_every_picks_one_call_in_n() {
        let mut d = Directives::default();
        d.apply_path("/status=503/fail_every=3").unwrap();
        let picked: Vec<u64> = (1..=10).filter(|&c| d.failing(c, "k")).collect();
        assert_eq!(picked, [1, 4, 7, 10]);
        d.apply_path("/fail_every=1").unwrap();
        assert!((1..=5).all(|c| d.failing(c, "k")));
        d.apply_path("/fail_times=4").unwrap();
        assert!(d.failing(4, "k") && !d.failing(5, "k"), "both limits hold");
        assert!(d.apply_path("/fail_every=0").is_err());
    }

    #[test]
    fn stall_is_a_fault() {
        let mut d = Directives::default();
        d.apply_path("/fault=stall").unwrap();
        assert_eq!(d.fault(), Fault::Stall);
    }

    #[test]
    fn fail_key_picks_the_calls_made_with_one_key() {
        let mut d = Directives::default();
        d.apply_path("/status=429/fail_key=key-1").unwrap();
        assert!(d.failing(1, "sk-test-key-1"));
        assert!(!d.failing(1, "sk-test-key-2"));
        assert!(d.apply_path("/fail_key=").is_err());
    }
}
