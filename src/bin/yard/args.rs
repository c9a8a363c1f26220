//! Command-line arguments of `yard`, parsed by hand (a handful of flags do
//! not need a dependency).

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: yard <command> [paths…] [options]

commands:
  check    report every mistake in the route files (exit 1 on errors)
  explain  which route a request takes, and its full target chain
           --model M  [--endpoint chat|messages|embeddings] [--header name=value]…
           [--key NAME] [--tag TAG]… [--param name=json]… [--metadata '{json}']
  compile  write the compiled plan (-o FILE, default: standard output)
  publish  compile and put the plan in the ROUTES KV namespace with wrangler
           [--local | --remote] [--dry-run]
  test     run the route tests in *.expect.yaml files next to the routes
  keys     create|list|revoke gateway keys in the KEYS KV namespace (yard keys --help)

paths default to routes/ (directories are read for *.route, *.yaml, *.yml).
options for every command: --subrequest-cap N, --color always|never|auto";

#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    Check,
    Explain,
    Compile,
    Publish,
    Test,
}

/// A request described on the command line, for `explain`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub headers: Vec<(String, String)>,
    pub key: Option<String>,
    pub tags: Vec<String>,
    pub params: Vec<(String, String)>,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub verb: Verb,
    pub paths: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub request: Request,
    pub subrequest_cap: Option<u32>,
    pub color: Option<bool>,
    pub remote: bool,
    pub dry_run: bool,
}

pub fn parse(argv: &[String]) -> Result<Command, String> {
    let mut it = argv.iter();
    let verb = match it.next().map(String::as_str) {
        Some("check") => Verb::Check,
        Some("explain") => Verb::Explain,
        Some("compile") => Verb::Compile,
        Some("publish") => Verb::Publish,
        Some("test") => Verb::Test,
        Some("-h" | "--help" | "help") | None => return Err("a command is needed".into()),
        Some(other) => return Err(format!("unknown command `{other}`")),
    };
    let mut c = Command {
        verb,
        paths: Vec::new(),
        output: None,
        request: Request::default(),
        subrequest_cap: None,
        color: None,
        remote: false,
        dry_run: false,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-o" | "--output" => c.output = Some(PathBuf::from(value(arg)?)),
            "--model" => c.request.model = Some(value(arg)?),
            "--endpoint" => c.request.endpoint = Some(value(arg)?),
            "--key" => c.request.key = Some(value(arg)?),
            "--tag" => c.request.tags.push(value(arg)?),
            "--metadata" => c.request.metadata = Some(value(arg)?),
            "--header" => c.request.headers.push(pair(&value(arg)?, "--header")?),
            "--param" => c.request.params.push(pair(&value(arg)?, "--param")?),
            "--subrequest-cap" => {
                let v = value(arg)?;
                c.subrequest_cap = Some(v.parse().map_err(|_| format!("--subrequest-cap takes a whole number, not `{v}`"))?);
            }
            "--color" => {
                c.color = match value(arg)?.as_str() {
                    "always" => Some(true),
                    "never" => Some(false),
                    "auto" => None,
                    other => return Err(format!("--color takes always, never or auto, not `{other}`")),
                }
            }
            "--local" => c.remote = false,
            "--remote" => c.remote = true,
            "--dry-run" => c.dry_run = true,
            "-h" | "--help" => return Err("help".into()),
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            path => c.paths.push(PathBuf::from(path)),
        }
    }
    if c.paths.is_empty() {
        c.paths.push(PathBuf::from("routes"));
    }
    if c.verb == Verb::Explain && c.request.model.is_none() {
        return Err("explain needs --model".into());
    }
    Ok(c)
}

fn pair(text: &str, flag: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{flag} takes name=value, not `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn explain_takes_a_request() {
        let c = parse(&args("explain r/ --model smart --header x-tier=pro --key ci --tag beta")).unwrap();
        assert_eq!(c.verb, Verb::Explain);
        assert_eq!(c.paths, [PathBuf::from("r/")]);
        assert_eq!(c.request.headers, [("x-tier".to_string(), "pro".to_string())]);
        assert_eq!(c.request.tags, ["beta"]);
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(parse(&args("explain")).unwrap_err().contains("--model"));
        assert!(parse(&args("frobnicate")).unwrap_err().contains("unknown command"));
        assert!(parse(&args("check --header")).unwrap_err().contains("needs a value"));
        assert_eq!(parse(&args("check")).unwrap().paths, [PathBuf::from("routes")]);
    }
}
