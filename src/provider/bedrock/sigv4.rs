//! AWS Signature Version 4 (header form), as Bedrock Runtime requires.
//!
//! The four steps of the signing process, each a function so each can be
//! checked on its own: the canonical request, the string to sign, the
//! signing key (an HMAC-SHA256 chain over date, region, service and
//! `aws4_request`), the signature. HMAC and SHA-256 come from the `hmac`
//! and `sha2` crates; nothing cryptographic is written here.
//!
//! Paths are encoded the way AWS requires for every service but S3: the
//! canonical URI is the path *as sent* (already percent-encoded once)
//! percent-encoded again, segment by segment, so a model id's `:` is `%3A`
//! on the wire and `%253A` in the canonical URI.

use hmac::{Hmac, Mac};
use crate::auth::hex;
use crate::calendar::civil_from_days;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// AWS credentials: an access key pair and, for temporary credentials, a
/// session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    /// Reads `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`; `None` when
    /// `key` has no `:` or an empty id or secret. (Secret keys and session
    /// tokens are base64 text, which has no `:`.)
    pub fn parse(key: &'a str) -> Option<Credentials<'a>> {
        let mut parts = key.trim().splitn(3, ':');
        let access_key_id = parts.next()?.trim();
        let secret_access_key = parts.next()?.trim();
        let session_token = parts.next().map(str::trim).filter(|t| !t.is_empty());
        if access_key_id.is_empty() || secret_access_key.is_empty() {
            return None;
        }
        Some(Credentials {
            access_key_id,
            secret_access_key,
            session_token,
        })
    }
}

/// What is signed of one request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The canonical URI ([`canonical_uri`] of the path as sent).
    pub canonical_uri: &'a str,
    /// The canonical query string (`""` for none).
    pub canonical_query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included; any case,
    /// any order.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// Where and when: the credential scope.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `YYYYMMDD`.
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Scope<'_> {
    /// `date/region/service/aws4_request`.
    pub fn to_text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Percent-encodes every byte but the unreserved `A-Z a-z 0-9 - _ . ~`
/// (and `/` unless `encode_slash`), upper-case hex, as AWS specifies.
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                out.push('%');
                out.push_str(&hex(&[b]).to_ascii_uppercase());
            }
        }
    }
    out
}

/// The canonical URI of a path as it is sent (non-S3 services: encoded
/// once more; an empty path is `/`).
pub fn canonical_uri(path_as_sent: &str) -> String {
    if path_as_sent.is_empty() {
        return "/".to_string();
    }
    uri_encode(path_as_sent, false)
}

