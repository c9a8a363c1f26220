//! The response cache on the Workers runtime: entries in the KV namespace
//! `CACHE`, single-flight through the `FLIGHT` Durable Object
//! ([`flight::Flight`]). What is cached, under which key, and how an entry
//! is recorded and replayed is plain Rust in [`crate::cache`].
//!
//! For a request on a route with `cache`:
//! 1. [`begin`]: `no-store`, a non-chat or non-cacheable request → BYPASS;
//!    `no-cache` → REFRESH (no read); else one KV read: a fresh entry is the
//!    answer (HIT, `age`), replayed as JSON or SSE as the client asked. On a
//!    miss the flight object is asked: lead (MISS, call the upstream), or
//!    wait for the identical request in flight and answer what it got (its
//!    entry, or its error), or go alone.
//! 2. The engine runs as for any request.
//! 3. [`Turn::settle`]: a JSON answer is decoded into the canonical answer
//!    and written back as the entry's JSON (so the leader's client and every
//!    later hit get the same bytes); a stream is teed, the client's half
//!    returned at once, the other half recorded after the response
//!    (`ctx.wait_until`). Only a complete 200 answer is stored: reported to
//!    the flight object first (its followers are waiting), then put in KV
//!    with `expirationTtl` = max(ttl, 60 s) (garbage collection; freshness
//!    is checked here, from the entry's own `stored_at_ms`).
//!
//! Without a `CACHE` binding caching is off (one log line per isolate);
//! without `FLIGHT` there is no coalescing (one log line).
//! `SWITCHYARD_TEST_CLOCK=1` (tests only, never in production) lets a
//! request move the cache's clock by `x-switchyard-test-clock-ms`.

mod flight;

use super::{binding, header, json};
use crate::cache::control::{COALESCED_HEADER, KEY_HEADER};
use crate::cache::entry::kv_expiration_ttl_s;
use crate::cache::flight::{Message, Reply, SharedError, RECENT_MS};
use crate::cache::record::Recorder;
use crate::cache::{cache_key, cacheable, replay, Control, Entry, KeyInput, Status, MAX_ENTRY_BYTES, NAMESPACE_HEADER, STATUS_HEADER};
use crate::call::{Inbound, Operation};
use crate::canonical::ChatResponse;
use crate::dialect::Dialect;
use crate::engine::{Done, Failed};
use crate::error::{Fault, GatewayError};
use crate::plan::{Route, RoutingPlan, Step};
use js_sys::{Promise, Uint8Array};
use std::cell::OnceCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader, ReadableStreamReadResult, Response, ResponseInit};
use worker::{Context, Env};

/// The KV namespace of the entries.
pub const KV_BINDING: &str = "CACHE";
/// Tests only: `1` lets [`CLOCK_HEADER`] move the cache's clock.
const TEST_CLOCK_VAR: &str = "SWITCHYARD_TEST_CLOCK";
const CLOCK_HEADER: &str = "x-switchyard-test-clock-ms";
/// Slack on a leader's lease beyond the route's total deadline.
const LEASE_SLACK_MS: u64 = 5_000;

