//! Single-flight: identical cacheable requests that miss at the same time
//! make one upstream call.
//!
//! One Durable Object per cache key (`FLIGHT`, named by the key) keeps this
//! state; the Worker sends it [`Message`]s. Every isolate goes through the
//! object, so requests coalesce within an isolate and across isolates and
//! locations alike (no isolate keeps pending state in a static).
//!
//! - A request that misses sends [`Message::Claim`]. The first gets
//!   [`Reply::Lead`] with a token and a lease (the route's total deadline);
//!   the ones that claim while the lease runs wait in the object (at most
//!   their own bound, and never past the lease).
//! - The leader reports once: [`Message::Done`] with the entry (every
//!   follower gets it at once, without reading KV, and the object keeps it
//!   for [`RECENT_MS`] to cover KV's propagation delay, see README),
//!   [`Message::Failed`] with its error (every follower answers that same
//!   error), or [`Message::Release`] when it has nothing to share (the
//!   answer was not storable): followers then call the upstream themselves.
//! - A leader that never reports (its isolate died) holds the key until
//!   its lease ends; its followers stop waiting then and call the upstream
//!   themselves ([`Reply::Alone`]), and the next claim leads.

use crate::error::{Fault, GatewayError};
use serde::{Deserialize, Serialize};

/// How long the object serves a finished answer to later claims: KV may
/// take up to a minute to show a write in other locations.
pub const RECENT_MS: u64 = 60_000;

/// A message to the flight object of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Message {
    /// A request missed. `lease_ms`: how long a leader may take;
    /// `wait_ms`: how long this request may wait for another's answer;
    /// `fresh_after_ms`: the oldest `stored_at_ms` it may be served (the
    /// Worker's clock).
    Claim { lease_ms: u64, wait_ms: u64, fresh_after_ms: u64 },
    /// An answer was stored (by the leader, or by a refresh: `token` `None`).
    /// `keep_ms`: how long later claims may be served it.
    Done { token: Option<u64>, entry: String, stored_at_ms: u64, keep_ms: u64 },
    /// The leader's run failed with this error.
    Failed { token: u64, error: SharedError },
    /// The leader has no answer to share.
    Release { token: u64 },
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// Call the upstream, then report with this token.
    Lead { token: u64 },
    /// An identical request's answer (an entry's JSON).
    Entry { entry: String },
    /// An identical request failed with this.
    Error { error: SharedError },
    /// Call the upstream yourself, and do not report.
    Alone { reason: String },
    /// A report was taken.
    Ok,
}

/// A leader's error as its followers answer it (each in its own dialect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedError {
    pub status: u16,
    /// [`GatewayError::kind`].
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl SharedError {
    pub fn new(error: &GatewayError, retry_after_ms: Option<u64>) -> SharedError {
        SharedError {
            status: error.status(),
            kind: error.kind().to_string(),
            message: error.message.clone(),
            retry_after_ms,
        }
    }

    /// The same error again: same status, kind and message.
    pub fn error(&self) -> GatewayError {
        let fault = match self.kind.as_str() {
            "upstream_unreachable" => Fault::UpstreamUnreachable,
            "upstream_timeout" => Fault::UpstreamTimeout,
            "upstream_malformed" => Fault::UpstreamMalformed,
            "upstream_incomplete" => Fault::UpstreamIncomplete,
            "misconfigured" => Fault::Misconfigured,
            "internal_error" => Fault::Internal,
            "bad_request" => Fault::BadRequest,
            _ if (400..600).contains(&self.status) => Fault::UpstreamStatus(self.status),
            _ => Fault::Internal,
        };
        GatewayError::new(fault, self.message.clone())
    }
}

/// What a claim comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed {
    /// Answer at once.
    Reply(Reply),
    /// Wait (at most `wait_ms`) for the leader's report; then [`Flight::give_up`].
    Wait { waiter: u64, wait_ms: u64 },
}

#[derive(Debug, Clone, PartialEq)]
struct Lease {
    token: u64,
    until_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
struct Recent {
    entry: String,
    stored_at_ms: u64,
    until_ms: u64,
}

/// The state of one key's flight object. `now_ms` is the object's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Flight {
    leader: Option<Lease>,
    waiters: Vec<u64>,
    next: u64,
    recent: Option<Recent>,
}

