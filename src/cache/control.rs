//! What the client says about caching, and what the gateway answers.
//!
//! Request: `Cache-Control: no-store` (bypass: neither read nor write),
//! `Cache-Control: no-cache` (refresh: call the upstream, overwrite the
//! entry), and [`NAMESPACE_HEADER`] (entries of one namespace are never
//! served to another). Response: [`STATUS_HEADER`] with a [`Status`], `age`
//! on a hit.

/// The request header that names a cache namespace.
pub const NAMESPACE_HEADER: &str = "x-switchyard-cache-namespace";
/// The response header that says what the cache did.
pub const STATUS_HEADER: &str = "x-switchyard-cache";
/// The response header with the entry's key (hex, for purging with `wrangler kv key delete`).
pub const KEY_HEADER: &str = "x-switchyard-cache-key";
/// Set on answers a request got by waiting for an identical one (single-flight).
pub const COALESCED_HEADER: &str = "x-switchyard-cache-coalesced";

/// What the cache did for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served from an entry (or from an identical request's answer).
    Hit,
    /// No fresh entry: the upstream answered (and the answer is stored).
    Miss,
    /// The client asked for a fresh answer (`no-cache`): stored over the old one.
    Refresh,
    /// Not looked up and not stored (`no-store`, or not cacheable).
    Bypass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Hit => "HIT",
            Status::Miss => "MISS",
            Status::Refresh => "REFRESH",
            Status::Bypass => "BYPASS",
        }
    }
}

/// The client's cache directives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Control {
    /// `no-store`: do not read, do not write.
    pub no_store: bool,
    /// `no-cache`: do not read, do write.
    pub no_cache: bool,
    /// The namespace, trimmed; `None` when absent or empty.
    pub namespace: Option<String>,
}

impl Control {
    /// Reads `Cache-Control` and the namespace header (their values, when sent).
    pub fn parse(cache_control: Option<&str>, namespace: Option<&str>) -> Control {
        let mut control = Control::default();
        for directive in cache_control.unwrap_or_default().split(',') {
            let name = directive.split('=').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("no-store") {
                control.no_store = true;
            } else if name.eq_ignore_ascii_case("no-cache") {
                control.no_cache = true;
            }
        }
        control.namespace = namespace
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        control
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_read_case_insensitively_among_others() {
        let c = Control::parse(Some("max-age=0, No-Cache"), None);
        assert!(c.no_cache && !c.no_store);
        let c = Control::parse(Some("no-store,no-cache"), Some("  team-a "));
        assert!(c.no_store && c.no_cache);
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert_eq!(Control::parse(None, Some("  ")), Control::default());
        assert_eq!(Control::parse(Some("private"), None), Control::default());
    }

    #[test]
    fn statuses_have_their_header_values() {
        let all = [Status::Hit, Status::Miss, Status::Refresh, Status::Bypass];
        assert_eq!(all.map(Status::as_str), ["HIT", "MISS", "REFRESH", "BYPASS"]);
    }
}
