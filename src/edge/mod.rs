//! The Worker entry point: the only place (with `edge::*` below it) that
//! touches the Workers runtime.
//!
//! A request flows: settings (read once per isolate) → [`gate::admit`]
//! (endpoint, header bound, gateway key, declared length; a key not in
//! `GATEWAY_KEYS` looked up in KV by [`keys::caller`]) → bounded body
//! read → [`chat::inspect`] → the routing plan ([`plan::current`]) picks a
//! route and its chain of steps (the key may use them, else 403; its
//! budget reserves the estimate, [`spend::Spend`]) → the execution engine ([`engine::run`],
//! with [`effects::Edge`] for the world) tries them: retries, key rotation,
//! fallback, deadlines → the answer relayed (SSE chunk by chunk, never
//! buffered; JSON checked whole), or an OpenAI-format error with the
//! attempt trail. Every response carries `x-request-id` and, once routed,
//! `x-switchyard-route`, `x-switchyard-target`, `x-switchyard-attempts`,
//! and once answered its usage and cost (`x-switchyard-tokens-in`,
//! `-tokens-out`, `-cost-usd`, `-usage`); every failure is a
//! [`GatewayError`], never a runtime 500. Every request ends in one
//! structured log line, and a request to a model endpoint is counted in the
//! metrics ([`metrics`]), both from its final response.

mod body;
mod cache;
mod effects;
mod guard;
mod join;
mod keys;
mod metrics;
mod objects;
mod plan;
mod proxy;
mod relay;
mod spend;
mod status;

use crate::call::{Inbound, Operation};
use crate::config::{RequestLog, Settings};
use crate::dialect::Dialect;
use crate::endpoint::Endpoint;
use crate::error::{Fault, GatewayError};
use crate::gate::{self, Head};
use crate::keys::Caller;
use crate::plan::select::{parse_metadata, METADATA_HEADER};
use crate::plan::{balanced_candidates, pick_chain, pick_chain_by_load, Facts, KeyFacts};
use crate::{chat, engine, upstream};
use std::cell::OnceCell;
use std::rc::Rc;
use web_sys::Request;
use worker::{event, Context, Env, Headers, Response};

/// Settings as read from the first request's environment in this isolate.
type Loaded = Result<Rc<Settings>, Rc<Vec<String>>>;

thread_local! {
    // Immutable once set: vars and secrets are fixed for a deployment's lifetime.
    static SETTINGS: OnceCell<Loaded> = const { OnceCell::new() };
}

// No panic hook: the Worker is built with `panic=immediate-abort`
// (scripts/build-worker.sh), so a panic traps at once and never runs one.

/// Takes the runtime's own request (not a `worker::Request`, whose
/// conversion reads the method, the URL and the `cf` object of every
/// request whether they are needed or not).
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let started_ms = now_ms();
    let request_id = request_id();
    let path = path_of(&req.url());
    let dialect = Endpoint::dialect_of(&path);
    let counted = matches!(Endpoint::resolve(&req.method(), &path), Ok(e) if e.route_name().is_some());
    let mut seen = metrics::Observed::default();
    let response = match handle(req, &env, &ctx, &request_id, &path, dialect, &mut seen).await {
        Ok(response) => response,
        Err(error) => {
            seen.error = Some(error.kind());
            if error.status() >= 500 {
                worker::console_error!(
                    "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"status\":{},\"message\":{:?}}}",
                    error.kind(),
                    error.status(),
                    error.message
                );
            }
            error_response(&error, dialect).into()
        }
    };
    // A streamed body cannot be re-created, so headers are added in place
    // (`x-request-id`, by the same call that reads what the metrics need).
    let record = metrics::observe(&response, seen, &request_id, started_ms);
    let loaded = SETTINGS.with(|c| c.get().and_then(|s| s.as_ref().ok().map(|s| (s.object_timeout_ms, s.request_log))));
    let log = loaded.map_or(RequestLog::All, |(_, log)| log);
    metrics::finish(&env, &ctx, record, loaded.map(|(timeout_ms, _)| timeout_ms).filter(|_| counted), log);
    Ok(response)
}

