//! mock-provider: a fast, scriptable mock LLM provider for Switchyard's e2e
//! tests, dev command and benchmarks.
//!
//! This file holds the command line and the server loop: a hyper HTTP/1.1
//! server with keep-alive on a multi-thread tokio runtime. What a request
//! does is in `service.rs`; see README.md for the directives and endpoints.

mod anthropic;
mod bedrock;
mod body;
mod cohere;
mod faults;
mod gemini;
mod ledger;
mod openai;
mod service;

use std::io::{self, Write};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use faults::{Directives, Source};
use service::{Connection, State};

const USAGE: &str = "\
usage: mock-provider [--host 127.0.0.1] [--port 0] [--workers N] [directive flags]

Prints `mock-provider listening on http://HOST:PORT` once listening.

Default directives (apply to every request unless the URL path or an
x-mock-* header overrides them):
  --status N            answer with HTTP status N (200-599)
  --retry-after SECS    send Retry-After: SECS
  --retry-after-ms MS   send retry-after-ms: MS
  --latency-ms N        wait N ms before the response headers
  --ttfb-ms N           wait N ms between the headers and the first body byte
  --chunk-delay-ms N    wait N ms between stream events
  --chunks N            content chunks per stream (default 4)
  --fault F             none | reset | malformed | cut | stall
  --cut-after N         with --fault cut or stall, events sent after the role chunk (default 2)
  --fail-times N        status and fault apply to the first N calls per (path, key) only
  --fail-every N        status and fault apply to calls 1, N+1, 2N+1, ... per (path, key) only
  --fail-key SUFFIX     status and fault apply only to calls whose API key ends with SUFFIX

Other options:
  --host HOST           address to listen on (default 127.0.0.1)
  --port PORT           port to listen on (default 0: any free port)
  --workers N           runtime worker threads (default: one per core)
  --exit-with-stdin     exit when standard input closes (so a test harness
                        that dies, however it dies, never leaves a server behind)
  -h, --help            print this help";

/// The parsed command line.
#[derive(Debug)]
struct Args {
    host: String,
    port: u16,
    workers: Option<usize>,
    exit_with_stdin: bool,
    defaults: Directives,
}

/// Parses the arguments after the program name; `Ok(None)` means `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        host: "127.0.0.1".to_owned(),
        port: 0,
        workers: None,
        exit_with_stdin: false,
        defaults: Directives::default(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if arg == "--exit-with-stdin" {
            parsed.exit_with_stdin = true;
            continue;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument `{arg}`"));
        };
        let name = flag.split_once('=').map_or(flag, |(name, _)| name);
        if !matches!(name, "host" | "port" | "workers") && !faults::is_directive(name) {
            return Err(format!("unknown option `--{name}`"));
        }
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("`--{flag}` needs a value"))?;
                (flag.to_owned(), value)
            }
        };
        match name.as_str() {
            "host" => parsed.host = value,
            "port" => {
                parsed.port = value
                    .parse()
                    .map_err(|_| format!("`--port {value}`: expected a port number"))?
            }
            "workers" => match value.parse() {
                Ok(n) if n > 0 => parsed.workers = Some(n),
                _ => return Err(format!("`--workers {value}`: expected a positive integer")),
            },
            _ => parsed
                .defaults
                .set(Source::Flag, &name, &value)
                .map_err(|e| e.to_string())?,
        }
    }
    Ok(Some(parsed))
}

/// The accepted TCP stream, closed with a reset if a request asked for one.
struct ConnIo {
    stream: TcpStream,
    conn: Arc<Connection>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.conn.abort.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(Connection {
        state,
        abort: AtomicBool::new(false),
    });
    let io = TokioIo::new(ConnIo {
        stream,
        conn: conn.clone(),
    });
    let service = service_fn(move |request| service::handle(conn.clone(), request));
    // Errors here are clients going away or faults injected on purpose.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed
/// before this returns, so a signal sent right after start-up is not lost.
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

async fn run(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
    let shutdown = shutdown_signal()?;
    let address = listener.local_addr()?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "mock-provider listening on http://{address}")?;
        out.flush()?;
    }
    let state = Arc::new(State::new(args.defaults));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, state.clone()));
                }
                // Out of file descriptors or the like: back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Exits the process once standard input reaches end of file.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        std::process::exit(0);
    });
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-provider: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.exit_with_stdin {
        exit_when_stdin_closes();
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers);
    }
    let result = runtime.build().and_then(|runtime| {
        let result = runtime.block_on(run(args));
        // Open connections (say, a slow stream) must not delay the exit.
        runtime.shutdown_background();
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-provider: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "--port",
            "8080",
            "--host=0.0.0.0",
            "--workers",
            "1",
            "--status",
            "503",
            "--retry-after=3",
            "--fault",
            "cut",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.port, 8080);
        assert_eq!(args.host, "0.0.0.0");
        assert_eq!(args.workers, Some(1));
        assert_eq!(args.defaults.status, Some(503));
        assert_eq!(args.defaults.retry_after, Some(3));
        assert_eq!(args.defaults.fault, Some(faults::Fault::Cut));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--status", "abc"]).is_err());
        assert!(parse(&["--bogus", "1"])
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["stray"]).is_err());
    }
}
