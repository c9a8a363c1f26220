//! Single-flight: identical cacheable requests that miss at the same time
//! make one upstream call.
//!
//! A Durable Object (`FLIGHT`) keeps this state; the Worker sends it
//! [`Message`]s about a key. By default each cache key has its own object
//! (named by the key); with `FLIGHT_SHARDS=N` the keys share N objects
//! ([`object_name`]), each holding the flights of its keys ([`Flights`]).
//! Every isolate goes through the object, so requests coalesce within an
//! isolate and across isolates and locations alike (no isolate keeps
//! pending state in a static).
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
//!
//! On the wire a message is a line of words, then (for some) a payload
//! after the first `\n`: `claim LEASE WAIT FRESH_AFTER`, `done TOKEN|-
//! STORED_AT KEEP\n<entry>`, `failed TOKEN STATUS RETRY|- KIND\n<message>`,
//! `release TOKEN`; replies `lead TOKEN`, `entry\n<entry>`, `error STATUS
//! RETRY|- KIND\n<message>`, `alone\n<reason>`, `ok` ([`Message::encode`],
//! [`Reply::decode`] and back).

use crate::error::{Fault, GatewayError};

/// How long the object serves a finished answer to later claims: KV may
/// take up to a minute to show a write in other locations.
pub const RECENT_MS: u64 = 60_000;
/// Larger answers are handed to the waiting followers but not kept.
pub const MAX_RECENT_ENTRY_BYTES: usize = 1 << 20;
/// What one object keeps of recent answers, all keys together; the
/// soonest to expire go first.
pub const MAX_RECENT_BYTES: usize = 32 << 20;
/// Most shards `FLIGHT_SHARDS` may ask for.
pub const MAX_SHARDS: u32 = 4096;

/// The flight object for `key` (`sy1:<hex>`): the key itself, or with
/// `shards` > 0 one of that many shard objects, chosen by the key's hash.
pub fn object_name(key: &str, shards: u32) -> String {
    if shards == 0 {
        return key.to_string();
    }
    let hash = key.get(4..12).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0);
    format!("shard-{}-of-{}", hash % shards.min(MAX_SHARDS), shards.min(MAX_SHARDS))
}

/// A message about `key`, as sent.
pub fn envelope(key: &str, message: &Message) -> String {
    format!("{key} {}", message.encode())
}

/// The key and the message of an envelope.
pub fn open(text: &str) -> Option<(&str, Message)> {
    let (key, message) = text.split_once(' ')?;
    Some((key, Message::decode(message)?))
}

/// A message to the flight object of one key.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedError {
    pub status: u16,
    /// [`GatewayError::kind`].
    pub kind: String,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

/// Splits a message into its words and its payload.
fn split(text: &str) -> (Vec<&str>, &str) {
    let (head, payload) = text.split_once('\n').unwrap_or((text, ""));
    (crate::seq::keep(head.split(' '), Some), payload)
}

fn opt(word: &str) -> Option<Option<u64>> {
    if word == "-" {
        Some(None)
    } else {
        word.parse().ok().map(Some)
    }
}