async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    request_id: &str,
    path: &str,
    dialect: Dialect,
    seen: &mut metrics::Observed,
) -> Result<web_sys::Response, GatewayError> {
    let settings = settings(env)?;
    let headers = req.headers();
    let (header_bytes, [authorization, x_api_key, content_length]) =
        read_headers(&headers, &[], ["authorization", "x-api-key", "content-length"], true);
    let method = req.method();
    let head = Head {
        method: &method,
        path,
        header_bytes,
        authorization: authorization.as_deref(),
        x_api_key: x_api_key.as_deref(),
        content_length: content_length.as_deref(),
    };
    let admitted = gate::admit_with(&head, &settings, keys::bound(env))?;
    // Who sent it: a key of GATEWAY_KEYS, or one kept in KV (looked up by its hash).
    let caller = match (&admitted.key, &admitted.unlisted) {
        (Some(key), _) => Caller::named(&key.name),
        (None, Some(hash)) => keys::caller(env, hash).await?,
        (None, None) => Caller::default(),
    };
    seen.key.clone_from(&caller.name);
    match admitted.endpoint {
        Endpoint::Health => json(200, r#"{"status":"ok"}"#.to_string()).map(Into::into),
        Endpoint::Models => {
            let router = plan::current(env, settings.plan_refresh_ms).await?;
            json(200, upstream::models_body(&router.plan().models)).map(Into::into)
        }
        Endpoint::Dashboard => metrics::dashboard().map(Into::into),
        Endpoint::Metrics => {
            require_admin(&admitted, &settings, "the metrics")?;
            let accept = header(&headers, "accept").unwrap_or_default();
            // The raw URL: the `url` crate (and its IDNA tables) stays out of the Worker.
            let url = req.url();
            let query = url.split_once('?').map_or("", |(_, q)| q);
            let prometheus = query.split('&').any(|p| p == "format=prometheus")
                || (accept.contains("text/plain") && !accept.contains("application/json"));
            metrics::serve(env, &settings, prometheus).await.map(Into::into)
        }
        Endpoint::Status => {
            require_admin(&admitted, &settings, "the status")?;
            let router = plan::current(env, settings.plan_refresh_ms).await?;
            let offset = clock_offset(&settings, &headers);
            json(200, status::body(env, &settings, router.plan(), offset).await).map(Into::into)
        }
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Embeddings => {
            let body = body::read(&req, content_length.is_some(), settings.max_body_bytes).await?;
            let owned_model;
            let inbound = match admitted.endpoint {
                Endpoint::ChatCompletions => {
                    // The common case is forwarded as it came: only the fields
                    // routing needs are read here.
                    let summary = chat::inspect(&body)?;
                    owned_model = summary.model;
                    let mut inbound =
                        Inbound::new(dialect, Operation::Chat, &owned_model, &body, summary.stream);
                    inbound.include_usage = summary.include_usage;
                    inbound.stream_options = summary.stream_options;
                    inbound
                }
                Endpoint::Messages => {
                    // Checked for what routing needs; decoded whole only if a
                    // try goes to a provider of another format.
                    let summary = crate::dialect::anthropic::inspect(&body)?;
                    owned_model = summary.model;
                    let mut inbound =
                        Inbound::new(dialect, Operation::Chat, &owned_model, &body, summary.stream);
                    // Anthropic clients always get usage on their streams.
                    inbound.include_usage = true;
                    inbound
                }
                _ => {
                    let request = crate::dialect::openai::decode_embeddings(&body)?;
                    owned_model = request.model.clone();
                    Inbound::new(dialect, Operation::Embeddings, &owned_model, &body, false)
                }
            };
            let endpoint_name = admitted.endpoint.route_name().unwrap_or("chat");
            route_and_run(env, ctx, &settings, &headers, &caller, endpoint_name, &inbound, request_id, seen).await
        }
    }
}

/// Refuses (403) a gateway key not named in `ADMIN_KEYS`; `what` is what it asked to read.
fn require_admin(admitted: &gate::Admitted<'_>, settings: &Settings, what: &str) -> Result<(), GatewayError> {
    let key = admitted.key.map_or("", |k| k.name.as_str());
    if settings.admin_keys.iter().any(|a| a == key) {
        return Ok(());
    }
    Err(GatewayError::new(
        Fault::Forbidden,
        format!("This gateway key may not read {what}; it is for the keys listed in ADMIN_KEYS."),
    ))
}

/// Tests only: how far the objects' clock is moved (`x-switchyard-test-clock-ms`,
/// read only with `SWITCHYARD_TEST_CLOCK=1`).
fn clock_offset(settings: &Settings, headers: &web_sys::Headers) -> i64 {
    if !settings.test_clock {
        return 0;
    }
    header(headers, "x-switchyard-test-clock-ms").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Picks the route for `inbound` and runs the engine over its chain.
#[allow(clippy::too_many_arguments)] // one request's context, named
async fn route_and_run(
    env: &Env,
    ctx: &Context,
    settings: &Settings,
    headers: &web_sys::Headers,
    caller: &Caller,
    endpoint: &str,
    inbound: &Inbound<'_>,
    request_id: &str,
    seen: &mut metrics::Observed,
) -> Result<web_sys::Response, GatewayError> {
    let key_name = caller.name.as_str();
    let router = plan::current(env, settings.plan_refresh_ms).await?;
    let metadata = if router.uses_metadata() {
        parse_metadata(header(headers, METADATA_HEADER).as_deref())
    } else {
        None
    };
    let params = if router.uses_params() {
        serde_json::from_slice(inbound.body).ok()
    } else {
        None
    };
    let lookup = |name: &str| header(headers, name);
    let facts = Facts {
        model: inbound.model,
        endpoint,
        key: KeyFacts { name: key_name, tags: &caller.tags },
        header: &lookup,
        metadata: metadata.as_ref(),
        params: params.as_ref(),
    };
    let route = router.select(&facts).ok_or_else(|| {
        GatewayError::new(
            Fault::ModelNotFound,
            format!("The model `{}` does not exist on this gateway.", inbound.model),
        )
        .with_param("model")
    })?;
    caller.may_use(&route.name, inbound.model)?;
    let plan = router.plan();
    guard::check_bindings(env, plan, route)?;
    if caller.budget.is_some() && !objects::bound(env, crate::budget::BINDING) {
        return Err(guard::unbound(crate::budget::BINDING, "Budget", "gateway keys with budgets"));
    }
    let offset = clock_offset(settings, headers);
    let mut guard = guard::Guard::new(env, ctx, settings, plan, inbound, offset);
    if let Err(refused) = guard.admit_route(route, key_name).await {
        seen.error = Some(refused.error.kind());
        return Ok(refused_response(&route.name, inbound, refused));
    }
    let candidates = balanced_candidates(&route.targets);
    let chain = if candidates.is_empty() {
        pick_chain(&route.targets, &mut js_sys::Math::random)
    } else {
        let loads = guard.loads(candidates).await;
        pick_chain_by_load(&route.targets, &mut js_sys::Math::random, &mut |s| {
            loads.iter().find(|(p, _)| std::ptr::eq(*p, s)).map(|(_, l)| *l).unwrap_or_default()
        })
    };
    let mut spend = spend::Spend::new(inbound);
    if let Some(budget) = caller.budget {
        let reserved = spend.reserve(env, settings, key_name, budget, plan, &chain, inbound, request_id, offset).await;
        if let Err(error) = reserved {
            spend.settle(env, ctx, settings, offset);
            // The route's token reservations are given back (nothing was sent).
            guard.finish();
            let response = error_response(&error, inbound.dialect);
            let _ = response.headers().set("x-switchyard-route", &route.name);
            let _ = response.headers().set("x-switchyard-attempts", "0");
            return Ok(response.into());
        }
    }
    let mut cached = match cache::begin(env, headers, plan, route, &chain, inbound).await {
        Ok(turn) => turn,
        Err(served) => {
            spend.settle(env, ctx, settings, offset);
            return Ok(served);
        }
    };
    let mut edge = effects::Edge {
        env,
        plan,
        inbound,
        request_id,
        timeout_cap_ms: settings.upstream_timeout_ms.into(),
        guard,
        spend: &spend,
    };
    let outcome = engine::run(plan, &chain, &mut edge).await;
    edge.guard.finish();
    let outcome = cached.settle(ctx, outcome).await;
    let (response, routed) = answer(&route.name, inbound, outcome, request_id, seen);
    // Set with `x-request-id` and read back for the metrics, in one call (`metrics::observe`).
    seen.set.extend(routed);
    seen.set.extend(edge.guard.headers());
    seen.set.extend(spend.headers());
    spend.settle(env, ctx, settings, offset);
    cached.mark(&response);
    Ok(response)
}

/// A request a route or gateway-key limit refused: 429 in the client's
/// dialect, with `Retry-After` and the rate-limit headers.
fn refused_response(route: &str, inbound: &Inbound<'_>, refused: guard::Refused) -> web_sys::Response {
    let response: web_sys::Response = json(refused.error.status(), inbound.dialect.error_body(&refused.error, None))
        .unwrap_or_else(|e| error_response(&e, inbound.dialect))
        .into();
    let mut headers = crate::limits::headers::rate_headers(&refused.levels);
    if let Some(ms) = refused.retry_after_ms {
        headers.push(("retry-after", crate::limits::headers::retry_after_secs(ms).to_string()));
    }
    headers.push(("x-switchyard-route", route.to_string()));
    headers.push(("x-switchyard-attempts", "0".to_string()));
    let pairs: Vec<(&str, &str)> = crate::seq::map(&headers, |_, (n, v)| (*n, v.as_str()));
    set_headers(&response.headers(), &pairs);
    response
}

/// The client's response for a run of the engine: the success as it came,
/// or the error with its attempt trail; and the headers (to set) that say
/// which route, target and how many attempts served it.
fn answer(
    route: &str,
    inbound: &Inbound<'_>,
    outcome: Result<engine::Done<web_sys::Response>, engine::Failed>,
    request_id: &str,
    seen: &mut metrics::Observed,
) -> (web_sys::Response, [(&'static str, String); 3]) {
    let model = inbound.model;
    let (response, attempts): (web_sys::Response, _) = match outcome {
        Ok(done) => (done.body, done.attempts),
        Err(failed) => {
            seen.error = Some(failed.error.kind());
            let mut trail = failed.attempts.clone();
            for a in &mut trail {
                if a.model == "{model}" {
                    a.model = model.to_string();
                }
            }
            let body = inbound.dialect.error_body(&failed.error, Some(&trail));
            if failed.error.status() >= 500 {
                worker::console_error!(
                    "{{\"request_id\":\"{request_id}\",\"kind\":\"{}\",\"status\":{},\"message\":{:?},\"attempts\":{}}}",
                    failed.error.kind(),
                    failed.error.status(),
                    failed.error.message,
                    crate::engine::trail::to_json(&trail)
                );
            }
            let response = json(failed.error.status(), body)
                .unwrap_or_else(|e| error_response(&e, inbound.dialect));
            if let Some(ms) = failed.retry_after_ms {
                let _ = response.headers().set("retry-after", &ms.div_ceil(1000).to_string());
            }
            (response.into(), failed.attempts)
        }
    };
    let target = attempts.last().map_or(String::new(), |last| {
        let target_model = if last.model == "{model}" { model } else { &last.model };
        [last.provider.as_str(), ":", target_model].concat()
    });
    let routed = [
        ("x-switchyard-route", route.to_string()),
        ("x-switchyard-target", target),
        ("x-switchyard-attempts", attempts.len().to_string()),
    ];
    seen.trail = attempts;
    for a in &mut seen.trail {
        if a.model == "{model}" {
            a.model = model.to_string();
        }
    }
    (response, routed)
}

fn settings(env: &Env) -> Result<Rc<Settings>, GatewayError> {
    let loaded = SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            Settings::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
                .map(Rc::new)
                .map_err(Rc::new)
        })
        .clone()
    });
    loaded.map_err(|problems| {
        GatewayError::new(
            Fault::Misconfigured,
            format!("The gateway is misconfigured: {}.", problems.join("; ")),
        )
    })
}

