//! The plan an isolate serves and when to look for another: the embedded
//! plan, replaced by the one stored in KV while that one is valid.
//!
//! Plain state, no I/O: the edge asks [`Live::due`] on a request, reads KV
//! when it says so, and hands the text to [`Live::offer`]. A text is parsed
//! only when it differs from the last one seen (length and FNV-1a hash), so
//! an unchanged plan costs one KV read per refresh interval and no parsing.
//! A plan that does not parse, has a newer format or an invalid regex is
//! refused once and the previous plan keeps serving.

use super::select::Router;
use super::RoutingPlan;
use std::rc::Rc;

/// What an offered KV text changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The same text as before (or the same refused text): nothing to do.
    Unchanged,
    /// A new plan serves from now on.
    Adopted { hash: String },
    /// The text was refused; the previous plan keeps serving.
    Refused(String),
    /// The KV plan is gone; the embedded plan serves again.
    Reverted,
}

/// The serving plan of one isolate.
#[derive(Debug)]
pub struct Live {
    embedded: Rc<Router>,
    current: Rc<Router>,
    /// Fingerprint of the KV text `current` came from; `None`: the embedded plan.
    adopted: Option<(usize, u64)>,
    /// Fingerprint of the last KV text refused.
    refused: Option<(usize, u64)>,
    /// When KV was last read, in ms since the epoch.
    checked_at: Option<u64>,
    /// KV has answered once (or failed to): until then every request reads.
    answered: bool,
}

impl Live {
    pub fn new(embedded: Rc<Router>) -> Self {
        Live {
            current: embedded.clone(),
            embedded,
            adopted: None,
            refused: None,
            checked_at: None,
            answered: false,
        }
    }

    /// The router serving requests now.
    pub fn router(&self) -> Rc<Router> {
        self.current.clone()
    }

    /// Whether KV should be read now (`refresh_ms` after the last read);
    /// if so the read is counted as done, so that concurrent requests do
    /// not all read. Until KV has answered once, every request reads (a
    /// fresh isolate would otherwise serve the embedded plan to the
    /// requests that arrive during its first read).
    pub fn due(&mut self, now_ms: u64, refresh_ms: u64) -> bool {
        let due = !self.answered
            || self
                .checked_at
                .is_none_or(|at| now_ms.saturating_sub(at) >= refresh_ms);
        if due {
            self.checked_at = Some(now_ms);
        }
        due
    }

    /// KV could not be read: the serving plan stays until the next refresh.
    pub fn unreadable(&mut self) {
        self.answered = true;
    }

    /// Takes what KV holds (`None`: no plan stored).
    pub fn offer(&mut self, text: Option<&str>) -> Change {
        self.answered = true;
        let Some(text) = text else {
            self.refused = None;
            if self.adopted.take().is_some() {
                self.current = self.embedded.clone();
                return Change::Reverted;
            }
            return Change::Unchanged;
        };
        let print = fingerprint(text);
        if self.adopted == Some(print) || self.refused == Some(print) {
            return Change::Unchanged;
        }
        match RoutingPlan::from_json(text).and_then(Router::new) {
            Ok(router) => {
                let hash = router.plan().hash.clone();
                self.current = Rc::new(router);
                self.adopted = Some(print);
                self.refused = None;
                Change::Adopted { hash }
            }
            Err(reason) => {
                self.refused = Some(print);
                Change::Refused(reason)
            }
        }
    }
}

/// Length and 64-bit FNV-1a hash of a text.
fn fingerprint(text: &str) -> (usize, u64) {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (text.len(), hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../../tests/plans/default.json");

    fn live() -> Live {
        Live::new(Rc::new(
            Router::new(RoutingPlan::from_json(DEFAULT).unwrap()).unwrap(),
        ))
    }

    fn with_hash(hash: &str) -> String {
        let mut plan: serde_json::Value = serde_json::from_str(DEFAULT).unwrap();
        plan["hash"] = hash.into();
        plan.to_string()
    }

    fn serving(live: &Live) -> String {
        live.router().plan().hash.clone()
    }

    #[test]
    fn every_request_reads_until_kv_first_answers() {
        let mut l = live();
        assert!(l.due(1000, 5000));
        assert!(l.due(1001, 5000), "arrived during the first read: reads too");
        l.offer(None);
        assert!(!l.due(1002, 5000));
        let mut failing = live();
        assert!(failing.due(1000, 5000));
        failing.unreadable();
        assert!(!failing.due(1001, 5000), "a failed read waits for the refresh too");
    }

    #[test]
    fn due_every_refresh_interval_and_always_at_zero() {
        let mut l = live();
        assert!(l.due(1000, 5000), "the first request checks");
        l.offer(None);
        assert!(!l.due(5999, 5000));
        assert!(l.due(6000, 5000));
        assert!(l.due(6000, 0));
        assert!(l.due(6000, 0), "0 checks on every request");
    }

    #[test]
    fn a_new_plan_is_adopted_once_and_an_absent_one_reverts() {
        let mut l = live();
        assert_eq!(l.offer(None), Change::Unchanged);
        assert_eq!(
            l.offer(Some(&with_hash("kv-1"))),
            Change::Adopted {
                hash: "kv-1".into()
            }
        );
        assert_eq!(serving(&l), "kv-1");
        assert_eq!(l.offer(Some(&with_hash("kv-1"))), Change::Unchanged);
        assert_eq!(
            l.offer(Some(&with_hash("kv-2"))),
            Change::Adopted {
                hash: "kv-2".into()
            }
        );
        assert_eq!(l.offer(None), Change::Reverted);
        let embedded = RoutingPlan::from_json(DEFAULT).unwrap().hash;
        assert_eq!(serving(&l), embedded);
    }

    #[test]
    fn a_bad_plan_is_refused_once_and_the_previous_one_keeps_serving() {
        let mut l = live();
        l.offer(Some(&with_hash("kv-1")));
        let newer = with_hash("kv-2").replace("\"format\":1", "\"format\":999");
        match l.offer(Some(&newer)) {
            Change::Refused(reason) => assert!(reason.contains("format 999"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(serving(&l), "kv-1");
        assert_eq!(
            l.offer(Some(&newer)),
            Change::Unchanged,
            "not parsed or logged again"
        );
        assert!(matches!(l.offer(Some("{nope")), Change::Refused(_)));
        assert_eq!(serving(&l), "kv-1");
        assert_eq!(
            l.offer(Some(&with_hash("kv-3"))),
            Change::Adopted {
                hash: "kv-3".into()
            }
        );
    }

    #[test]
    fn fingerprints_tell_texts_apart() {
        assert_ne!(fingerprint("ab"), fingerprint("ba"));
        assert_eq!(fingerprint("plan"), fingerprint("plan"));
    }
}