fn show(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

impl SharedError {
    fn encode(&self, head: &str) -> String {
        format!("{head} {} {} {}\n{}", self.status, show(self.retry_after_ms), self.kind, self.message)
    }

    fn decode(words: &[&str], message: &str) -> Option<SharedError> {
        match words {
            [status, retry, kind] => Some(SharedError {
                status: status.parse().ok()?,
                retry_after_ms: opt(retry)?,
                kind: kind.to_string(),
                message: message.to_string(),
            }),
            _ => None,
        }
    }
}

impl Message {
    pub fn encode(&self) -> String {
        match self {
            Message::Claim { lease_ms, wait_ms, fresh_after_ms } => format!("claim {lease_ms} {wait_ms} {fresh_after_ms}"),
            Message::Done { token, entry, stored_at_ms, keep_ms } => {
                format!("done {} {stored_at_ms} {keep_ms}\n{entry}", show(*token))
            }
            Message::Failed { token, error } => error.encode(&format!("failed {token}")),
            Message::Release { token } => format!("release {token}"),
        }
    }

    pub fn decode(text: &str) -> Option<Message> {
        let (words, payload) = split(text);
        let n = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        Some(match *words.first()? {
            "claim" => Message::Claim { lease_ms: n(1)?, wait_ms: n(2)?, fresh_after_ms: n(3)? },
            "done" => Message::Done { token: opt(words.get(1)?)?, stored_at_ms: n(2)?, keep_ms: n(3)?, entry: payload.to_string() },
            "failed" => Message::Failed { token: n(1)?, error: SharedError::decode(words.get(2..)?, payload)? },
            "release" => Message::Release { token: n(1)? },
            _ => return None,
        })
    }
}

impl Reply {
    pub fn encode(&self) -> String {
        match self {
            Reply::Lead { token } => format!("lead {token}"),
            Reply::Entry { entry } => format!("entry\n{entry}"),
            Reply::Error { error } => error.encode("error"),
            Reply::Alone { reason } => format!("alone\n{reason}"),
            Reply::Ok => "ok".to_string(),
        }
    }

    pub fn decode(text: &str) -> Option<Reply> {
        let (words, payload) = split(text);
        Some(match *words.first()? {
            "lead" => Reply::Lead { token: words.get(1)?.parse().ok()? },
            "entry" => Reply::Entry { entry: payload.to_string() },
            "error" => Reply::Error { error: SharedError::decode(words.get(1..)?, payload)? },
            "alone" => Reply::Alone { reason: payload.to_string() },
            "ok" => Reply::Ok,
            _ => return None,
        })
    }
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
                let newer = self.recent.as_ref().is_none_or(|r| r.stored_at_ms <= stored_at_ms);
                if newer && entry.len() <= MAX_RECENT_ENTRY_BYTES {
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

    /// Whether the object holds anything for this key (else it may forget it).
    pub fn idle(&self, now_ms: u64) -> bool {
        self.waiters.is_empty()
            && self.leader.as_ref().is_none_or(|l| now_ms >= l.until_ms)
            && self.recent.as_ref().is_none_or(|r| now_ms >= r.until_ms)
    }
}

/// The flights of every key one object serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Flights {
    /// By key; few at a time (idle ones are dropped), so a list.
    flights: Vec<(String, Flight)>,
    seed: u64,
    messages: u32,
}

impl Flights {
    /// `seed`: the object's start time (see [`Flight::new`]).
    pub fn new(seed: u64) -> Flights {
        Flights { flights: Vec::new(), seed, messages: 0 }
    }

    /// The flight of `key` (a new one if there is none).
    pub fn flight(&mut self, key: &str) -> &mut Flight {
        let at = match self.flights.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.flights.push((key.to_string(), Flight::new(self.seed)));
                self.flights.len() - 1
            }
        };
        &mut self.flights[at].1
    }

    /// After a message: now and then, forgets idle keys; always keeps the
    /// recent answers under [`MAX_RECENT_BYTES`].
    pub fn tidy(&mut self, now_ms: u64) {
        self.messages = self.messages.wrapping_add(1);
        if self.messages.is_multiple_of(32) {
            self.flights.retain(|(_, f)| !f.idle(now_ms));
        }
        let size = |f: &Flight| f.recent.as_ref().map_or(0, |r| r.entry.len());
        let mut total: usize = self.flights.iter().map(|(_, f)| size(f)).sum();
        while total > MAX_RECENT_BYTES {
            let Some(oldest) = self
                .flights
                .iter_mut()
                .map(|(_, f)| f)
                .filter(|f| f.recent.is_some())
                .min_by_key(|f| f.recent.as_ref().map(|r| r.until_ms))
            else {
                break;
            };
            total -= size(oldest);
            oldest.recent = None;
        }
    }

    /// Keys with any state.
    pub fn len(&self) -> usize {
        self.flights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flights.is_empty()
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
            let text = Message::Failed { token: 1, error: shared.clone() }.encode();
            let Some(Message::Failed { error: back, .. }) = Message::decode(&text) else { panic!("{text}") };
            assert_eq!(back.error(), error);
        }
        let unknown = SharedError { status: 429, kind: "rate_limited".into(), message: "m".into(), retry_after_ms: None };
        assert_eq!(unknown.error().status(), 429);
    }
}

#[cfg(test)]
mod wire {
    use super::*;