fn header(headers: &web_sys::Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function set_lines(headers, lines) {
  const parts = lines.split('\\n');
  for (let i = 0; i + 1 < parts.length; i += 2) {
    if (parts[i + 1] === '') continue;
    try { headers.set(parts[i], parts[i + 1]); } catch {}
  }
}
export function get_lines(headers, set, names, withBytes) {
  if (set !== '') set_lines(headers, set);
  const out = [];
  if (withBytes) {
    let n = 0;
    for (const [name, value] of headers) {
      n += name.length;
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
      }
    }
    out.push(String(n));
  }
  for (const name of names === '' ? [] : names.split('\\n')) {
    const value = headers.get(name);
    out.push(value === null ? '\\0' : value);
  }
  return out.join('\\n');
}")]
extern "C" {
    /// Sets the headers of `lines` (`name\nvalue\n…`) in one call; an
    /// empty value, or one the runtime refuses, is left out.
    fn set_lines(headers: &web_sys::Headers, lines: &str);
    /// After setting the headers of `set` (as [`set_lines`]), the values
    /// of the headers named in `names` (`\n`-separated), `\0`
    /// for an absent one, `\n`-separated, in one call; with `with_bytes`,
    /// first the sum of the lengths of all header names and values as
    /// UTF-8 bytes (iterating `Headers` from Rust costs several calls per
    /// header).
    fn get_lines(headers: &web_sys::Headers, set: &str, names: &str, with_bytes: bool) -> String;
}

