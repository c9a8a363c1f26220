//! The call ledger: how many times each path and API key was called, and the
//! last request seen on each path.
//!
//! Tests use it to assert "the upstream was called exactly N times", and the
//! per-(path, key) counter is also what `fail_times` counts against. Every
//! request under an API root is recorded before any fault is applied, so a
//! request answered with a connection reset still counts.
//!
//! One mutex guards everything; it is held only for a few hash-map updates
//! (never across an await), and the previous "last request" is dropped after
//! the lock is released.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Serialize;

/// Bodies longer than this are kept truncated in the last-request record.
pub const MAX_KEPT_BODY: usize = 64 * 1024;

/// The last request seen on a path.
pub struct LastRequest {
    /// Its method.
    pub method: Method,
    /// Its query string, if any.
    pub query: Option<String>,
    /// The API key it carried (`-` if none).
    pub key: String,
    /// All its headers.
    pub headers: HeaderMap,
    /// Its body, at most [`MAX_KEPT_BODY`] bytes.
    pub body: Bytes,
    /// Whether `body` was cut to [`MAX_KEPT_BODY`].
    pub body_truncated: bool,
}

impl LastRequest {
    /// Builds a record, truncating (and then copying) an oversized body so
    /// that a large request buffer is not kept alive.
    pub fn new(
        method: Method,
        query: Option<&str>,
        key: &str,
        headers: HeaderMap,
        body: &Bytes,
    ) -> LastRequest {
        let body_truncated = body.len() > MAX_KEPT_BODY;
        let body = if body_truncated {
            Bytes::copy_from_slice(&body[..MAX_KEPT_BODY])
        } else {
            body.clone()
        };
        LastRequest {
            method,
            query: query.map(str::to_owned),
            key: key.to_owned(),
            headers,
            body,
            body_truncated,
        }
    }
}

#[derive(Default)]
struct PathEntry {
    count: u64,
    by_key: HashMap<Box<str>, u64>,
    last: Option<LastRequest>,
}

#[derive(Default)]
struct Inner {
    total: u64,
    by_path: HashMap<Box<str>, PathEntry>,
    by_key: HashMap<Box<str>, u64>,
}

