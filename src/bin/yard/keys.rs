//! `yard keys create|list|revoke`: gateway keys kept in the Worker's `KEYS`
//! KV namespace, written through `wrangler kv key` (like `yard publish`).
//!
//! A new key is `sy-` and 32 random bytes in hex (from `/dev/urandom`),
//! printed once on standard output and never stored: KV holds its record
//! ([`switchyard::keys::KeyRecord`]) under its SHA-256, with the same record
//! as the entry's metadata so `list` needs one call.

use std::io::Read;
use std::process::{Command, ExitCode};
use switchyard::auth::hash_key;
use switchyard::budget::Budget;
use switchyard::keys::{KeyRecord, BINDING, RECORD_VERSION};

pub const USAGE: &str = "\
usage: yard keys create --name NAME [--tag T]… [--route R]… [--model M]… [--budget 10usd/day]
       yard keys list
       yard keys revoke --name NAME
options: --local (default) | --remote, --dry-run (print the wrangler commands instead)
  --model takes a model as clients name it; a trailing * matches any rest (gpt-4o*).
  --budget: USD per day or month (10usd/day, $250/month), enforced per key name.";

#[derive(Debug, Default)]
struct Args {
    action: String,
    name: Option<String>,
    tags: Vec<String>,
    routes: Vec<String>,
    models: Vec<String>,
    budget: Option<Budget>,
    remote: bool,
    dry_run: bool,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    let action = match it.next().map(String::as_str) {
        Some(a @ ("create" | "list" | "revoke")) => a.to_string(),
        Some(other) => return Err(format!("unknown keys command `{other}`")),
        None => return Err("keys needs create, list or revoke".into()),
    };
    let mut a = Args { action, ..Args::default() };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--name" => a.name = Some(value(arg)?),
            "--tag" => a.tags.push(value(arg)?),
            "--route" => a.routes.push(value(arg)?),
            "--model" => a.models.push(value(arg)?),
            "--budget" => a.budget = Some(Budget::parse(&value(arg)?)?),
            "--local" => a.remote = false,
            "--remote" => a.remote = true,
            "--dry-run" => a.dry_run = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if a.action != "list" {
        let name = a.name.as_deref().ok_or_else(|| format!("keys {} needs --name", a.action))?;
        let good = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !good {
            return Err(format!("a key name is letters, digits, `-`, `_` and `.`, not `{name}`"));
        }
    }
    Ok(a)
}

pub fn run(argv: &[String]) -> ExitCode {
    let args = match parse(argv) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("yard: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.action.as_str() {
        "create" => create(&args),
        "list" => list(&args),
        _ => revoke(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("yard: {message}");
            ExitCode::FAILURE
        }
    }
}

fn place(args: &Args) -> &'static str {
    if args.remote {
        "--remote"
    } else {
        "--local"
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A new secret: `sy-` and 32 random bytes in hex.
fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(format!("sy-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Runs (or with `--dry-run` prints) `npx wrangler kv key …`; its standard output.
fn wrangler(args: &Args, kv: &[&str], quiet: bool) -> Result<String, String> {
    let mut all = vec!["wrangler", "kv", "key"];
    all.extend_from_slice(kv);
    all.push(place(args));
    let shown = format!("npx {}", all.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
    if args.dry_run {
        println!("{shown}");
        return Ok(String::new());
    }
    if !quiet {
        eprintln!("yard: {}", shown.chars().take(160).collect::<String>());
    }
    let out = Command::new("npx").args(&all).output().map_err(|e| format!("cannot run npx: {e}"))?;
    if !out.status.success() {
        return Err(format!("wrangler failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn shell_word(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn put(args: &Args, hash: &str, record: &KeyRecord) -> Result<(), String> {
    let json = record.to_json();
    wrangler(args, &["put", "--binding", BINDING, hash, &json, "--metadata", &json], false).map(drop)
}

fn create(args: &Args) -> Result<(), String> {
    let name = args.name.clone().unwrap_or_default();
    if !args.dry_run && records(args)?.iter().any(|(_, r)| r.name == name && r.revoked_ms.is_none()) {
        return Err(format!("a key named `{name}` exists already (revoke it first, or pick another name)"));
    }
    let secret = new_secret()?;
    let record = KeyRecord {
        v: RECORD_VERSION,
        name,
        tags: args.tags.clone(),
        routes: args.routes.clone(),
        models: args.models.clone(),
        budget: args.budget,
        created_ms: now_ms(),
        revoked_ms: None,
    };
    put(args, &hash_key(&secret), &record)?;
    if args.dry_run {
        eprintln!("yard: dry run: the key below was not stored");
    }
    eprintln!("yard: created key `{}`; it is shown once, here:", record.name);
    println!("{secret}");
    Ok(())
}

/// Every record in the namespace (from the entries' metadata) with its hash.
fn records(args: &Args) -> Result<Vec<(String, KeyRecord)>, String> {
    let text = wrangler(args, &["list", "--binding", BINDING], true)?;
    if args.dry_run {
        return Ok(Vec::new());
    }
    let entries: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("wrangler kv key list: unreadable output ({e})"))?;
    let mut out = Vec::new();
    for entry in entries.as_array().into_iter().flatten() {
        let hash = entry.get("name").and_then(|n| n.as_str()).unwrap_or_default();
        let record = entry.get("metadata").map(|m| m.to_string()).and_then(|m| KeyRecord::from_json(m.as_bytes()));
        if let Some(record) = record {
            out.push((hash.to_string(), record));
        }
    }
    Ok(out)
}

fn list(args: &Args) -> Result<(), String> {
    let all = records(args)?;
    if args.dry_run {
        return Ok(());
    }
    println!("{:<20} {:<14} {:<8} {:<16} {:<20} {:<20} budget", "name", "hash", "state", "tags", "routes", "models");
    let joined = |v: &[String]| if v.is_empty() { "*".to_string() } else { v.join(",") };
    for (hash, r) in &all {
        println!(
            "{:<20} {:<14} {:<8} {:<16} {:<20} {:<20} {}",
            r.name,
            &hash[..hash.len().min(12)],
            if r.revoked_ms.is_some() { "revoked" } else { "active" },
            if r.tags.is_empty() { "-".to_string() } else { r.tags.join(",") },
            joined(&r.routes),
            joined(&r.models),
            r.budget.map_or("-".to_string(), |b| b.describe()),
        );
    }
    eprintln!("yard: {} keys", all.len());
    Ok(())
}

fn revoke(args: &Args) -> Result<(), String> {
    let name = args.name.clone().unwrap_or_default();
    if args.dry_run {
        let example = KeyRecord {
            v: RECORD_VERSION,
            name,
            tags: vec![],
            routes: vec![],
            models: vec![],
            budget: None,
            created_ms: 0,
            revoked_ms: Some(now_ms()),
        };
        records(args)?;
        return put(args, "<sha256 of the key>", &example);
    }
    let active: Vec<_> = records(args)?.into_iter().filter(|(_, r)| r.name == name && r.revoked_ms.is_none()).collect();
    if active.is_empty() {
        return Err(format!("no active key named `{name}`"));
    }
    for (hash, mut record) in active {
        record.revoked_ms = Some(now_ms());
        put(args, &hash, &record)?;
        eprintln!("yard: revoked `{name}` ({}…)", &hash[..hash.len().min(12)]);
    }
    Ok(())
}
