//! The cache key, and which requests may be cached.
//!
//! The key is `sy1:` and the hex SHA-256 of a canonical serialization: every
//! value is fed as a one-byte tag plus a length-prefixed payload, fields in
//! a fixed order, JSON objects with their keys sorted, numbers in one form
//! (`1`, `1.0` and `1e0` are one number; `-0` is `0`). So the same request
//! hashes alike whatever its field order, whitespace or dialect (an OpenAI
//! and an Anthropic client asking the same share an entry).
//!
//! In the key:
//! - the key format ([`KEY_FORMAT`]), the plan's content hash (a plan that
//!   routes differently never serves an older plan's entries) and the
//!   client's namespace (absent and empty are alike);
//! - the model as the route resolves it: the route's compiled target tree
//!   (providers, models, weights, policies) and, only when the tree passes
//!   the client's model through (`provider:{model}`), that model;
//! - the normalized canonical request: messages (role, text and image
//!   parts, tool calls, tool call ids, error flags, names), tools, tool
//!   choice, parallel tool calls, response format, `max_tokens`,
//!   `temperature`, `top_p`, `top_k`, `stop`, `seed`, `n`, presence and
//!   frequency penalties, `logprobs`, `top_logprobs`, and the fields only a
//!   wire format knows (`extra`) except the volatile ones in [`VOLATILE`].
//!
//! Not in the key: `stream` and `stream_options` (a streamed and a JSON
//! request share an entry, each replayed in its own shape), the client's
//! model name as written (only its resolution counts), `user`, `metadata`,
//! request ids and every header but the namespace.

use crate::canonical::{ChatRequest, ImageSource, Message, Part, ResponseFormat, Role, ToolChoice};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped when what goes into the key changes (old entries are then never read).
pub const KEY_FORMAT: u32 = 1;

/// Top-level fields of a body (`extra`) that say who asks or how the answer
/// is delivered, not what is asked: left out of the key.
pub const VOLATILE: &[&str] = &[
    "user",
    "metadata",
    "stream",
    "stream_options",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "request_id",
];

/// What a key is computed from.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// The plan's content hash.
    pub plan_hash: &'a str,
    /// The route's target tree, serialized (the plan's own form).
    pub targets: &'a str,
    /// The client's model, when the targets pass it through.
    pub passed_model: Option<&'a str>,
    /// The client's namespace.
    pub namespace: Option<&'a str>,
    pub request: &'a ChatRequest,
}