impl Flight {
    /// `seed` starts the token sequence (the object's start time), so a
    /// restarted object does not hand out a token an old leader still holds.
    pub fn new(seed: u64) -> Flight {
        Flight { leader: None, waiters: Vec::new(), next: seed, recent: None }
    }

    fn next(&mut self) -> u64 {
        self.next = self.next.wrapping_add(1);
        self.next
    }

    pub fn claim(&mut self, now_ms: u64, lease_ms: u64, wait_ms: u64, fresh_after_ms: u64) -> Claimed {
        if let Some(recent) = &self.recent {
            if now_ms < recent.until_ms && recent.stored_at_ms >= fresh_after_ms {
                return Claimed::Reply(Reply::Entry { entry: recent.entry.clone() });
            }
        }
        if let Some(lease) = &self.leader {
            if now_ms < lease.until_ms {
                let wait_ms = wait_ms.min(lease.until_ms - now_ms);
                let waiter = self.next();
                self.waiters.push(waiter);
                return Claimed::Wait { waiter, wait_ms };
            }
        }
        let token = self.next();
        self.leader = Some(Lease { token, until_ms: now_ms.saturating_add(lease_ms) });
        Claimed::Reply(Reply::Lead { token })
    }

    /// A waiter stopped waiting (its time ran out).
    pub fn give_up(&mut self, waiter: u64) {
        self.waiters.retain(|w| *w != waiter);
    }

    /// Takes a report; returns the waiters to wake and what they get.
    pub fn report(&mut self, now_ms: u64, message: Message) -> (Vec<u64>, Reply) {
        let leads = |token: u64, leader: &Option<Lease>| leader.as_ref().is_some_and(|l| l.token == token);
        let reply = match message {
            Message::Claim { .. } => return (Vec::new(), Reply::Ok),
            Message::Done { token, entry, stored_at_ms, keep_ms } => {
                if token.is_some_and(|t| leads(t, &self.leader)) {
                    self.leader = None;
                }
                if self.recent.as_ref().is_none_or(|r| r.stored_at_ms <= stored_at_ms) {
                    self.recent = Some(Recent { entry: entry.clone(), stored_at_ms, until_ms: now_ms.saturating_add(keep_ms) });
                }
                Reply::Entry { entry }
            }
            Message::Failed { token, error } if leads(token, &self.leader) => {
                self.leader = None;
                Reply::Error { error }
            }
            Message::Release { token } if leads(token, &self.leader) => {
                self.leader = None;
                Reply::Alone { reason: "the identical request's answer could not be shared".into() }
            }
            // A leader whose lease ran out and was replaced: its report is stale.
            Message::Failed { .. } | Message::Release { .. } => return (Vec::new(), Reply::Ok),
        };
        (std::mem::take(&mut self.waiters), reply)
    }

