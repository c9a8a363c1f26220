#!/usr/bin/env python3
"""Computes, independently of the Rust code, the SigV4 values that
src/provider/bedrock/sigv4.rs and src/provider/bedrock/tests.rs expect for
Bedrock-shaped requests. Python stdlib only (hmac, hashlib). Run:
python3 tests/transcripts/bedrock/sigv4_expected.py"""
import datetime
import hashlib
import hmac


def h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(access, secret, token, host, path_as_sent, body, now_ms, region):
    amz = datetime.datetime.fromtimestamp(now_ms // 1000, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload = hashlib.sha256(body).hexdigest()
    # Non-S3 services: the path as sent, percent-encoded once more.
    uri = "".join(c if c.isalnum() or c in "-_.~/" else "%%%02X" % ord(c) for c in path_as_sent)
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(["POST", uri, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload])
    scope = f"{amz[:8]}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = h(h(h(h(("AWS4" + secret).encode(), amz[:8]), region), "bedrock"), "aws4_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return payload, uri, amz, f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BODY = b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'
PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
HOST = "bedrock-runtime.us-west-2.amazonaws.com"
print("sigv4.rs a_bedrock_request:")
for access, token in [("AKIAIOSFODNN7EXAMPLE", None), ("ASIAEXAMPLE", "FwoGZXIvYXdzEXAMPLE//token+with/base64=")]:
    for value in sign(access, SECRET, token, HOST, PATH, BODY, 1_718_900_000_123, "us-west-2"):
        print("  ", value)

BODY = b'{"inferenceConfig":{"maxTokens":64},"messages":[{"content":[{"text":"Hello"}],"role":"user"}]}'
print("tests.rs sigv4_signed_request:")
for value in sign("AKIAIOSFODNN7EXAMPLE", SECRET, None, HOST, PATH, BODY, 1_718_900_000_123, "us-west-2"):
    print("  ", value)
for value in sign("ASIAEXAMPLE", SECRET, "FwoGZXIvYXdzEXAMPLE//token+with/base64=", "bedrock-runtime.eu-west-1.amazonaws.com",
                  "/prefix" + PATH, BODY, 1_718_900_000_123, "eu-west-1"):
    print("  ", value)