/// Sets `pairs` on `headers` in one call into the runtime (a header value
/// never holds a newline; a pair that would is set on its own, and
/// refused there). An empty value is left out.
pub(crate) fn set_headers(headers: &web_sys::Headers, pairs: &[(&str, &str)]) {
    let lines = header_lines(headers, pairs);
    if !lines.is_empty() {
        set_lines(headers, &lines);
    }
}

/// `pairs` as `name\nvalue\n…` lines; a pair with a newline is set on its own.
fn header_lines(headers: &web_sys::Headers, pairs: &[(&str, &str)]) -> String {
    let (lines, refused) = join_lines(pairs.iter().copied());
    for (name, value) in refused {
        let _ = headers.set(name, value);
    }
    lines
}

/// Header `pairs` as the `name\nvalue\n…` lines the one-call JS helpers
/// take, and the pairs left out because a name or value holds a newline
/// (which no valid header does, and which the lines could not carry).
pub(crate) fn join_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> (String, Vec<(&'a str, &'a str)>) {
    let mut lines = String::with_capacity(256);
    let mut refused = Vec::new();
    for (name, value) in pairs {
        if name.contains('\n') || value.contains('\n') {
            refused.push((name, value));
            continue;
        }
        if !lines.is_empty() {
            lines.push('\n');
        }
        lines.push_str(name);
        lines.push('\n');
        lines.push_str(value);
    }
    (lines, refused)
}

