//! Request handling: routing, the ledger, directives and faults.
//!
//! A request is handled in this order:
//!
//! 1. `/health` and the `/__mock/...` control endpoints are answered at once.
//! 2. Any other path must contain an API root segment (`v1`, `v1beta`,
//!    `v2`; any format answers under any root); the segments
//!    before it are the path prefix, whose `key=value` segments are
//!    directives. No API root means 404.
//! 3. The body is read and the call is recorded in the ledger (so even a
//!    request that ends in a reset counts).
//! 4. Directives are resolved (start-up flags < path < headers); a bad one
//!    is a 400.
//! 5. The wire format routes the rest of the path (404, 405).
//! 6. If the call is not one `fail_times` / `fail_every` / `fail_key`
//!    picks, status, fault and retry hints are dropped.
//! 7. `latency_ms` delay; `fault=reset` drops the connection; an error
//!    `status` answers with that error; otherwise the wire format answers.
//! 8. The answer is shaped by `ttfb_ms`, `chunk_delay_ms` and the
//!    `malformed`/`cut`/`stall` faults, generically: a JSON body or a list of SSE
//!    events whose last one is the stream's terminator.
//!
//! Wire formats: OpenAI (`openai.rs`), Gemini (`gemini.rs`), Cohere v2
//! (`cohere.rs`). Each adds its routes in [`api_route`], its error bodies
//! and malformed event in [`Api`], and answers with an [`openai::Reply`];
//! the fault and timing machinery here is format-agnostic.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::anthropic;
use crate::bedrock;
use crate::body::{shaped_json, shaped_stream, MockBody};
use crate::faults::{Directives, Fault};
use crate::ledger::{LastRequest, Ledger, PathFilter};
use crate::openai::{self, Reply, Route, Routed};
use crate::{cohere, gemini};

/// Largest request body accepted.
const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;
/// The path segments that mark an API root (`v1beta`: Gemini, `v2`: Cohere).
const API_ROOTS: [&str; 3] = ["v1", "v1beta", "v2"];
/// Azure OpenAI's API root, when a `deployments/` path follows it.
const AZURE_ROOT: &str = "openai";

/// Server-wide state.
pub struct State {
    /// Directives from the start-up flags.
    pub defaults: Directives,
    /// Call counts and last requests.
    pub ledger: Ledger,
    /// Numbers replies; reset with the ledger.
    next_id: AtomicU64,
}

impl State {
    /// State with the given start-up directives.
    pub fn new(defaults: Directives) -> State {
        State {
            defaults,
            ledger: Ledger::default(),
            next_id: AtomicU64::new(0),
        }
    }
}

/// Per-connection context shared by the connection's I/O and its requests.
pub struct Connection {
    /// The server-wide state.
    pub state: Arc<State>,
    /// Set when a request asked for `fault=reset`: the socket is then closed
    /// with a TCP reset rather than a clean shutdown.
    pub abort: AtomicBool,
}

/// Returned by the service to make hyper drop the connection without a
/// response.
#[derive(Debug)]
pub struct ResetConnection;

impl fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mock-provider resets this connection on purpose")
    }
}

impl Error for ResetConnection {}

type Answer = Result<Response<MockBody>, ResetConnection>;

fn response(status: u16, content_type: &'static str, body: MockBody) -> Response<MockBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(status: u16, body: impl Into<Bytes>) -> Response<MockBody> {
    response(status, "application/json", MockBody::full(body.into()))
}

fn not_found(method: &Method, path: &str) -> Response<MockBody> {
    let message = format!("mock-provider: no route for {method} {path}");
    json(
        404,
        openai::error_body(&message, "invalid_request_error", Some("unknown_url")),
    )
}