    /// Whether the object holds anything (else it may forget everything).
    pub fn idle(&self, now_ms: u64) -> bool {
        self.waiters.is_empty()
            && self.leader.as_ref().is_none_or(|l| now_ms >= l.until_ms)
            && self.recent.as_ref().is_none_or(|r| now_ms >= r.until_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(f: &mut Flight, now: u64) -> u64 {
        match f.claim(now, 1_000, 5_000, 0) {
            Claimed::Reply(Reply::Lead { token }) => token,
            other => panic!("expected to lead, got {other:?}"),
        }
    }

    fn done(token: Option<u64>, entry: &str, stored_at_ms: u64) -> Message {
        Message::Done { token, entry: entry.into(), stored_at_ms, keep_ms: RECENT_MS }
    }

    #[test]
    fn one_leads_the_others_wait_and_get_its_entry() {
        let mut f = Flight::new(7);
        let token = lead(&mut f, 0);
        let waits: Vec<_> = (0..3).map(|i| f.claim(10 + i, 1_000, 5_000, 0)).collect();
        for (i, w) in waits.iter().enumerate() {
            // Never past the lease (until 1000).
            assert_eq!(*w, Claimed::Wait { waiter: 9 + i as u64, wait_ms: 1_000 - 10 - i as u64 });
        }
        let (woken, reply) = f.report(500, done(Some(token), "E", 400));
        assert_eq!(woken, vec![9, 10, 11]);
        assert_eq!(reply, Reply::Entry { entry: "E".into() });
        // A claim right after (KV not showing the write yet) gets it too.
        assert_eq!(f.claim(600, 1_000, 5_000, 0), Claimed::Reply(Reply::Entry { entry: "E".into() }));
        // ...but not one that needs a fresher answer, nor after RECENT_MS.
        assert!(matches!(f.claim(700, 1_000, 5_000, 401), Claimed::Reply(Reply::Lead { .. })));
    }

    #[test]
    fn the_recent_entry_expires() {
        let mut f = Flight::new(0);
        let token = lead(&mut f, 0);
        f.report(0, done(Some(token), "E", 0));
        assert!(!f.idle(RECENT_MS - 1));
        assert!(f.idle(RECENT_MS));
        assert!(matches!(f.claim(RECENT_MS, 1_000, 5_000, 0), Claimed::Reply(Reply::Lead { .. })));
    }

    #[test]
    fn a_failed_leader_hands_its_error_to_every_follower() {
        let mut f = Flight::new(0);
        let token = lead(&mut f, 0);
        let Claimed::Wait { waiter, .. } = f.claim(1, 1_000, 5_000, 0) else { panic!() };
        let error = SharedError { status: 429, kind: "upstream_status".into(), message: "slow down".into(), retry_after_ms: Some(2_000) };
        let (woken, reply) = f.report(2, Message::Failed { token, error: error.clone() });
        assert_eq!((woken, reply), (vec![waiter], Reply::Error { error }));
        // The key is free again: the next request leads.
        assert!(matches!(f.claim(3, 1_000, 5_000, 0), Claimed::Reply(Reply::Lead { .. })));
    }

    #[test]
    fn a_release_sends_followers_upstream_on_their_own() {
        let mut f = Flight::new(0);
        let token = lead(&mut f, 0);
        f.claim(1, 1_000, 5_000, 0);
        let (woken, reply) = f.report(2, Message::Release { token });
        assert_eq!(woken.len(), 1);
        assert!(matches!(reply, Reply::Alone { .. }));
    }

    #[test]
    fn a_vanished_leader_holds_the_key_only_until_its_lease_ends() {
        let mut f = Flight::new(0);
        let old = lead(&mut f, 0);
        let Claimed::Wait { waiter, wait_ms } = f.claim(900, 1_000, 50, 0) else { panic!() };
        assert_eq!(wait_ms, 50, "the follower's own bound when shorter");
        f.give_up(waiter);
        let new = lead(&mut f, 1_000);
        assert_ne!(new, old);
        // The old leader's late reports do not free the new leader's key...
        assert_eq!(f.report(1_100, Message::Release { token: old }), (vec![], Reply::Ok));
        assert!(matches!(f.claim(1_200, 1_000, 5_000, 0), Claimed::Wait { .. }));
        // ...but an answer is an answer, whoever brings it.
        let (woken, _) = f.report(1_300, done(Some(old), "late", 1_250));
        assert_eq!(woken.len(), 1);
        assert_eq!(f.claim(1_400, 1_000, 5_000, 0), Claimed::Reply(Reply::Entry { entry: "late".into() }));
        assert!(matches!(f.claim(1_400, 1_000, 5_000, 1_251), Claimed::Wait { .. }), "the new leader still leads");
    }

    #[test]
    fn a_refresh_replaces_the_recent_entry_and_an_older_one_does_not() {
        let mut f = Flight::new(0);
        f.report(0, done(None, "new", 500));
        f.report(0, done(None, "old", 400));
        assert_eq!(f.claim(1, 1_000, 1_000, 0), Claimed::Reply(Reply::Entry { entry: "new".into() }));
    }

    #[test]
    fn shared_errors_come_back_as_the_same_error() {
        for error in [
            GatewayError::new(Fault::UpstreamStatus(503), "down"),
            GatewayError::new(Fault::UpstreamTimeout, "slow"),
            GatewayError::new(Fault::UpstreamIncomplete, "cut"),
            GatewayError::new(Fault::Misconfigured, "no key"),
        ] {
            let shared = SharedError::new(&error, None);
            let text = serde_json::to_string(&Message::Failed { token: 1, error: shared.clone() }).unwrap();
            let Message::Failed { error: back, .. } = serde_json::from_str(&text).unwrap() else { panic!() };
            assert_eq!(back.error(), error);
        }
        let unknown = SharedError { status: 429, kind: "rate_limited".into(), message: "m".into(), retry_after_ms: None };
        assert_eq!(unknown.error().status(), 429);
    }
}
