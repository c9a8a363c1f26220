use super::ledger::{Ledger, Message, Standing, RESERVATION_TTL_MS};
use super::*;

const DAY: u64 = 86_400_000;

#[test]
fn budgets_parse_in_usd_exactly() {
    assert_eq!(Budget::parse("10usd/day"), Ok(Budget { limit_micros: 10_000_000, period: Period::Day }));
    assert_eq!(Budget::parse("$2.5/month"), Ok(Budget { limit_micros: 2_500_000, period: Period::Month }));
    assert_eq!(Budget::parse(" 0.000001 USD / day ").unwrap().limit_micros, 1);
    for bad in ["10", "10usd/week", "-1/day", "1.0000001/day", "usd/day", "/day", "1e3/day"] {
        assert!(Budget::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Budget::parse("2.5usd/month").unwrap().describe(), "2.5usd/month");
    assert_eq!(Budget::parse("10usd/day").unwrap().describe(), "10usd/day");
}

#[test]
fn periods_are_utc_days_and_calendar_months() {
    // 2026-12-02T23:35:00Z
    let now = 1_796_254_500_000;
    assert_eq!(Period::Day.bounds(now), (1_796_169_600_000, 1_796_169_600_000 + DAY));
    // December 2026: 1 Dec 00:00 to 1 Jan 2027 00:00.
    assert_eq!(Period::Month.bounds(now), (1_796_083_200_000, 1_798_761_600_000));
    // February 2024 (leap year) has 29 days.
    let feb = 1_707_000_000_000; // 2024-02-03
    let (start, end) = Period::Month.bounds(feb);
    assert_eq!((end - start) / DAY, 29);
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
}

fn reserve(l: &mut Ledger, id: &str, micros: u64, limit: u64, now: u64) -> Standing {
    let budget = Budget { limit_micros: limit, period: Period::Day };
    l.handle(&Message::Reserve { id: id.into(), micros, budget }, now)
}

#[test]
fn reservations_are_admitted_while_spend_and_reservations_are_below_the_limit() {
    let mut l = Ledger::new();
    let now = 10 * DAY + 5;
    // A budget of ten requests' worth, fifty requests racing: the object
    // sees them one by one, so exactly ten are admitted.
    let admitted = (0..50).filter(|i| reserve(&mut l, &format!("r{i}"), 100, 1_000, now).admitted).count();
    assert_eq!(admitted, 10);
    // Settling with the real (smaller) cost frees room for more.
    let s = l.handle(&Message::Settle { id: "r0".into(), micros: 40 }, now);
    assert_eq!((s.spent_micros, s.reserved_micros), (40, 900));
    assert!(reserve(&mut l, "r50", 100, 1_000, now).admitted);
    assert!(!reserve(&mut l, "r51", 100, 1_000, now).admitted);
    // With a budget of 10.5 requests' worth the eleventh still passes: the
    // overspend is at most one estimate.
    let mut l = Ledger::new();
    let admitted = (0..50).filter(|i| reserve(&mut l, &format!("r{i}"), 100, 1_050, now).admitted).count();
    assert_eq!(admitted, 11);
}

#[test]
fn a_failed_request_gives_its_reservation_back_and_a_new_day_starts_from_zero() {
    let mut l = Ledger::new();
    let now = 3 * DAY;
    assert!(reserve(&mut l, "a", 500, 1_000, now).admitted);
    l.handle(&Message::Settle { id: "a".into(), micros: 0 }, now);
    let s = l.handle(&Message::Settle { id: "b".into(), micros: 1_000 }, now);
    assert_eq!((s.spent_micros, s.reserved_micros, s.resets_at_ms), (1_000, 0, 4 * DAY));
    assert!(!reserve(&mut l, "c", 1, 1_000, now).admitted);
    let s = reserve(&mut l, "d", 1, 1_000, 4 * DAY);
    assert!(s.admitted);
    assert_eq!((s.spent_micros, s.limit_micros, s.period), (0, 1_000, Some(Period::Day)));
}

#[test]
fn a_reservation_never_settled_expires() {
    let mut l = Ledger::new();
    assert!(reserve(&mut l, "lost", 1_000, 1_000, 0).admitted);
    assert!(!reserve(&mut l, "x", 1, 1_000, 1).admitted);
    assert!(reserve(&mut l, "y", 1, 1_000, RESERVATION_TTL_MS).admitted);
}

#[test]
fn the_stored_state_reads_back_and_peek_changes_nothing() {
    let mut l = Ledger::new();
    reserve(&mut l, "a", 5, 1_000, 7);
    let before = l.clone();
    let peek = l.handle(&Message::Peek, 8);
    assert_eq!(l, before);
    assert_eq!(peek.reserved_micros, 5);
    let back = Ledger::from_value(&serde_json::from_str(&l.to_value().to_string()).unwrap()).unwrap();
    assert_eq!(back, l);
    let mut newer = l.to_value();
    newer["v"] = 2.into();
    assert_eq!(Ledger::from_value(&newer), None);
    let budget = Budget { limit_micros: 9, period: Period::Month };
    for m in [Message::Settle { id: "a".into(), micros: 3 }, Message::Peek, Message::Reserve { id: "b".into(), micros: 1, budget }] {
        let text = m.to_value().to_string();
        assert_eq!(Message::from_value(&serde_json::from_str(&text).unwrap()), Some(m), "{text}");
    }
    assert_eq!(Message::Peek.to_value().to_string(), r#"{"op":"peek"}"#);
    use crate::json_out::ToJson;
    let reserve = Message::Reserve { id: "b\"\n".into(), micros: 1, budget: Budget { limit_micros: 9, period: Period::Day } };
    for m in [Message::Settle { id: "a".into(), micros: 3 }, Message::Peek, reserve] {
        assert_eq!(m.to_json(), m.to_value().to_string());
    }
    assert_eq!(peek.to_json(), peek.to_value().to_string());
    let unknown = Standing { period: None, ..peek.clone() };
    assert_eq!(unknown.to_json(), unknown.to_value().to_string());
    assert_eq!(l.to_json(), l.to_value().to_string());
    assert_eq!(Ledger::new().to_json(), Ledger::new().to_value().to_string());
    assert_eq!(Standing::from_value(&peek.to_value()), Some(peek));
    assert_eq!(Message::from_value(&serde_json::json!({"op": "take"})), None);
}