thread_local! {
    // Set once, when the missing binding has been logged in this isolate.
    static NO_KV_LOGGED: OnceCell<()> = const { OnceCell::new() };
}

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding, as the runtime gives it (also the plan's:
    /// `edge::plan`; the `worker` crate's KV wrapper is not linked).
    #[derive(Clone)]
    pub(super) type KvNamespace;

    #[wasm_bindgen(method, catch)]
    pub(super) fn get(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(this: &KvNamespace, key: &str, value: &str, options: &JsValue) -> Result<Promise, JsValue>;
}

/// What the cache does for one request.
pub struct Turn {
    /// `None`: the route does not cache (or there is no binding): nothing to do.
    status: Option<Status>,
    store: Option<Store>,
    /// The flight token when this request leads.
    lease: Option<u64>,
    dialect: Dialect,
}

/// What writing an entry needs, owned (it runs after the response).
#[derive(Clone)]
struct Store {
    kv: KvNamespace,
    flight: Option<flight::Client>,
    key: String,
    ttl_ms: u64,
    offset_ms: i64,
}

/// Decides what the cache does for `inbound` on `route`: `Err` is the
/// client's answer already (a hit, or an identical request's answer).
pub async fn begin(
    env: &Env,
    headers: &web_sys::Headers,
    plan: &RoutingPlan,
    route: &Route,
    chain: &[&Step],
    inbound: &Inbound<'_>,
) -> Result<Turn, Response> {
    let mut turn = Turn { status: None, store: None, lease: None, dialect: inbound.dialect };
    let Some(cache) = route.cache else { return Ok(turn) };
    let Some(kv) = binding::<KvNamespace>(env, KV_BINDING) else {
        NO_KV_LOGGED.with(|logged| {
            if logged.set(()).is_ok() {
                worker::console_warn!(
                    "{{\"event\":\"cache_off\",\"reason\":\"no KV binding {KV_BINDING}\",\"route\":{:?}}}",
                    route.name
                );
            }
        });
        return Ok(turn);
    };
    let control = Control::parse(header(headers, "cache-control").as_deref(), header(headers, NAMESPACE_HEADER).as_deref());
    turn.status = Some(Status::Bypass);
    let request = match inbound.operation {
        Operation::Chat if !control.no_store => match inbound.chat() {
            Ok(request) => request,
            Err(_) => return Ok(turn),
        },
        _ => return Ok(turn),
    };
    if cacheable(request, cache.sampled).is_err() {
        return Ok(turn);
    }
    let targets = route.targets.to_json();
    let key = cache_key(&KeyInput {
        plan_hash: &plan.hash,
        // `provider:{model}` serializes as "request": the client's model is then part of the resolution.
        passed_model: targets.contains("\"request\"").then_some(inbound.model),
        targets: &targets,
        namespace: control.namespace.as_deref(),
        request,
    });
    let offset_ms = clock_offset(env, headers);
    let store = Store { kv, flight: flight::Client::new(env, &key), key, ttl_ms: cache.ttl_ms, offset_ms };
    let now = store.now_ms();
    let total_ms = chain.first().map_or(0, |s| plan.policy(s).total_timeout_ms);
    let shown = Shown { route: &route.name, key: &store.key, dialect: inbound.dialect, stream: inbound.stream, include_usage: inbound.include_usage };
    if control.no_cache {
        turn.status = Some(Status::Refresh);
        turn.store = Some(store);
        return Ok(turn);
    }
    if let Some(entry) = store.read().await.filter(|e| e.fresh(now, cache.ttl_ms)) {
        return Err(shown.hit(&entry.answer, entry.age_s(now), false));
    }
    turn.status = Some(Status::Miss);
    if let Some(flight) = &store.flight {
        let claim = Message::Claim {
            lease_ms: total_ms.saturating_add(LEASE_SLACK_MS),
            wait_ms: total_ms,
            fresh_after_ms: now.saturating_sub(cache.ttl_ms),
        };
        match flight.send(&claim, total_ms.saturating_add(2_000)).await {
            Ok(Reply::Lead { token }) => turn.lease = Some(token),
            Ok(Reply::Entry { entry }) => {
                // Not fresh enough for this request (its clock): it calls the upstream itself.
                if let Some(entry) = Entry::parse(&entry).filter(|e| e.fresh(now, cache.ttl_ms)) {
                    return Err(shown.hit(&entry.answer, entry.age_s(store.now_ms()), true));
                }
            }
            Ok(Reply::Error { error }) => return Err(shown.error(&error)),
            Ok(Reply::Alone { .. } | Reply::Ok) => {}
            Err(reason) => worker::console_warn!("{{\"event\":\"flight_unavailable\",\"reason\":{reason:?}}}"),
        }
    }
    turn.store = Some(store);
    Ok(turn)
}

/// What a cached answer says about itself.
struct Shown<'a> {
    route: &'a str,
    key: &'a str,
    dialect: Dialect,
    stream: bool,
    include_usage: bool,
}

impl Shown<'_> {
    /// The entry as the client asked for it: JSON, or a stream.
    fn hit(&self, answer: &ChatResponse, age_s: u64, coalesced: bool) -> Response {
        let (body, content_type) = if self.stream {
            (replay::sse(self.dialect, self.include_usage, answer), "text/event-stream")
        } else {
            (replay::json(self.dialect, answer), "application/json")
        };
        let response = respond(200, &body, content_type);
        let headers = response.headers();
        if self.stream {
            let _ = headers.set("cache-control", "no-cache");
        }
        let _ = headers.set("age", &age_s.to_string());
        self.mark(&response, Status::Hit, coalesced);
        response
    }

    /// An identical request's error, in this client's dialect.
    fn error(&self, shared: &SharedError) -> Response {
        let error = shared.error();
        let response: Response = json(error.status(), self.dialect.error_body(&error, None))
            .map(Into::into)
            .unwrap_or_else(|_| respond(error.status(), &error.message, "text/plain"));
        if let Some(ms) = shared.retry_after_ms {
            let _ = response.headers().set("retry-after", &ms.div_ceil(1000).to_string());
        }
        self.mark(&response, Status::Miss, true);
        response
    }

    fn mark(&self, response: &Response, status: Status, coalesced: bool) {
        let headers = response.headers();
        let _ = headers.set(STATUS_HEADER, status.as_str());
        let _ = headers.set(KEY_HEADER, self.key);
        let _ = headers.set("x-switchyard-route", self.route);
        let _ = headers.set("x-switchyard-attempts", "0");
        if coalesced {
            let _ = headers.set(COALESCED_HEADER, "1");
        }
    }
}

