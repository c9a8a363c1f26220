//! The routing plan this isolate serves: the one embedded at build time,
//! or the one in the `ROUTES` KV namespace (key `plan`) when that
//! binding exists and holds a valid plan.
//!
//! KV is read on a request, at most every `PLAN_REFRESH_MS`, one read; the
//! text is parsed only when it changed (see [`crate::plan::live`]). A plan
//! that is refused is logged in one line and the previous plan keeps
//! serving. The routers themselves are immutable (`Rc<Router>`); only which
//! one serves changes.

use crate::error::{Fault, GatewayError};
use crate::plan::live::{Change, Live};
use crate::plan::{Router, RoutingPlan, KV_BINDING as ROUTES_BINDING, KV_KEY as PLAN_KEY};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use super::cache::KvNamespace;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

thread_local! {
    static EMBEDDED: OnceCell<Result<Rc<Router>, String>> = const { OnceCell::new() };
    static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
}

/// The plan compiled into this build.
fn embedded_plan_json() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/plan.json"))
}

fn embedded() -> Result<Rc<Router>, GatewayError> {
    EMBEDDED
        .with(|cell| {
            cell.get_or_init(|| {
                RoutingPlan::from_json(embedded_plan_json())
                    .and_then(Router::new)
                    .map(Rc::new)
            })
            .clone()
        })
        .map_err(|reason| {
            GatewayError::new(
                Fault::Internal,
                format!("The embedded routing plan is invalid: {reason}"),
            )
        })
}

/// The router for this request.
pub async fn current(env: &Env, refresh_ms: u64) -> Result<Rc<Router>, GatewayError> {
    let embedded = embedded()?;
    if !super::is_bound(env, ROUTES_BINDING) {
        return Ok(embedded);
    }
    let now = super::now_ms();
    let (due, router) = LIVE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let live = cell.get_or_insert_with(|| Live::new(embedded));
        (live.due(now, refresh_ms), live.router())
    });
    if !due {
        return Ok(router);
    }
    let Some(kv) = super::binding::<KvNamespace>(env, ROUTES_BINDING) else {
        return Ok(router);
    };
    let read = match kv.get(PLAN_KEY) {
        Ok(promise) => JsFuture::from(promise).await,
        Err(error) => Err(error),
    };
    let text = match read {
        // A missing key reads as `null`: no published plan.
        Ok(value) => value.as_string(),
        Err(error) => {
            LIVE.with(|cell| cell.borrow_mut().as_mut().map(Live::unreadable));
            worker::console_error!(
                "{{\"event\":\"plan_read_failed\",\"binding\":\"{ROUTES_BINDING}\",\"error\":{:?}}}",
                super::proxy::describe(&error)
            );
            return Ok(router);
        }
    };
    // No borrow is held across the await above; another request may have
    // offered the same text meanwhile, which `offer` sees as unchanged.
    let (change, router) = LIVE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let live = cell.as_mut().expect("initialised above");
        (live.offer(text.as_deref()), live.router())
    });
    match change {
        Change::Unchanged => {}
        Change::Adopted { hash } => {
            worker::console_log!("{{\"event\":\"plan_adopted\",\"hash\":{hash:?}}}")
        }
        Change::Reverted => {
            worker::console_log!("{{\"event\":\"plan_reverted_to_embedded\"}}")
        }
        Change::Refused(reason) => worker::console_error!(
            "{{\"event\":\"plan_refused\",\"serving\":{:?},\"reason\":{reason:?}}}",
            router.plan().hash
        ),
    }
    Ok(router)
}
