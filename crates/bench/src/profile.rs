//! Profiles: `perf record` of the whole machine during our side of a scenario, with the
//! software clock (these virtual machines expose no hardware counters) and without call graphs
//! (Rust omits frame pointers). Each sample is put down to a program (our services by pid,
//! others by name) and a symbol: the report gives each program's share and the hottest symbols.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A system-wide sampling profile, running until [`Profile::finish`]ed or dropped.
pub(crate) struct Profile {
    name: String,
    child: Option<Child>,
    data: PathBuf,
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench")
}

impl Profile {
    /// Starts sampling every CPU at 250 Hz; `None` when `perf` is missing.
    pub(crate) fn start(name: &str) -> Option<Self> {
        std::fs::create_dir_all(bench_dir()).ok()?;
        let data = bench_dir().join(format!("{name}.perf.data"));
        let child = Command::new("perf")
            .args([
                "record",
                "-a",
                "-F",
                "250",
                "-e",
                "cpu-clock",
                "--quiet",
                "-o",
            ])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf needs a moment to open its buffers on every CPU.
        std::thread::sleep(Duration::from_millis(300));
        Some(Self {
            name: name.to_owned(),
            child: Some(child),
            data,
        })
    }

    /// Stops sampling and puts the samples down to programs (`programs`: pid → name).
    pub(crate) fn finish(mut self, programs: &[(u32, &str)]) -> Value {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let Ok(output) = Command::new("perf")
            .args(["script", "-F", "comm,pid,ip,sym,dso", "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
        else {
            return json!({"error": "perf script failed"});
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let mut by_program: HashMap<String, usize> = HashMap::new();
        let mut by_symbol: HashMap<(String, String), usize> = HashMap::new();
        let mut total = 0usize;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = fields.iter().position(|f| f.parse::<u32>().is_ok()) else {
                continue;
            };
            let (Ok(pid), Some(comm)) = (fields[at].parse::<u32>(), fields.get(..at)) else {
                continue;
            };
            let comm = comm.join(" ");
            let program = programs
                .iter()
                .find(|(p, _)| *p == pid)
                .map(|(_, name)| (*name).to_owned())
                .unwrap_or_else(|| match comm.as_str() {
                    "swapper" => "idle".to_owned(),
                    "postgres" => "PostgreSQL".to_owned(),
                    "nats-server" => "NATS".to_owned(),
                    "redis-server" => "Redis".to_owned(),
                    "perf" => "perf (the profiler)".to_owned(),
                    other => other.to_owned(),
                });
            let symbol = fields
                .get(at + 2..fields.len().saturating_sub(1))
                .map(|s| s.join(" "))
                .unwrap_or_default();
            let dso = fields.last().copied().unwrap_or_default();
            let symbol = if symbol == "[unknown]" || symbol.is_empty() {
                format!(
                    "[{}]",
                    dso.trim_matches(['(', ')'])
                        .rsplit('/')
                        .next()
                        .unwrap_or(dso)
                )
            } else {
                symbol
            };
            total += 1;
            *by_program.entry(program.clone()).or_default() += 1;
            *by_symbol
                .entry((program, short_symbol(&symbol)))
                .or_default() += 1;
        }
        let share = |n: usize| (n as f64 * 1000.0 / total.max(1) as f64).round() / 10.0;
        let mut programs: Vec<(String, usize)> = by_program.into_iter().collect();
        programs.sort_by_key(|p| std::cmp::Reverse(p.1));
        let mut symbols: Vec<((String, String), usize)> = by_symbol
            .into_iter()
            .filter(|((program, _), _)| program != "idle")
            .collect();
        symbols.sort_by_key(|s| std::cmp::Reverse(s.1));
        // `BOOM_BENCH_KEEP_PERF=1` keeps `target/bench/NAME.perf.data` for `perf report`.
        if std::env::var_os("BOOM_BENCH_KEEP_PERF").is_none() {
            let _ = std::fs::remove_file(&self.data);
        }
        json!({
            "name": self.name,
            "samples": total,
            "programs": programs.iter().take(8).map(|(p, n)| json!({"program": p, "share": share(*n)})).collect::<Vec<_>>(),
            "hottest": symbols.iter().take(12).map(|((p, s), n)| json!({"program": p, "symbol": s, "share": share(*n)})).collect::<Vec<_>>(),
        })
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A symbol without its hash and with generic arguments elided, at most 100 characters.
fn short_symbol(symbol: &str) -> String {
    let symbol = symbol.split("+0x").next().unwrap_or(symbol);
    let mut out = String::with_capacity(symbol.len());
    let mut depth = 0usize;
    for c in symbol.chars() {
        match c {
            '<' => {
                depth += 1;
                match depth {
                    1 => out.push('<'),
                    2 => out.push_str("<…>"),
                    _ => {}
                }
            }
            '>' => {
                if depth == 1 {
                    out.push('>');
                }
                depth = depth.saturating_sub(1);
            }
            _ if depth <= 1 => out.push(c),
            _ => {}
        }
    }
    let out = match out.rfind("::h") {
        Some(i) if out.len() - i == 19 => out[..i].to_owned(),
        _ => out,
    };
    out.chars().take(100).collect()
}
