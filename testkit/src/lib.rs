//! Test support shared by the Lookout crates (a dev-dependency only; never published).
//!
//! - [`shared_dir`] finds the read-only `../shared` material (`$LOOKOUT_SHARED`, else `shared/`
//!   beside the workspace root). When it is absent a test skips with a printed reason, except
//!   under CI (`CI` set), where absence fails the run.
//! - [`oracle`] finds an upstream binary (`prometheus`, `promtool`, `amtool`, …) with the same
//!   rule.
//! - [`free_port`], [`ChildGuard`], [`wait_for_port`] and [`http`] run and talk to servers on
//!   127.0.0.1 only.
//!
//! Panics here are deliberate: this is test code, and a panic is how a test fails.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub use tempfile;

/// Whether we run under CI (the `CI` variable is set), where skipping is not allowed.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Reports that a test cannot run: prints the reason and returns (the caller then returns), or
/// panics under CI.
pub fn skip(reason: &str) {
    if in_ci() {
        panic!("required under CI but unavailable: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The shared data folder, or `None` (after printing why) when it is absent outside CI.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("LOOKOUT_SHARED") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!(
            "shared data folder {} not found (set LOOKOUT_SHARED)",
            dir.display()
        ));
        None
    }
}

/// A path inside the shared folder, or `None` (after printing why) when it is absent.
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    let p = shared_dir()?.join(rel);
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} not found", p.display()));
        None
    }
}

/// The path of an upstream binary found on `PATH`, or `None` (after printing why) outside CI.
pub fn oracle(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    skip(&format!(
        "oracle binary `{name}` not on PATH (apt-get install prometheus prometheus-alertmanager)"
    ));
    None
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Kills and reaps a child process when dropped, so a failing test leaves no server behind.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `127.0.0.1:port`; false on timeout.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Copies the directory tree `from` into `to` (created), leaving every copied file writable:
/// the shared datasets are read-only, and tests open copies as live data directories.
/// Panics on I/O errors (test-only code).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for e in entries {
        let e = e.unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            if let Ok(meta) = std::fs::metadata(&dst) {
                let mut perm = meta.permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perm.set_readonly(false);
                let _ = std::fs::set_permissions(&dst, perm);
            }
        }
    }
}

/// A minimal HTTP/1.1 client for 127.0.0.1, enough to talk to Prometheus' and Alertmanager's
/// APIs in tests without an HTTP stack.
pub mod http {
    use super::*;

    /// A response: status code, headers (lower-cased names) and body.
    #[derive(Debug, Clone)]
    pub struct Response {
        /// The status code.
        pub status: u16,
        /// Header names (lower-cased) and values.
        pub headers: Vec<(String, String)>,
        /// The body, de-chunked.
        pub body: Vec<u8>,
    }

    impl Response {
        /// The body as UTF-8 text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    /// `GET path` on 127.0.0.1:port.
    pub fn get(port: u16, path: &str) -> std::io::Result<Response> {
        request(port, "GET", path, &[], &[])
    }

    /// `POST path` with a body and extra headers on 127.0.0.1:port.
    pub fn post(
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        request(port, "POST", path, headers, body)
    }

    /// Percent-encodes a query-string component.
    pub fn encode(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// Sends one request and reads the whole response (the connection is closed after it).
    pub fn request(
        port: u16,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        parse_response(&raw).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response")
        })
    }

    fn parse_response(raw: &[u8]) -> Option<Response> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..split]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body)?;
        }
        Some(Response {
            status,
            headers,
            body,
        })
    }

    fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let eol = b.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&b[..eol]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            b = &b[eol + 2..];
            if size == 0 {
                return Some(out);
            }
            out.extend_from_slice(b.get(..size)?);
            b = b.get(size + 2..)?;
        }
    }
}

/// Serves fixed responses on a free 127.0.0.1 port from a background thread until dropped: a
/// scrape target for differential tests. The handler gets the request path and returns
/// (content type, body).
#[derive(Debug)]
pub struct StaticServer {
    /// The port it listens on.
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    /// Starts serving.
    pub fn start<F>(handler: F) -> StaticServer
    where
        F: Fn(&str) -> (String, Vec<u8>) + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let req = String::from_utf8_lossy(&buf);
                        let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let (ctype, body) = handler(&path);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(head.as_bytes());
                        let _ = s.write_all(&body);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StaticServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