/// Which paths a count covers.
#[derive(Clone, Copy, Debug)]
pub enum PathFilter<'a> {
    /// Every path.
    Any,
    /// Exactly this path.
    Exact(&'a str),
    /// Every path starting with this.
    Prefix(&'a str),
}

/// The call counts; see the module documentation.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

fn bump(map: &mut HashMap<Box<str>, u64>, key: &str) -> u64 {
    match map.get_mut(key) {
        Some(n) => {
            *n += 1;
            *n
        }
        None => {
            map.insert(key.into(), 1);
            1
        }
    }
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters to a mock, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one call and keeps it as the path's last request. Returns the
    /// call's number (1-based) on its (path, key) pair.
    pub fn record(&self, path: &str, last: LastRequest) -> u64 {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.total += 1;
        bump(&mut inner.by_key, &last.key);
        if !inner.by_path.contains_key(path) {
            inner.by_path.insert(path.into(), PathEntry::default());
        }
        let entry = inner.by_path.get_mut(path).expect("inserted above");
        entry.count += 1;
        let call = bump(&mut entry.by_key, &last.key);
        let previous = entry.last.replace(last);
        drop(guard);
        drop(previous);
        call
    }

    /// Forgets everything.
    pub fn reset(&self) {
        let old = std::mem::take(&mut *self.lock());
        drop(old);
    }

    /// Calls on the paths matching `paths`, restricted to `key` if given.
    pub fn count(&self, paths: PathFilter<'_>, key: Option<&str>) -> u64 {
        let inner = self.lock();
        if let (PathFilter::Any, None) = (paths, key) {
            return inner.total;
        }
        if let (PathFilter::Any, Some(key)) = (paths, key) {
            return inner.by_key.get(key).copied().unwrap_or(0);
        }
        let of_entry = |e: &PathEntry| match key {
            Some(key) => e.by_key.get(key).copied().unwrap_or(0),
            None => e.count,
        };
        match paths {
            PathFilter::Exact(path) => inner.by_path.get(path).map_or(0, of_entry),
            PathFilter::Prefix(prefix) => inner
                .by_path
                .iter()
                .filter(|(p, _)| p.starts_with(prefix))
                .map(|(_, e)| of_entry(e))
                .sum(),
            PathFilter::Any => unreachable!("handled above"),
        }
    }

    /// The whole ledger as JSON:
    /// `{"total":N,"by_path":{..},"by_key":{..},"by_path_key":{"<path> <key>":n}}`.
    pub fn summary_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Summary<'a> {
            total: u64,
            by_path: BTreeMap<&'a str, u64>,
            by_key: BTreeMap<&'a str, u64>,
            by_path_key: BTreeMap<String, u64>,
        }
        let inner = self.lock();
        let summary = Summary {
            total: inner.total,
            by_path: inner.by_path.iter().map(|(p, e)| (&**p, e.count)).collect(),
            by_key: inner.by_key.iter().map(|(k, n)| (&**k, *n)).collect(),
            by_path_key: inner
                .by_path
                .iter()
                .flat_map(|(p, e)| e.by_key.iter().map(move |(k, n)| (format!("{p} {k}"), *n)))
                .collect(),
        };
        serde_json::to_vec(&summary).expect("the summary serializes")
    }

    /// The last request seen on `path` as JSON, if any.
    pub fn last_json(&self, path: &str) -> Option<Vec<u8>> {
        #[derive(Serialize)]
        struct Last<'a> {
            method: &'a str,
            path: &'a str,
            query: Option<&'a str>,
            key: &'a str,
            count: u64,
            headers: BTreeMap<&'a str, String>,
            body: std::borrow::Cow<'a, str>,
            body_truncated: bool,
        }
        let inner = self.lock();
        let entry = inner.by_path.get(path)?;
        let last = entry.last.as_ref()?;
        let mut headers: BTreeMap<&str, String> = BTreeMap::new();
        for (name, value) in &last.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let json = Last {
            method: last.method.as_str(),
            path,
            query: last.query.as_deref(),
            key: &last.key,
            count: entry.count,
            headers,
            body: String::from_utf8_lossy(&last.body),
            body_truncated: last.body_truncated,
        };
        Some(serde_json::to_vec(&json).expect("the last request serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ledger: &Ledger, path: &str, key: &str, body: &'static str) -> u64 {
        let last = LastRequest::new(
            Method::POST,
            None,
            key,
            HeaderMap::new(),
            &Bytes::from_static(body.as_bytes()),
        );
        ledger.record(path, last)
    }

    #[test]
    fn counts_per_path_key_and_pair() {
        let ledger = Ledger::default();
        assert_eq!(call(&ledger, "/a/v1/x", "k1", "1"), 1);
        assert_eq!(call(&ledger, "/a/v1/x", "k1", "2"), 2);
        assert_eq!(call(&ledger, "/a/v1/x", "k2", "3"), 1);
        assert_eq!(call(&ledger, "/b/v1/x", "k1", "4"), 1);
        assert_eq!(ledger.count(PathFilter::Any, None), 4);
        assert_eq!(ledger.count(PathFilter::Any, Some("k1")), 3);
        assert_eq!(ledger.count(PathFilter::Exact("/a/v1/x"), None), 3);
        assert_eq!(ledger.count(PathFilter::Exact("/a/v1/x"), Some("k2")), 1);
        assert_eq!(ledger.count(PathFilter::Prefix("/"), Some("k1")), 3);
        assert_eq!(ledger.count(PathFilter::Prefix("/b"), None), 1);
        let last: serde_json::Value =
            serde_json::from_slice(&ledger.last_json("/a/v1/x").unwrap()).unwrap();
        assert_eq!(last["body"], "3");
        assert_eq!(last["key"], "k2");
        let summary: serde_json::Value = serde_json::from_slice(&ledger.summary_json()).unwrap();
        assert_eq!(summary["by_path_key"]["/a/v1/x k1"], 2);
        ledger.reset();
        assert_eq!(ledger.count(PathFilter::Any, None), 0);
        assert!(ledger.last_json("/a/v1/x").is_none());
        assert_eq!(call(&ledger, "/a/v1/x", "k1", "5"), 1);
    }

    #[test]
    fn long_bodies_are_truncated() {
        let body = Bytes::from(vec![b'a'; MAX_KEPT_BODY + 10]);
        let last = LastRequest::new(Method::POST, None, "-", HeaderMap::new(), &body);
        assert!(last.body_truncated);
        assert_eq!(last.body.len(), MAX_KEPT_BODY);
    }
}