fn method_not_allowed(allow: &'static str) -> Response<MockBody> {
    let message = format!("mock-provider: this endpoint only accepts {allow}");
    let mut response = json(405, openai::invalid_request(&message));
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Splits `path` at its API root: the prefix before `/v1` and what follows
/// `/v1/` (or `None` if there is no `v1` segment).
fn split_api_root(path: &str) -> Option<(&str, &str)> {
    let mut start = 0;
    for segment in path.split('/') {
        let azure =
            segment == AZURE_ROOT && path[start + segment.len()..].starts_with("/deployments/");
        if API_ROOTS.contains(&segment) || azure {
            let after = start + segment.len();
            let rest = path.get(after + 1..).unwrap_or("");
            return Some((&path[..start.saturating_sub(1)], rest));
        }
        start += segment.len() + 1;
    }
    None
}

/// An endpoint of one of the wire formats.
enum Api {
    OpenAi(Route),
    /// `POST …/v1/messages` (`anthropic.rs`).
    AnthropicMessages,
    Gemini(gemini::Route),
    Cohere(cohere::Route),
}

impl Api {
    /// The format's error body for a simulated `status`.
    fn status_error(&self, status: u16) -> Bytes {
        match self {
            Api::OpenAi(_) => openai::status_error(status),
            Api::AnthropicMessages => anthropic::status_error(status),
            Api::Gemini(_) => gemini::status_error(status),
            Api::Cohere(_) => cohere::status_error(status),
        }
    }

    /// The format's invalid stream event for `fault=malformed`.
    fn malformed_event(&self, id: u64) -> Bytes {
        match self {
            Api::OpenAi(_) => openai::malformed_event(id),
            Api::AnthropicMessages => anthropic::malformed_event(),
            Api::Gemini(_) => gemini::malformed_event(),
            Api::Cohere(_) => cohere::malformed_event(),
        }
    }
}

/// The wire format's endpoint for a path below the API root (`Err`: not
/// found, or the wrong method).
fn api_route(method: &Method, rest: &str) -> Result<Api, Routed> {
    if let Some(found) = anthropic::route(method, rest) {
        return found
            .map(|()| Api::AnthropicMessages)
            .map_err(Routed::WrongMethod);
    }
    let other = gemini::route(method, rest)
        .map(|r| r.map(Api::Gemini))
        .or_else(|| cohere::route(method, rest).map(|r| r.map(Api::Cohere)));
    match other {
        Some(found) => found.map_err(Routed::WrongMethod),
        None => match openai::route(method, rest) {
            Routed::Found(route) => Ok(Api::OpenAi(route)),
            other => Err(other),
        },
    }
}

/// The API key a request carries: a bearer token, `x-api-key`, `api-key`
/// or `x-goog-api-key`; `-` if none.
fn api_key(headers: &HeaderMap) -> &str {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some(auth) = text("authorization") {
        let (scheme, token) = auth.split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            return token.trim();
        }
        // SigV4 (Bedrock): the access key id of `Credential=ID/...`.
        if let Some(id) = token
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .filter(|id| scheme == "AWS4-HMAC-SHA256" && !id.is_empty())
        {
            return id.trim();
        }
    }
    ["x-api-key", "api-key", "x-goog-api-key"]
        .into_iter()
        .find_map(text)
        .unwrap_or("-")
}

/// Handles one request; see the module documentation.
pub async fn handle(conn: Arc<Connection>, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if path == "/health" {
        return Ok(match parts.method {
            Method::GET | Method::HEAD => response(200, "text/plain", MockBody::full("ok")),
            _ => method_not_allowed("GET"),
        });
    }
    if path.starts_with("/__mock/") {
        return Ok(control(&conn.state, &parts.method, path, parts.uri.query()));
    }
    let Some((prefix, rest)) = split_api_root(path) else {
        return Ok(not_found(&parts.method, path));
    };

    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            let message =
                format!("mock-provider: request bodies are limited to {MAX_REQUEST_BODY} bytes");
            return Ok(json(413, openai::invalid_request(&message)));
        }
        // The client went away or sent a broken body.
        Err(_) => return Err(ResetConnection),
    };

    let state = &*conn.state;
    let key = api_key(&parts.headers);
    let last = LastRequest::new(
        parts.method.clone(),
        parts.uri.query(),
        key,
        parts.headers.clone(),
        &body,
    );
    let call = state.ledger.record(path, last);

    let mut directives = state.defaults;
    if let Err(e) = directives
        .apply_path(prefix)
        .and_then(|()| directives.apply_headers(&parts.headers))
    {
        let body = openai::error_body(
            &e.to_string(),
            "invalid_request_error",
            Some("invalid_mock_directive"),
        );
        return Ok(json(400, body));
    }

    if let Some(route) = bedrock::route(rest) {
        let call = bedrock::Call {
            method: &parts.method,
            headers: &parts.headers,
            body: &body,
            number: call,
            key,
        };
        return bedrock::handle(&conn, route, call, directives, &state.next_id).await;
    }

    let api = match api_route(&parts.method, rest) {
        Ok(api) => api,
        Err(Routed::WrongMethod(allow)) => return Ok(method_not_allowed(allow)),
        Err(_) => return Ok(not_found(&parts.method, path)),
    };

    let d = if directives.failing(call, key) {
        directives
    } else {
        directives.healed()
    };
    let latency = d.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if d.fault() == Fault::Reset {
        conn.abort.store(true, Ordering::Relaxed);
        return Err(ResetConnection);
    }

    let status = d.status();
    let mut id = 0;
    let (status, reply) = if status >= 400 {
        (status, Some(Reply::Json(api.status_error(status))))
    } else if status != 200 {
        (status, None)
    } else {
        match &api {
            Api::OpenAi(Route::ChatCompletions) => {
                id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                match openai::chat_for(&body, id, d.chunks(), openai::deployment(rest)) {
                    Ok(reply) => (200, Some(reply)),
                    Err(error) => (400, Some(Reply::Json(error))),
                }
            }
            Api::OpenAi(Route::Models) => (200, Some(Reply::Json(openai::models()))),
            Api::OpenAi(Route::Embeddings) => match openai::embeddings(&body) {
                Ok(reply) => (200, Some(reply)),
                Err(error) => (400, Some(Reply::Json(error))),
            },
            Api::AnthropicMessages => {
                id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                match anthropic::messages(&parts.headers, &body, id, d.chunks()) {
                    Ok(reply) => (200, Some(reply)),
                    Err((status, error)) => (status, Some(Reply::Json(error))),
                }
            }
            Api::Gemini(route) => {
                id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                match gemini::answer(route, &body, id, d.chunks()) {
                    Ok(reply) => (200, Some(reply)),
                    Err(error) => (400, Some(Reply::Json(error))),
                }
            }
            Api::Cohere(route) => {
                id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
                match cohere::answer(*route, &body, id, d.chunks()) {
                    Ok(reply) => (200, Some(reply)),
                    Err(error) => (400, Some(Reply::Json(error))),
                }
            }
        }
    };
    let mut response = shape(status, reply, &d, id, &api);
    let headers = response.headers_mut();
    if let Some(secs) = d.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(ms) = d.retry_after_ms {
        headers.insert(
            HeaderName::from_static("retry-after-ms"),
            HeaderValue::from(ms),
        );
    }
    Ok(response)
}

