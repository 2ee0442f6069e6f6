//! Logs and trace context for every LE BOOM program.
//!
//! [`init`] installs the `tracing` subscriber: one JSON object per line in production,
//! human-readable lines in development, filtered by `RUST_LOG` (default `info`).
//!
//! [`TraceContext`] follows one request across services: it is read from or started at the
//! HTTP edge, carried in a W3C `traceparent` header on every NATS message (the bus crate
//! writes and reads the header) and recorded as the `trace_id` field of spans, so that
//! `grep trace_id=…` over all services' logs tells one story. It is held in a task-local
//! for the duration of the work ([`TraceContext::scope`]).
//!
//! This crate does no network I/O.

use std::fmt;
use std::future::Future;

use boom_config::LogFormat;
use tracing_subscriber::EnvFilter;

/// The header that carries the trace context, on HTTP and on NATS.
pub const TRACEPARENT: &str = "traceparent";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing),
/// which tests rely on.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// Daily log files in `dir` (`<prefix>.YYYY-MM-DD.log`), the oldest removed beyond `keep`.
pub fn daily_files(
    dir: &std::path::Path,
    prefix: &str,
    keep: usize,
) -> std::io::Result<tracing_appender::rolling::RollingFileAppender> {
    std::fs::create_dir_all(dir)?;
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(prefix)
        .filename_suffix("log")
        .max_log_files(keep)
        .build(dir)
        .map_err(std::io::Error::other)
}

/// Logs to daily files instead of standard error: for a program without a console (the agent
/// as a Windows service). The returned guard flushes the files when dropped: keep it for the
/// program's life.
pub fn init_to_files(
    format: LogFormat,
    dir: &std::path::Path,
    prefix: &str,
    keep: usize,
) -> std::io::Result<tracing_appender::non_blocking::WorkerGuard> {
    let (writer, guard) = tracing_appender::non_blocking(daily_files(dir, prefix, keep)?);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    Ok(guard)
}

/// A W3C trace context: the trace one piece of work belongs to, and the span that caused it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// A new trace, for work that starts here (a request without `traceparent`, a timer).
    pub fn new_root() -> Self {
        Self {
            trace_id: rand::random(),
            parent_id: rand::random(),
        }
    }

    /// The same trace, one hop further: what a service attaches to the messages it sends.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            parent_id: rand::random(),
        }
    }

    /// Parses `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; `None` if malformed
    /// (a malformed header from outside starts a new trace rather than failing a request).
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || flags.len() != 2 || parts.next().is_some() {
            return None;
        }
        let trace_id: [u8; 16] = decode_hex(trace)?;
        let parent_id: [u8; 8] = decode_hex(parent)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
        })
    }

    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-01",
            encode_hex(&self.trace_id),
            encode_hex(&self.parent_id)
        )
    }

    pub fn trace_id(&self) -> String {
        encode_hex(&self.trace_id)
    }

    /// The context of the work being done now, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|c| *c).ok()
    }

    /// The current context, or a new root when there is none.
    pub fn current_or_new() -> Self {
        Self::current().unwrap_or_else(Self::new_root)
    }

    /// Runs `fut` with this context as the current one.
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.trace_id())
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let ctx = TraceContext::new_root();
        assert_eq!(TraceContext::parse(&ctx.traceparent()), Some(ctx));
        assert_eq!(ctx.child().trace_id(), ctx.trace_id());
        assert_ne!(ctx.child().traceparent(), ctx.traceparent());
    }

    #[test]
    fn malformed_traceparent_is_ignored() {
        for bad in [
            "",
            "00-xyz-abc-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        assert!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .is_some()
        );
    }

    #[tokio::test]
    async fn the_scope_makes_a_context_current() {
        assert_eq!(TraceContext::current(), None);
        let ctx = TraceContext::new_root();
        let seen = ctx.scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(ctx));
    }

    #[test]
    fn daily_log_files_land_in_their_folder() -> Result<(), Box<dyn std::error::Error>> {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("boom-logs-{}", rand::random::<u64>()));
        let mut files = daily_files(&dir, "boom-agent", 14)?;
        files.write_all(b"{\"message\":\"hello\"}\n")?;
        files.flush()?;
        let names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("boom-agent.") && n.ends_with(".log")),
            "{names:?}"
        );
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
