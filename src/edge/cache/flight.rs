//! The single-flight Durable Object `Flight` (binding `FLIGHT`: one object
//! per cache key, or per shard of keys with `FLIGHT_SHARDS`) and the
//! Worker's client for it. The object is thin glue around
//! [`crate::cache::flight::Flights`]: it keeps that state in memory only (a
//! flight lasts seconds; an object that is evicted or restarted forgets it,
//! and its followers then go alone), and holds each waiting follower's
//! request open until the leader reports or the wait runs out. Messages are
//! text in a POST body (see [`crate::cache::flight`]).

use crate::cache::flight::{envelope, object_name, open, Claimed, Flights, Message, Reply, MAX_SHARDS};
use futures::channel::oneshot;
use futures::future::{select, Either};
use std::cell::RefCell;
use std::pin::pin;
use std::time::Duration;
use crate::edge::objects::{Namespace, Stub};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{durable_object, Delay, DurableObject, Env, Request, Response, Result};

/// The binding of the flight objects.
pub const BINDING: &str = "FLIGHT";

#[durable_object(fetch)]
pub struct Flight {
    state: RefCell<Flights>,
    /// Followers waiting in this object, by key and waiter number.
    waiting: RefCell<Vec<(String, u64, oneshot::Sender<Reply>)>>,
}

impl DurableObject for Flight {
    fn new(_state: worker::State, _env: Env) -> Self {
        Flight { state: RefCell::new(Flights::new(now_ms())), waiting: RefCell::new(Vec::new()) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let text = JsFuture::from(req.inner().text()?).await?.as_string().unwrap_or_default();
        let (key, message) = open(&text).ok_or_else(|| worker::Error::RustError("bad message".into()))?;
        let now = now_ms();
        let reply = match message {
            Message::Claim { lease_ms, wait_ms, fresh_after_ms } => {
                let claimed = self.state.borrow_mut().flight(key).claim(now, lease_ms, wait_ms, fresh_after_ms);
                self.state.borrow_mut().tidy(now);
                match claimed {
                    Claimed::Reply(reply) => reply,
                    Claimed::Wait { waiter, wait_ms } => self.wait(key, waiter, wait_ms).await,
                }
            }
            report => {
                let (woken, reply) = self.state.borrow_mut().flight(key).report(now, report);
                self.state.borrow_mut().tidy(now);
                let mut waiting = self.waiting.borrow_mut();
                for waiter in woken {
                    if let Some(at) = waiting.iter().position(|(k, w, _)| *w == waiter && k == key) {
                        let (_, _, sender) = waiting.swap_remove(at);
                        let _ = sender.send(reply.clone());
                    }
                }
                Reply::Ok
            }
        };
        Response::ok(reply.encode())
    }
}

impl Flight {
    /// Holds a follower until the leader reports or `wait_ms` pass.
    async fn wait(&self, key: &str, waiter: u64, wait_ms: u64) -> Reply {
        let (sender, receiver) = oneshot::channel();
        self.waiting.borrow_mut().push((key.to_string(), waiter, sender));
        let timer = pin!(Delay::from(Duration::from_millis(wait_ms.max(1))));
        match select(receiver, timer).await {
            Either::Left((Ok(reply), _)) => reply,
            _ => {
                self.state.borrow_mut().flight(key).give_up(waiter);
                self.waiting.borrow_mut().retain(|(k, w, _)| !(*w == waiter && k == key));
                Reply::Alone { reason: format!("no answer from the identical request within {wait_ms} ms") }
            }
        }
    }
}

fn now_ms() -> u64 {
    super::super::now_ms()
}

/// The Worker's side: messages to the flight object of one key.
#[derive(Clone)]
pub struct Client {
    stub: Stub,
    key: String,
}

/// The var that spreads the keys over this many objects (0 or unset: one object per key).
pub const SHARDS_VAR: &str = "FLIGHT_SHARDS";

/// How long a report may take before the Worker gives up on it.
const REPORT_TIMEOUT_MS: u64 = 2_000;

impl Client {
    /// The object for `key`; `None` when `FLIGHT` is not bound (logged once per isolate).
    pub fn new(env: &worker::Env, key: &str) -> Option<Client> {
        let shards = super::super::text_binding(env, SHARDS_VAR)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0)
            .min(MAX_SHARDS);
        let Some(namespace) = super::super::binding::<Namespace>(env, BINDING) else {
            NO_FLIGHT_LOGGED.with(|logged| {
                if logged.set(()).is_ok() {
                    worker::console_warn!("{{\"event\":\"cache_single_flight_off\",\"reason\":\"no Durable Object binding {BINDING}\"}}");
                }
            });
            return None;
        };
        let id = namespace.id_from_name(&object_name(key, shards)).ok()?;
        Some(Client { stub: namespace.get(&id).ok()?, key: key.to_string() })
    }

    /// Sends `message`; the object's reply, or why there is none within `timeout_ms`.
    pub async fn send(&self, message: &Message, timeout_ms: u64) -> std::result::Result<Reply, String> {
        let exchange = pin!(self.exchange(message));
        let timer = pin!(Delay::from(Duration::from_millis(timeout_ms)));
        match select(exchange, timer).await {
            Either::Left((reply, _)) => reply,
            Either::Right(((), _)) => Err(format!("no answer within {timeout_ms} ms")),
        }
    }

    /// A report (after the response): failures are logged, never raised.
    pub async fn report(&self, message: &Message) {
        if let Err(reason) = self.send(message, REPORT_TIMEOUT_MS).await {
            worker::console_warn!("{{\"event\":\"flight_report_failed\",\"reason\":{reason:?}}}");
        }
    }

    async fn exchange(&self, message: &Message) -> std::result::Result<Reply, String> {
        let js = |e: JsValue| super::super::proxy::describe(&e);
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&envelope(&self.key, message)));
        let promise = self.stub.fetch("https://flight.switchyard/", &init).map_err(js)?;
        let response: web_sys::Response = JsFuture::from(promise).await.map_err(js)?.dyn_into().map_err(js)?;
        let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?.as_string().unwrap_or_default();
        if !response.ok() {
            return Err(format!("status {}: {}", response.status(), text.chars().take(200).collect::<String>()));
        }
        Reply::decode(&text).ok_or_else(|| format!("unreadable reply: {}", text.chars().take(80).collect::<String>()))
    }
}

thread_local! {
    // Set once, when the missing binding has been logged in this isolate.
    static NO_FLIGHT_LOGGED: std::cell::OnceCell<()> = const { std::cell::OnceCell::new() };
}
