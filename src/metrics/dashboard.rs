//! `GET /dashboard`: one self-contained page (inline CSS, JS and SVG
//! charts, no external resource). The page holds no data and is served
//! without a key; it asks for an admin gateway key, keeps it in the tab's
//! `sessionStorage` only (no cookie, never in a URL) and reads
//! `/v1/switchyard/metrics` and `/v1/switchyard/status` with
//! `Authorization: Bearer`, every 5 seconds. Every value it shows is
//! written with `textContent` (labels such as model names come from
//! clients). [`CSP`] allows exactly the page's own style and script, by
//! hash (a unit test checks the hashes against the page).

/// The page.
pub const PAGE: &str = include_str!("dashboard.html");

/// The page's `Content-Security-Policy`.
pub const CSP: &str = "default-src 'none'; \
    style-src 'sha256-1iHHvlBrg0NQTJDBAffqmJgiym0I6Plzki+jV0d8EZU='; \
    script-src 'sha256-fpygKhoQT0Ju2JMuawDxYVLJn6uiz5RcjGWK4vhtzkM='; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's headers besides its content type.
pub const HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn base64(bytes: &[u8]) -> String {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= chunk.len() { ABC[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    }

    fn inline(tag: &str) -> &'static str {
        let open = format!("<{tag}>");
        let start = PAGE.find(&open).unwrap() + open.len();
        let end = PAGE[start..].find(&format!("</{tag}>")).unwrap();
        &PAGE[start..start + end]
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        for tag in ["style", "script"] {
            let hash = format!("'sha256-{}'", base64(&Sha256::digest(inline(tag).as_bytes())));
            assert!(CSP.contains(&format!("{tag}-src {hash}")), "update CSP: {tag}-src {hash}");
            assert_eq!(PAGE.matches(&format!("<{tag}")).count(), 1, "one <{tag}> only");
        }
    }

    #[test]
    fn the_page_is_self_contained() {
        assert!(!PAGE.contains("style=\""), "inline style attributes need 'unsafe-inline'");
        let page = PAGE.replace(r#"<link rel="icon" href="data:,">"#, "");
        for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
            let hits: Vec<_> = page.match_indices(external).map(|(i, _)| &page[i.saturating_sub(20)..i + 30]).collect();
            // The SVG namespace is an identifier, not a fetch.
            assert!(hits.iter().all(|h| h.contains("www.w3.org/2000/svg")), "{external}: {hits:?}");
        }
        assert!(!PAGE.contains("innerHTML"));
        assert!(!PAGE.contains("document.cookie") && !PAGE.contains("localStorage"));
        assert!(PAGE.len() < 20_000, "{}", PAGE.len());
    }
}