    #[test]
    fn messages_and_replies_round_trip() {
        let error = SharedError { status: 429, kind: "upstream_status".into(), message: "a\nmulti-line message".into(), retry_after_ms: Some(1_500) };
        for m in [
            Message::Claim { lease_ms: 1, wait_ms: 2, fresh_after_ms: 3 },
            Message::Done { token: Some(4), entry: "{\"v\":1}\nwith a newline".into(), stored_at_ms: 5, keep_ms: 6 },
            Message::Done { token: None, entry: String::new(), stored_at_ms: 5, keep_ms: 6 },
            Message::Failed { token: 7, error: error.clone() },
            Message::Failed { token: 7, error: SharedError { retry_after_ms: None, ..error.clone() } },
            Message::Release { token: 8 },
        ] {
            assert_eq!(Message::decode(&m.encode()), Some(m.clone()), "{}", m.encode());
        }
        for r in [
            Reply::Lead { token: 9 },
            Reply::Entry { entry: "e\nf".into() },
            Reply::Error { error },
            Reply::Alone { reason: "why".into() },
            Reply::Ok,
        ] {
            assert_eq!(Reply::decode(&r.encode()), Some(r.clone()));
        }
        for bad in ["", "claim 1 2", "claim a b c", "lead", "nonsense", "done x 1 2", "failed 1 2 3"] {
            assert_eq!(Message::decode(bad), None, "{bad}");
        }
        assert_eq!(Reply::decode("error 500"), None);
    }
}

#[cfg(test)]
mod objects {
    use super::*;

    #[test]
    fn one_object_serves_many_keys_apart() {
        let mut f = Flights::new(0);
        let Claimed::Reply(Reply::Lead { token: a }) = f.flight("sy1:aa").claim(0, 1_000, 1_000, 0) else { panic!() };
        assert!(matches!(f.flight("sy1:bb").claim(0, 1_000, 1_000, 0), Claimed::Reply(Reply::Lead { .. })), "another key leads on its own");
        assert!(matches!(f.flight("sy1:aa").claim(1, 1_000, 1_000, 0), Claimed::Wait { .. }));
        let (woken, _) = f.flight("sy1:aa").report(2, Message::Done { token: Some(a), entry: "A".into(), stored_at_ms: 2, keep_ms: 10 });
        assert_eq!(woken.len(), 1);
        let Claimed::Wait { waiter, .. } = f.flight("sy1:bb").claim(3, 1_000, 1_000, 0) else { panic!("still leading") };
        f.flight("sy1:bb").give_up(waiter);
        // Idle keys are forgotten (every 32 messages).
        for _ in 0..32 {
            f.tidy(5_000);
        }
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn recent_answers_are_bounded_in_size() {
        let mut f = Flights::new(0);
        let big = "x".repeat(MAX_RECENT_ENTRY_BYTES);
        let keys = MAX_RECENT_BYTES / MAX_RECENT_ENTRY_BYTES + 2;
        for i in 0..keys {
            let key = format!("sy1:{i}");
            f.flight(&key).report(i as u64, Message::Done { token: None, entry: big.clone(), stored_at_ms: 1, keep_ms: 60_000 });
            f.tidy(i as u64);
        }
        let kept: Vec<usize> =
            (0..keys).filter(|i| matches!(f.flight(&format!("sy1:{i}")).claim(100, 1, 1, 0), Claimed::Reply(Reply::Entry { .. }))).collect();
        assert_eq!(kept.len(), MAX_RECENT_BYTES / MAX_RECENT_ENTRY_BYTES);
        assert_eq!(kept[0], 2, "the soonest to expire went first");
        // An answer over the entry bound is never kept.
        let mut g = Flight::new(0);
        g.report(0, Message::Done { token: None, entry: "x".repeat(MAX_RECENT_ENTRY_BYTES + 1), stored_at_ms: 1, keep_ms: 60_000 });
        assert!(matches!(g.claim(1, 1, 1, 0), Claimed::Reply(Reply::Lead { .. })));
    }

    #[test]
    fn keys_map_to_objects_and_envelopes_carry_them() {
        let key = "sy1:00000005ffffffff";
        assert_eq!(object_name(key, 0), key);
        assert_eq!(object_name(key, 4), "shard-1-of-4");
        assert_eq!(object_name(key, 1), "shard-0-of-1");
        assert_eq!(object_name("odd", 8), "shard-0-of-8");
        let m = Message::Release { token: 3 };
        assert_eq!(open(&envelope(key, &m)), Some((key, m)));
        assert_eq!(open("nokey"), None);
    }
}