/// The KV key for `input`.
pub fn cache_key(input: &KeyInput<'_>) -> String {
    let mut feed = Feed(Sha256::new());
    feed.uint(b'K', KEY_FORMAT.into());
    feed.str(b'P', input.plan_hash);
    feed.str(b'T', input.targets);
    feed.opt_str(b'M', input.passed_model);
    feed.opt_str(b'N', input.namespace);
    feed.request(input.request);
    let digest = feed.0.finalize();
    let mut key = String::with_capacity(4 + 64);
    key.push_str("sy1:");
    for byte in digest {
        key.push(char::from(HEX[(byte >> 4) as usize]));
        key.push(char::from(HEX[(byte & 15) as usize]));
    }
    key
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a request on a caching route is not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncacheable {
    /// Its sampling is not deterministic and the route does not say `sampled`.
    Sampled,
    /// It asks for log probabilities, which an entry does not keep.
    Logprobs,
}

/// Whether `request` may be cached on a route whose `cache` says `sampled`
/// or not.
///
/// Sampling counts as deterministic when `temperature` is 0, `top_k` is 1,
/// or a `seed` is given (the client asks for a reproducible answer, and a
/// stored one is exactly that). A request without any of them samples at
/// the provider's default temperature, so it is cached only with `sampled`.
pub fn cacheable(request: &ChatRequest, sampled: bool) -> Result<(), Uncacheable> {
    if request.logprobs == Some(true) || request.top_logprobs.is_some() {
        return Err(Uncacheable::Logprobs);
    }
    let deterministic = request.temperature == Some(0.0) || request.top_k == Some(1) || request.seed.is_some();
    if deterministic || sampled {
        Ok(())
    } else {
        Err(Uncacheable::Sampled)
    }
}

/// Feeds tagged, length-prefixed values into the hash: no two different
/// sequences of values feed the same bytes.
struct Feed(Sha256);

impl Feed {
    fn tag(&mut self, tag: u8) {
        self.0.update([tag]);
    }

    fn bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.tag(tag);
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn str(&mut self, tag: u8, s: &str) {
        self.bytes(tag, s.as_bytes());
    }

    fn uint(&mut self, tag: u8, n: u64) {
        self.tag(tag);
        self.0.update(n.to_le_bytes());
    }

    fn opt_str(&mut self, tag: u8, s: Option<&str>) {
        match s {
            Some(s) => self.str(tag, s),
            None => self.tag(0),
        }
    }

    fn opt_uint(&mut self, tag: u8, n: Option<u64>) {
        match n {
            Some(n) => self.uint(tag, n),
            None => self.tag(0),
        }
    }

    fn opt_bool(&mut self, tag: u8, b: Option<bool>) {
        self.opt_uint(tag, b.map(u64::from));
    }

    /// A number in one form: integers (also integral floats below 2^53) as
    /// integers, other floats by their bits, `-0` as `0`.
    fn number(&mut self, n: f64) {
        if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            self.int(n as i64);
        } else {
            self.uint(b'f', n.to_bits());
        }
    }

    fn int(&mut self, n: i64) {
        self.tag(b'i');
        self.0.update(n.to_le_bytes());
    }

    fn opt_number(&mut self, tag: u8, n: Option<f64>) {
        self.tag(tag);
        match n {
            Some(n) => self.number(n),
            None => self.tag(0),
        }
    }

    fn list<T>(&mut self, tag: u8, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.uint(tag, items.len() as u64);
        for item in items {
            each(self, item);
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.tag(b'z'),
            Value::Bool(b) => self.uint(b'b', u64::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => self.int(i),
                (None, Some(u)) => self.uint(b'u', u),
                _ => self.number(n.as_f64().unwrap_or_default()),
            },
            Value::String(s) => self.str(b's', s),
            Value::Array(items) => self.list(b'a', items, Feed::value),
            Value::Object(map) => self.object(map, |_| true),
        }
    }

    /// An object, keys in sorted order: serde_json's `Map` is a `BTreeMap`
    /// (the crate does not enable `preserve_order`; a test checks).
    fn object(&mut self, map: &serde_json::Map<String, Value>, keep: impl Fn(&str) -> bool) {
        self.tag(b'o');
        for (k, v) in map.iter().filter(|(k, _)| keep(k)) {
            self.str(b'k', k);
            self.value(v);
        }
        self.tag(b'O');
    }

    fn request(&mut self, r: &ChatRequest) {
        self.list(b'm', &r.messages, Feed::message);
        self.list(b't', &r.tools, |f, t| {
            f.str(b'n', &t.name);
            f.opt_str(b'd', t.description.as_deref());
            f.value(&t.parameters);
            f.opt_bool(b'S', t.strict);
        });
        match &r.tool_choice {
            None => self.tag(0),
            Some(ToolChoice::Auto) => self.tag(b'A'),
            Some(ToolChoice::None) => self.tag(b'O'),
            Some(ToolChoice::Required) => self.tag(b'R'),
            Some(ToolChoice::Tool(name)) => self.str(b'C', name),
        }
        self.opt_bool(b'p', r.parallel_tool_calls);
        match &r.response_format {
            None => self.tag(0),
            Some(ResponseFormat::Text) => self.tag(b'x'),
            Some(ResponseFormat::JsonObject) => self.tag(b'j'),
            Some(ResponseFormat::JsonSchema { name, schema, strict }) => {
                self.str(b'J', name);
                self.value(schema);
                self.opt_bool(b'S', *strict);
            }
        }
        self.opt_uint(b'x', r.max_tokens);
        self.opt_number(b'T', r.temperature);
        self.opt_number(b'P', r.top_p);
        self.opt_uint(b'k', r.top_k);
        self.list(b's', &r.stop, |f, s| f.str(b's', s));
        match r.seed {
            Some(seed) => {
                self.tag(b'e');
                self.int(seed);
            }
            None => self.tag(0),
        }
        self.opt_uint(b'n', r.n);
        self.opt_number(b'r', r.presence_penalty);
        self.opt_number(b'q', r.frequency_penalty);
        self.opt_bool(b'l', r.logprobs);
        self.opt_uint(b'L', r.top_logprobs);
        self.object(&r.extra, |k| !VOLATILE.contains(&k));
    }

    fn message(&mut self, m: &Message) {
        self.tag(match m.role {
            Role::System => b'S',
            Role::User => b'U',
            Role::Assistant => b'A',
            Role::Tool => b'T',
        });
        self.list(b'c', &m.content, |f, part| match part {
            Part::Text(text) => f.str(b't', text),
            Part::Image(image) => {
                match &image.source {
                    ImageSource::Url(url) => f.str(b'u', url),
                    ImageSource::Base64 { media_type, data } => {
                        f.str(b'b', media_type);
                        f.str(b'B', data);
                    }
                }
                f.opt_str(b'd', image.detail.as_deref());
            }
        });
        self.list(b'c', &m.tool_calls, |f, call| {
            f.str(b'i', &call.id);
            f.str(b'n', &call.name);
            f.str(b'a', &call.arguments);
        });
        self.opt_str(b'i', m.tool_call_id.as_deref());
        self.uint(b'e', u64::from(m.is_error));
        self.opt_str(b'n', m.name.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;

    fn openai(body: &str) -> ChatRequest {
        Dialect::OpenAi.decode_chat(body.as_bytes()).unwrap()
    }

    fn key_of(request: &ChatRequest) -> String {
        cache_key(&KeyInput { plan_hash: "h", targets: "t", passed_model: None, namespace: None, request })
    }

    const BASE: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}"#;

    #[test]
    fn field_order_whitespace_and_volatile_fields_do_not_matter() {
        let a = openai(BASE);
        let b = openai(
            r#"{ "temperature": 0.0, "user": "u-1", "stream": true, "stream_options": {"include_usage": true},
                "metadata": {"trace": "x"}, "store": true,
                "messages": [{"content": "hi", "role": "user"}], "model": "other-name" }"#,
        );
        assert_eq!(key_of(&a), key_of(&b));
        assert!(key_of(&a).starts_with("sy1:"));
        assert_eq!(key_of(&a).len(), 4 + 64);
    }

    #[test]
    fn what_is_asked_changes_the_key() {
        let base = key_of(&openai(BASE));
        for changed in [
            r#"{"model":"m","messages":[{"role":"user","content":"hi!"}],"temperature":0}"#,
            r#"{"model":"m","messages":[{"role":"system","content":"hi"}],"temperature":0}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"max_tokens":5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":1}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"stop":["x"]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"reasoning_effort":"low"}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,
                "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#,
        ] {
            assert_ne!(key_of(&openai(changed)), base, "{changed}");
        }
    }

    #[test]
    fn json_values_hash_with_sorted_keys_and_one_number_form() {
        let tools = |params: &str| {
            openai(&format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],
                    "tools":[{{"type":"function","function":{{"name":"f","parameters":{params}}}}}]}}"#
            ))
        };
        let a = tools(r#"{"type":"object","properties":{"n":{"type":"integer","maximum":10}}}"#);
        let b = tools(r#"{"properties":{"n":{"maximum":10.0,"type":"integer"}},"type":"object"}"#);
        let c = tools(r#"{"properties":{"n":{"maximum":11,"type":"integer"}},"type":"object"}"#);
        assert_eq!(key_of(&a), key_of(&b));
        assert_ne!(key_of(&a), key_of(&c));
    }

    #[test]
    fn plan_targets_model_and_namespace_are_in_the_key() {
        let request = openai(BASE);
        let input = KeyInput { plan_hash: "h", targets: "t", passed_model: None, namespace: None, request: &request };
        let base = cache_key(&input);
        assert_ne!(cache_key(&KeyInput { plan_hash: "h2", ..input }), base);
        assert_ne!(cache_key(&KeyInput { targets: "t2", ..input }), base);
        assert_ne!(cache_key(&KeyInput { passed_model: Some("m"), ..input }), base);
        assert_ne!(cache_key(&KeyInput { namespace: Some("a"), ..input }), base);
        assert_ne!(
            cache_key(&KeyInput { namespace: Some("a"), ..input }),
            cache_key(&KeyInput { namespace: Some("b"), ..input })
        );
        // Length prefixes: moving bytes between fields changes the key.
        assert_ne!(
            cache_key(&KeyInput { plan_hash: "ab", targets: "c", ..input }),
            cache_key(&KeyInput { plan_hash: "a", targets: "bc", ..input })
        );
    }

    #[test]
    fn an_anthropic_client_shares_the_entry_of_the_same_openai_request() {
        let anthropic = Dialect::Anthropic
            .decode_chat(br#"{"model":"x","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"hi"}],"stream":true}"#)
            .unwrap();
        let openai = openai(r#"{"model":"m","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(key_of(&anthropic), key_of(&openai));
    }

    #[test]
    fn only_deterministic_sampling_is_cached_unless_the_route_says_sampled() {
        let with = |extra: &str| openai(&format!(r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}]{extra}}}"#));
        assert_eq!(cacheable(&with(r#","temperature":0"#), false), Ok(()));
        assert_eq!(cacheable(&with(r#","temperature":0.7,"seed":42"#), false), Ok(()));
        assert_eq!(cacheable(&with(""), false), Err(Uncacheable::Sampled));
        assert_eq!(cacheable(&with(r#","temperature":0.2"#), false), Err(Uncacheable::Sampled));
        assert_eq!(cacheable(&with(""), true), Ok(()));
        assert_eq!(cacheable(&with(r#","temperature":0,"logprobs":true"#), true), Err(Uncacheable::Logprobs));
        let anthropic = Dialect::Anthropic
            .decode_chat(br#"{"model":"x","max_tokens":8,"top_k":1,"messages":[{"role":"user","content":"hi"}]}"#)
            .unwrap();
        assert_eq!(cacheable(&anthropic, false), Ok(()));
    }
}