/// Applies timing and the body faults to an answer.
fn shape(
    status: u16,
    reply: Option<Reply>,
    d: &Directives,
    id: u64,
    api: &Api,
) -> Response<MockBody> {
    match reply {
        None => response(status, "application/json", MockBody::empty()),
        Some(Reply::Json(bytes)) => response(status, "application/json", shaped_json(bytes, d)),
        Some(Reply::Stream(events)) => {
            let body = shaped_stream(events, d, || api.malformed_event(id));
            let mut response = response(status, "text/event-stream", body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The `/__mock/...` control endpoints.
fn control(state: &State, method: &Method, path: &str, query: Option<&str>) -> Response<MockBody> {
    let param = |name: &str| {
        query?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    };
    match (path, method) {
        ("/__mock/calls", &Method::GET) => {
            #[derive(serde::Serialize)]
            struct Count<'a> {
                #[serde(skip_serializing_if = "Option::is_none")]
                path: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                prefix: Option<&'a str>,
                #[serde(skip_serializing_if = "Option::is_none")]
                key: Option<&'a str>,
                count: u64,
            }
            let (exact, prefix, key) = (param("path"), param("prefix"), param("key"));
            let paths = match (&exact, &prefix) {
                (Some(path), _) => PathFilter::Exact(path),
                (None, Some(prefix)) => PathFilter::Prefix(prefix),
                (None, None) if key.is_none() => return json(200, state.ledger.summary_json()),
                (None, None) => PathFilter::Any,
            };
            let count = Count {
                path: exact.as_deref(),
                prefix: if exact.is_some() {
                    None
                } else {
                    prefix.as_deref()
                },
                key: key.as_deref(),
                count: state.ledger.count(paths, key.as_deref()),
            };
            json(200, serde_json::to_vec(&count).expect("a count serializes"))
        }
        ("/__mock/last", &Method::GET) => {
            let Some(path) = param("path") else {
                return json(
                    400,
                    openai::invalid_request("mock-provider: /__mock/last needs ?path="),
                );
            };
            match state.ledger.last_json(&path) {
                Some(body) => json(200, body),
                None => {
                    let message = format!("mock-provider: no request seen on {path}");
                    json(
                        404,
                        openai::error_body(&message, "invalid_request_error", None),
                    )
                }
            }
        }
        ("/__mock/reset", &Method::POST) => {
            state.ledger.reset();
            state.next_id.store(0, Ordering::Relaxed);
            json(200, &b"{\"reset\":true}"[..])
        }
        ("/__mock/calls" | "/__mock/last", _) => method_not_allowed("GET"),
        ("/__mock/reset", _) => method_not_allowed("POST"),
        _ => not_found(method, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_root_split() {
        assert_eq!(
            split_api_root("/status=500/v1/chat/completions"),
            Some(("/status=500", "chat/completions"))
        );
        assert_eq!(split_api_root("/v1/models"), Some(("", "models")));
        assert_eq!(split_api_root("/t/x/v1"), Some(("/t/x", "")));
        assert_eq!(split_api_root("/t/v1x/models"), None);
        assert_eq!(
            split_api_root("/status=429/v1beta/models/m:generateContent"),
            Some(("/status=429", "models/m:generateContent"))
        );
        assert_eq!(split_api_root("/t/x/v2/chat"), Some(("/t/x", "chat")));
        assert_eq!(split_api_root("/health"), None);
        assert_eq!(
            split_api_root("/t/a/openai/deployments/d/chat/completions"),
            Some(("/t/a", "deployments/d/chat/completions"))
        );
        assert_eq!(
            split_api_root("/openai/v1/models"),
            Some(("/openai", "models"))
        );
    }

    #[test]
    fn api_keys() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), "-");
        h.insert("api-key", HeaderValue::from_static("az"));
        assert_eq!(api_key(&h), "az");
        h.insert("x-api-key", HeaderValue::from_static("an"));
        assert_eq!(api_key(&h), "an");
        h.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        assert_eq!(api_key(&h), "sk-1");
    }

    #[test]
    fn query_decoding() {
        assert_eq!(percent_decode("%2Ft%2Fx+y"), "/t/x y");
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