fn respond(status: u16, body: &str, content_type: &str) -> Response {
    let init = ResponseInit::new();
    init.set_status(status);
    let response = Response::new_with_opt_str_and_init(Some(body), &init).expect("a response from a string");
    let _ = response.headers().set("content-type", content_type);
    response
}

/// Tests only: how far a request moves the cache's clock.
fn clock_offset(env: &Env, headers: &web_sys::Headers) -> i64 {
    if super::text_binding(env, TEST_CLOCK_VAR).as_deref() != Some("1") {
        return 0;
    }
    header(headers, CLOCK_HEADER).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

impl Turn {
    /// After the engine: stores a good answer (a stream is teed: the
    /// client's half at once, the recording after the response), reports
    /// to the followers.
    pub async fn settle(&mut self, ctx: &Context, outcome: Result<Done<Response>, Failed>) -> Result<Done<Response>, Failed> {
        let Some(store) = self.store.clone() else { return outcome };
        let lease = self.lease.take();
        let (outcome, work) = self.prepare(&store, outcome).await;
        if lease.is_some() || matches!(work, After::Write { .. } | After::Record(_)) {
            super::after_response(ctx, Box::pin(after(store, lease, self.dialect, work)));
        }
        outcome
    }

    async fn prepare(&self, store: &Store, outcome: Result<Done<Response>, Failed>) -> (Result<Done<Response>, Failed>, After) {
        let mut done = match outcome {
            Ok(done) => done,
            Err(failed) => {
                let error = SharedError::new(&failed.error, failed.retry_after_ms);
                return (Err(failed), After::Failed(error));
            }
        };
        let streamed = done.body.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("text/event-stream"));
        let work = match (done.status, streamed, done.body.body()) {
            (200, true, Some(body)) => match tee(&body).and_then(|(client, rec)| Some((with_body(&done.body, &client)?, rec))) {
                Some((response, recorded)) => {
                    done.body = response;
                    After::Record(recorded)
                }
                None => After::Release,
            },
            (200, false, Some(_)) => match read_json(&done.body, self.dialect).await {
                Ok(answer) => {
                    let stored_at_ms = store.now_ms();
                    let text = Entry::new(answer, stored_at_ms, store.ttl_ms).to_json();
                    match Entry::parse(&text) {
                        Some(entry) => {
                            // The client gets what a hit will get: the stored answer, same bytes.
                            done.body = respond(200, &replay::json(self.dialect, &entry.answer), "application/json");
                            After::Write { text, stored_at_ms }
                        }
                        None => After::Release,
                    }
                }
                // Not a canonical answer: passed on as it came (only a copy was read), not stored.
                Err(()) => After::Release,
            },
            _ => After::Release,
        };
        (Ok(done), work)
    }

    /// Adds the cache's headers to the client's response.
    pub fn mark(&self, response: &Response) {
        let Some(status) = self.status else { return };
        let headers = response.headers();
        let _ = headers.set(STATUS_HEADER, status.as_str());
        if let Some(store) = &self.store {
            let _ = headers.set(KEY_HEADER, &store.key);
        }
    }
}

/// What is left to do after the response.
enum After {
    /// The leader's run failed: its followers get the error.
    Failed(SharedError),
    /// Nothing to store: the followers go alone.
    Release,
    /// Store this entry.
    Write { text: String, stored_at_ms: u64 },
    /// Record this half of a stream, then store it if it was complete.
    Record(ReadableStream),
}

