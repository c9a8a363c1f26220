//! The runtime's floor for benchmarks: a Rust Worker that forwards each
//! request to `UPSTREAM_URL` + its path and streams the answer back, with no
//! checks at all. Switchyard's figures are reported as ratios to this one.

use worker::{event, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let base = env.var("UPSTREAM_URL")?.to_string();
    let url = format!("{}{}", base.trim_end_matches('/'), req.path());
    let body = req.bytes().await?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    let upstream = Fetch::Request(Request::new_with_init(&url, &init)?).send().await?;
    let status = upstream.status_code();
    let out = Headers::new();
    if let Some(ct) = upstream.headers().get("content-type")? {
        out.set("content-type", &ct)?;
    }
    let (_, body) = upstream.into_parts();
    Ok(Response::from_body(body)?.with_status(status).with_headers(out))
}
