//! One request's usage, cost and budget: what the answer used (a JSON
//! answer's `usage`, or a stream's final tally from the relay), the
//! `x-switchyard-*` usage headers, and the gateway key's budget reserved
//! before the engine runs and settled after the answer (a stream's once
//! it ended, through `ctx.wait_until`).
//!
//! A budget object that does not answer within `OBJECT_TIMEOUT_MS` refuses
//! the request (503): a budget is a hard cap, unlike a rate limit.

use super::objects;
use crate::budget::ledger::{Message, Standing};
use crate::budget::{self, Budget};
use crate::call::Inbound;
use crate::config::Settings;
use crate::error::{Fault, GatewayError};
use crate::json_out::ToJson;
use crate::plan::{ModelRef, RoutingPlan, Step};
use crate::usage::{self, price, Rates, Source, Tally, Usage};
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use worker::{Context, Env};

/// What one request used and what its key's budget holds for it.
pub struct Spend {
    /// The pre-call estimate (prompt bytes / 4, the answer cap).
    pub estimate: Usage,
    /// The prices of the try being sent (set before each try).
    pub rates: Cell<Option<Rates>>,
    /// A JSON answer's tally.
    pub tally: Cell<Option<Tally>>,
    /// A streamed answer's tally, sent by the relay when the stream ends.
    pub stream: RefCell<Option<oneshot::Receiver<Tally>>>,
    /// The budget object and this request's reservation in it.
    reservation: Option<(String, String)>,
}

/// The prices of what `step` sends.
pub fn step_rates(plan: &RoutingPlan, step: &Step, inbound: &Inbound<'_>) -> Option<Rates> {
    let provider = plan.providers.get(step.provider)?;
    let model = match &step.model {
        ModelRef::Fixed(m) => m.as_str(),
        ModelRef::Request => inbound.model,
    };
    price::rates(&provider.prices, model)
}

impl Spend {
    pub fn new(inbound: &Inbound<'_>) -> Spend {
        Spend {
            estimate: usage::estimate(inbound.body),
            rates: Cell::new(None),
            tally: Cell::new(None),
            stream: RefCell::new(None),
            reservation: None,
        }
    }

    /// A JSON answer (`body`) arrived: its stated usage, or a count.
    pub fn answered(&self, stated: Option<Usage>, body_len: usize) {
        let rates = self.rates.get();
        let tally = match stated {
            Some(u) => Tally::new(u, Source::Reported, rates.as_ref()),
            None => {
                let counted = Usage {
                    input_tokens: self.estimate.input_tokens,
                    output_tokens: usage::tokens_of_bytes(body_len as u64),
                    cached_input_tokens: None,
                };
                Tally::new(counted, Source::Counted, rates.as_ref())
            }
        };
        self.tally.set(Some(tally));
    }

    /// The headers of the client's response: the answer's tally, or for a
    /// stream the estimate (its real tally goes at the end of the stream).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        if let Some(t) = self.tally.get() {
            return t.headers();
        }
        if self.stream.borrow().is_some() {
            return Tally::new(self.estimate, Source::Estimate, self.rates.get().as_ref()).headers();
        }
        Vec::new()
    }

    /// Reserves the estimate at the dearest prices of `chain` in the
    /// budget of `key`: a 429 `insufficient_quota` when it is used up.
    #[allow(clippy::too_many_arguments)] // one request's context, named
    pub async fn reserve(
        &mut self,
        env: &Env,
        settings: &Settings,
        key: &str,
        budget: Budget,
        plan: &RoutingPlan,
        chain: &[&Step],
        inbound: &Inbound<'_>,
        request_id: &str,
        offset_ms: i64,
    ) -> Result<(), GatewayError> {
        let micros = chain
            .iter()
            .filter_map(|s| step_rates(plan, s, inbound))
            .map(|r| r.cost(&self.estimate))
            .max()
            .unwrap_or(0);
        let name = budget::object_name(key);
        let message = Message::Reserve { id: request_id.to_string(), micros, budget };
        let answer = ask(env, &name, &message, settings.object_timeout_ms, offset_ms).await;
        // Whatever happened, a reservation may exist: settle it afterwards.
        self.reservation = Some((name.clone(), request_id.to_string()));
        match answer {
            Ok(standing) if standing.admitted => Ok(()),
            Ok(standing) => Err(GatewayError::new(
                Fault::QuotaExceeded,
                format!(
                    "This gateway key has used its budget of {} USD per {} ({} USD spent); it resets at {} ms since the epoch.",
                    usage::usd(standing.limit_micros),
                    standing.period.map_or("period", |p| p.name()),
                    usage::usd(standing.spent_micros),
                    standing.resets_at_ms
                ),
            )),
            Err(reason) => {
                worker::console_error!("{{\"event\":\"budget_unreachable\",\"object\":{name:?},\"reason\":{reason:?}}}");
                Err(GatewayError::new(Fault::Unavailable, "The gateway could not check this key's budget; try again."))
            }
        }
    }

    /// After the response: the reservation settled with the real cost (a
    /// JSON answer's now, a stream's when it ended; nothing for a failure).
    pub fn settle(&self, env: &Env, ctx: &Context, settings: &Settings, offset_ms: i64) {
        let Some((name, id)) = self.reservation.clone() else { return };
        let (env, timeout) = (env.clone(), settings.object_timeout_ms);
        let now = self.tally.get();
        let later = self.stream.borrow_mut().take();
        super::after_response(ctx, Box::pin(async move {
            let tally = match later {
                Some(receiver) => receiver.await.ok(),
                None => now,
            };
            let micros = tally.and_then(|t| t.cost_micros).unwrap_or(0);
            let message = Message::Settle { id, micros };
            if let Err(reason) = ask(&env, &name, &message, timeout, offset_ms).await {
                worker::console_error!("{{\"event\":\"budget_unreachable\",\"object\":{name:?},\"reason\":{reason:?}}}");
            }
        }));
    }
}

/// One message to the budget object `name` ([`budget::object_name`]), its
/// standing back; `Message::Peek` reads a key's budget without changing it
/// (for a dashboard or the status endpoint).
pub(crate) async fn ask(env: &Env, name: &str, message: &Message, timeout_ms: u64, offset_ms: i64) -> Result<Standing, String> {
    let answer = objects::ask(env, budget::BINDING, name, "", message.to_json(), timeout_ms, offset_ms).await?;
    Standing::from_value(&answer).ok_or_else(|| "unreadable answer".to_string())
}