/// The values of the headers `names` (at most `N`), in one call into the
/// runtime, after `set` is set (a name `set` gives a value is not asked
/// back: the value is `set`'s); with `with_bytes`, also the size of all
/// the headers (names and values, UTF-8 bytes).
pub(crate) fn read_headers<const N: usize>(
    headers: &web_sys::Headers,
    set: &[(&str, &str)],
    names: [&str; N],
    with_bytes: bool,
) -> (usize, [Option<String>; N]) {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    let bytes = read_headers_into(headers, set, &names, with_bytes, &mut values);
    (bytes, values)
}

/// [`read_headers`]' work, once for every count of names.
fn read_headers_into(
    headers: &web_sys::Headers,
    set: &[(&str, &str)],
    names: &[&str],
    with_bytes: bool,
    values: &mut [Option<String>],
) -> usize {
    let known = |name: &str| set.iter().rev().find(|(n, v)| n.eq_ignore_ascii_case(name) && !v.is_empty()).map(|(_, v)| *v);
    let asked: Vec<&str> = crate::seq::keep(names, |n| known(n).is_none().then_some(*n));
    let text = get_lines(headers, &header_lines(headers, set), &asked.join("\n"), with_bytes);
    let mut parts = text.split('\n');
    let bytes = if with_bytes { parts.next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX) } else { 0 };
    for (name, value) in names.iter().zip(values.iter_mut()) {
        *value = match known(name) {
            Some(value) => Some(value.to_string()),
            None => parts.next().filter(|v| *v != "\0").map(str::to_string),
        };
    }
    bytes
}

/// A binding as first read: whether it exists, and its text when it is a var or secret.
type BindingRead = (bool, Option<Rc<str>>);