/// The bookkeeping after the response (`ctx.wait_until`), in one future.
async fn after(store: Store, lease: Option<u64>, dialect: Dialect, work: After) {
    let report = match work {
        After::Failed(error) => Some(Err(error)),
        After::Release => None,
        After::Write { text, stored_at_ms } => Some(Ok((text, stored_at_ms))),
        After::Record(body) => match record(body, dialect, store.now_ms() / 1000).await {
            Ok(answer) => {
                let stored_at_ms = store.now_ms();
                Some(Ok((Entry::new(answer, stored_at_ms, store.ttl_ms).to_json(), stored_at_ms)))
            }
            Err(what) => {
                let error = GatewayError::new(
                    Fault::UpstreamIncomplete,
                    format!("The upstream provider's stream failed part-way ({what}); the response is incomplete."),
                );
                Some(Err(SharedError::new(&error, None)))
            }
        },
    };
    let message = match report {
        Some(Ok((text, stored_at_ms))) if text.len() <= MAX_ENTRY_BYTES => {
            store.write(lease, text, stored_at_ms).await;
            return;
        }
        Some(Ok((text, _))) => {
            worker::console_warn!("{{\"event\":\"cache_skipped\",\"reason\":\"entry of {} bytes is over KV's limit\"}}", text.len());
            None
        }
        Some(Err(error)) => Some(error),
        None => None,
    };
    if let (Some(token), Some(flight)) = (lease, &store.flight) {
        let message = match message {
            Some(error) => Message::Failed { token, error },
            None => Message::Release { token },
        };
        flight.report(&message).await;
    }
}

impl Store {
    fn now_ms(&self) -> u64 {
        super::now_ms().saturating_add_signed(self.offset_ms)
    }

    /// The entry under the key, if there is one this build reads.
    async fn read(&self) -> Option<Entry> {
        let promise = self.kv.get(&self.key).ok()?;
        match JsFuture::from(promise).await {
            Ok(value) => value.as_string().and_then(|text| Entry::parse(&text)),
            Err(e) => {
                worker::console_error!("{{\"event\":\"cache_read_failed\",\"error\":{:?}}}", super::proxy::describe(&e));
                None
            }
        }
    }

    /// Hands the entry to the waiting followers, then to KV.
    async fn write(&self, lease: Option<u64>, text: String, stored_at_ms: u64) {
        let put = {
            let options = js_sys::Object::new();
            let ttl = JsValue::from_f64(kv_expiration_ttl_s(self.ttl_ms) as f64);
            let _ = js_sys::Reflect::set(&options, &JsValue::from_str("expirationTtl"), &ttl);
            self.kv.put(&self.key, &text, &options)
        };
        if let Some(flight) = &self.flight {
            let keep_ms = RECENT_MS.min(self.ttl_ms);
            flight.report(&Message::Done { token: lease, entry: text, stored_at_ms, keep_ms }).await;
        }
        let result = match put {
            Ok(promise) => JsFuture::from(promise).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            worker::console_error!("{{\"event\":\"cache_write_failed\",\"error\":{:?}}}", super::proxy::describe(&e));
        }
    }
}

/// A stream in two: the client's half and the recorder's.
fn tee(body: &ReadableStream) -> Option<(ReadableStream, ReadableStream)> {
    let halves = body.tee();
    Some((halves.get(0).dyn_into().ok()?, halves.get(1).dyn_into().ok()?))
}

/// `response` with another body, same status and headers.
fn with_body(response: &Response, body: &ReadableStream) -> Option<Response> {
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_headers(&response.headers());
    Response::new_with_opt_readable_stream_and_init(Some(body), &init).ok()
}

/// A JSON answer in the client's dialect, decoded from a copy (the
/// response itself stays readable); `Err` when it is not a canonical answer.
async fn read_json(response: &Response, dialect: Dialect) -> Result<ChatResponse, ()> {
    let copy = response.clone().map_err(drop)?;
    let buffer = JsFuture::from(copy.array_buffer().map_err(drop)?).await.map_err(drop)?;
    dialect.native().chat_response(&Uint8Array::new(&buffer).to_vec()).map_err(drop)
}

/// Reads the recorder's half of a stream to its end: the answer, if the
/// stream was complete.
async fn record(body: ReadableStream, dialect: Dialect, created: u64) -> Result<ChatResponse, String> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut recorder = Recorder::new(dialect.native());
    loop {
        let step: ReadableStreamReadResult =
            JsFuture::from(reader.read()).await.map_err(|e| super::proxy::describe(&e))?.unchecked_into();
        if step.get_done().unwrap_or(false) {
            return recorder.finish(created);
        }
        recorder.push(&Uint8Array::new(&step.get_value()).to_vec());
    }
}