/// The canonical request and its signed-headers list (`host;x-amz-date`).
pub fn canonical_request(req: &Request) -> (String, String) {
    let mut headers: Vec<(String, String)> = crate::seq::map(req.headers, |_, (name, value)| {
        // Trim, and collapse inner runs of spaces to one.
        let mut collapsed = String::with_capacity(value.len());
        for word in value.split_whitespace() {
            if !collapsed.is_empty() {
                collapsed.push(' ');
            }
            collapsed.push_str(word);
        }
        (name.trim().to_ascii_lowercase(), collapsed)
    });
    // An insertion sort: a handful of headers, and no sort routine in the Worker.
    for i in 1..headers.len() {
        let mut j = i;
        while j > 0 && headers[j - 1] > headers[j] {
            headers.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut canonical_headers = String::new();
    let mut signed_headers = String::new();
    for (i, (name, value)) in headers.iter().enumerate() {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
        if i > 0 {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.canonical_uri,
        req.canonical_query,
        canonical_headers,
        signed_headers,
        req.payload_sha256
    );
    (canonical, signed_headers)
}

/// The string to sign for a canonical request made at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`).
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.to_text(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key: HMAC chain over `AWS4<secret>`, date, region, service
/// and `aws4_request`.
pub fn signing_key(secret_access_key: &str, scope: &Scope) -> [u8; 32] {
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        scope.date.as_bytes(),
    );
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex HMAC-SHA256 of the string to sign under the signing key.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac(signing_key, string_to_sign.as_bytes()))
}

/// The `Authorization` header value for `req`, made at `amz_date` in
/// `region` for `service`.
pub fn authorization(
    access_key_id: &str,
    secret_access_key: &str,
    req: &Request,
    amz_date: &str,
    region: &str,
    service: &str,
) -> String {
    let scope = Scope {
        date: amz_date.get(..8).unwrap_or(amz_date),
        region,
        service,
    };
    let (canonical, signed_headers) = canonical_request(req);
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let signature = signature(&signing_key(secret_access_key, &scope), &to_sign);
    format!(
        "{ALGORITHM} Credential={access_key_id}/{}, SignedHeaders={signed_headers}, Signature={signature}",
        scope.to_text()
    )
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for Unix milliseconds.
pub fn amz_date(now_ms: u64) -> String {
    let secs = now_ms / 1000;
    let days = (secs / 86_400) as i64;
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}


#[cfg(test)]
mod tests {
    use super::*;

    // The AWS Signature Version 4 test suite's credentials, scope and time
    // (docs.aws.amazon.com, "Signature Version 4 test suite").
    const ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const SUITE_HEADERS: &[(&str, &str)] =
        &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];

    fn suite(method: &str, query: &str) -> String {
        let req = Request {
            method,
            canonical_uri: "/",
            canonical_query: query,
            headers: SUITE_HEADERS,
            payload_sha256: EMPTY_SHA256,
        };
        authorization(ID, SECRET, &req, DATE, "us-east-1", "service")
    }

    const SUITE_PREFIX: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=";

    #[test]
    fn get_vanilla() {
        let req = Request {
            method: "GET",
            canonical_uri: "/",
            canonical_query: "",
            headers: SUITE_HEADERS,
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = canonical_request(&req);
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "host;x-amz-date");
        let scope = Scope {
            date: "20150830",
            region: "us-east-1",
            service: "service",
        };
        assert_eq!(
            string_to_sign(DATE, &scope, &canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            suite("GET", ""),
            format!(
                "{SUITE_PREFIX}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
    }

    #[test]
    fn post_vanilla() {
        assert_eq!(
            suite("POST", ""),
            format!(
                "{SUITE_PREFIX}5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
            )
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        // The query `?Param2=value2&Param1=value1`, sorted.
        assert_eq!(
            suite("GET", "Param1=value1&Param2=value2"),
            format!(
                "{SUITE_PREFIX}b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            )
        );
    }

    /// A ConverseStream call as `bedrock::chat_request` signs it. The
    /// expected signatures were computed independently with Python's
    /// `hmac`/`hashlib` (tests/transcripts/bedrock/sigv4_expected.py).
    #[test]
    fn a_bedrock_request() {
        let body = br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#;
        let payload = sha256_hex(body);
        assert_eq!(
            payload,
            "7421da8d1a0949a481724fee62d5886aacde03836bf58248adb73e8b61ac0d54"
        );
        let path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream";
        let uri = canonical_uri(path);
        assert_eq!(
            uri,
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse-stream"
        );
        let date = amz_date(1_718_900_000_123);
        assert_eq!(date, "20240620T161320Z");
        let headers = [
            ("host", "bedrock-runtime.us-west-2.amazonaws.com"),
            ("x-amz-content-sha256", payload.as_str()),
            ("x-amz-date", date.as_str()),
        ];
        let req = Request {
            method: "POST",
            canonical_uri: &uri,
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload,
        };
        assert_eq!(
            authorization("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &req, &date, "us-west-2", "bedrock"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240620/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=73fdc80025c7b52b723dae12b0df1cf9abd778c2fe5beb4406e019edde740b5e"
        );
        // With a session token, signed too.
        let token = "FwoGZXIvYXdzEXAMPLE//token+with/base64=";
        let with_token = [
            headers[0],
            headers[1],
            headers[2],
            ("x-amz-security-token", token),
        ];
        let req = Request {
            headers: &with_token,
            ..req
        };
        assert_eq!(
            authorization("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &req, &date, "us-west-2", "bedrock"),
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240620/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=df76405bf146716f424bd3f5b696a9da58ca6622f21fd0b4de98e87fd47cec3e"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_names_sorted() {
        let req = Request {
            method: "POST",
            canonical_uri: "/",
            canonical_query: "",
            headers: &[("X-B", "  two   words "), ("a", "1")],
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = canonical_request(&req);
        assert!(
            canonical.contains("\na:1\nx-b:two words\n\na;x-b\n"),
            "{canonical}"
        );
        assert_eq!(signed, "a;x-b");
    }

    #[test]
    fn encoding() {
        assert_eq!(
            uri_encode("a-b_c.d~e/f:g h%", false),
            "a-b_c.d~e/f%3Ag%20h%25"
        );
        assert_eq!(uri_encode("arn:aws/x", true), "arn%3Aaws%2Fx");
        assert_eq!(uri_encode("é", true), "%C3%A9");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/p/status=500/v1"), "/p/status%3D500/v1");
    }

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160_000), DATE);
        assert_eq!(amz_date(951_782_400_000), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799_999), "20991231T235959Z");
    }

    #[test]
    fn credentials() {
        assert_eq!(Credentials::parse("bedrock-api-key-abc"), None);
        assert_eq!(Credentials::parse(":secret"), None);
        assert_eq!(Credentials::parse("id:"), None);
        let c = Credentials::parse("AKID:SECRET").unwrap();
        assert_eq!(
            (c.access_key_id, c.secret_access_key, c.session_token),
            ("AKID", "SECRET", None)
        );
        let c = Credentials::parse(" AKID:SECRET:TOKEN/+= \n").unwrap();
        assert_eq!(c.session_token, Some("TOKEN/+="));
        assert_eq!(
            Credentials::parse("AKID:SECRET:").unwrap().session_token,
            None
        );
    }
}