thread_local! {
    // What this isolate read of `env` so far, by name: whether the binding
    // exists and its text when it is a var or secret (fixed for a
    // deployment's lifetime; a few dozen names at most: the plan's and the
    // settings').
    static BINDINGS: std::cell::RefCell<Vec<(String, BindingRead)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The binding `name` of `env` as this isolate first read it: whether it
/// exists, and its text when it is one (one property get per name and isolate).
fn remembered(env: &Env, name: &str) -> BindingRead {
    if let Some(known) = BINDINGS.with(|b| b.borrow().iter().find(|(n, _)| n == name).map(|(_, read)| read.clone())) {
        return known;
    }
    let value = binding::<wasm_bindgen::JsValue>(env, name);
    let read: BindingRead = (value.is_some(), value.and_then(|v| v.as_string()).map(Rc::from));
    BINDINGS.with(|b| b.borrow_mut().push((name.to_string(), read.clone())));
    read
}

/// Whether `env` has the binding `name` (a var, secret, namespace or
/// dataset): looked up once per isolate, then remembered.
pub(crate) fn is_bound(env: &Env, name: &str) -> bool {
    remembered(env, name).0
}

/// The path of a request URL (without query or fragment), as
/// `worker::Request::path` gives it.
fn path_of(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let rest = rest.find(['?', '#']).map_or(rest, |end| &rest[..end]);
    match rest.find('/') {
        Some(start) => rest[start..].to_string(),
        None => "/".to_string(),
    }
}

/// A JSON response with the given status.
pub(crate) fn json(status: u16, body: String) -> Result<Response, GatewayError> {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    Ok(Response::from_bytes(body.into_bytes())
        .map_err(internal)?
        .with_status(status)
        .with_headers(headers))
}

fn error_response(error: &GatewayError, dialect: Dialect) -> Response {
    let response = json(error.status(), dialect.error_body(error, None)).unwrap_or_else(|_| {
        Response::error("internal error", 500).expect("a plain response can always be built")
    });
    for (name, value) in error.response_headers() {
        let _ = response.headers().set(name, &value);
    }
    response
}

/// Work that goes on after the response (`ctx.wait_until`), boxed: every
/// caller shares one copy of the runtime's promise and task glue.
pub(crate) fn after_response(ctx: &Context, work: Background) {
    ctx.wait_until(work);
}

/// Work in the background of this request (`spawn_local`), boxed likewise.
pub(crate) fn spawn(work: Background) {
    wasm_bindgen_futures::spawn_local(work);
}

/// A boxed background task.
pub(crate) type Background = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// A runtime failure that is nobody's fault but ours.
pub(crate) fn internal(error: worker::Error) -> GatewayError {
    GatewayError::new(Fault::Internal, format!("Internal error: {error}"))
}

/// The same, from a JS exception.
pub(crate) fn internal_js(error: wasm_bindgen::JsValue) -> GatewayError {
    GatewayError::new(
        Fault::Internal,
        format!("Internal error: {}", proxy::describe(&error)),
    )
}

/// A binding of `env` (a var, a secret, a namespace), when it is bound:
/// one property read. (`worker::Env`'s getters also compare the value's
/// constructor name, and `Env::kv` reads five methods, on every call.)
pub(crate) fn binding<T: wasm_bindgen::JsCast>(env: &Env, name: &str) -> Option<T> {
    js_sys::Reflect::get(env, &wasm_bindgen::JsValue::from_str(name))
        .ok()
        .filter(|b| !b.is_undefined() && !b.is_null())
        .map(wasm_bindgen::JsCast::unchecked_into)
}

/// A var or secret of `env` as text: read once per isolate, then remembered.
pub(crate) fn text_binding(env: &Env, name: &str) -> Option<String> {
    remembered(env, name).1.map(|v| v.to_string())
}

/// The runtime's clock, in ms since the epoch (`Date.now()`, no `Date` object).
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

thread_local! {
    // Request ids: a seed drawn once per isolate from the runtime's CSPRNG, and a count.
    static IDS: std::cell::Cell<Option<([u64; 2], u64)>> = const { std::cell::Cell::new(None) };
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The runtime's CSPRNG (`crypto.getRandomValues`), called directly: the
    /// `getrandom` crate's js backend did the same with its own detection,
    /// error types and cached handles.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(bytes: &mut [u8]) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;
}

/// Fills `bytes` from the runtime's CSPRNG; `false` when it failed.
pub(crate) fn random_bytes(bytes: &mut [u8]) -> bool {
    get_random_values(bytes).is_ok()
}

/// A request id: 128 bits as hex, unique per request. The isolate's random
/// seed mixed with a count (splitmix64, a bijection, so no two requests of
/// an isolate share an id): one CSPRNG draw per isolate, not per request.
fn request_id() -> String {
    let (seed, n) = IDS.with(|ids| {
        let (seed, n) = ids.get().unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            let _ = random_bytes(&mut bytes);
            let half = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
            ([half(0), half(8)], 0)
        });
        ids.set(Some((seed, n.wrapping_add(1))));
        (seed, n)
    });
    let step = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut id = String::with_capacity(36);
    id.push_str("req_");
    for half in [splitmix64(seed[0].wrapping_add(step)), splitmix64(seed[1] ^ step)] {
        for shift in (0..16).rev() {
            id.push(char::from(b"0123456789abcdef"[((half >> (shift * 4)) & 15) as usize]));
        }
    }
    id
}

/// The splitmix64 finalizer: a bijection on 64 bits that mixes well.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
