//! `GET /api/health`: runs every dependency check of the service concurrently, each with a
//! timeout, and answers 200 when all pass, 503 naming the ones that failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde::Serialize;

pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One dependency check: a name (`database`, `redis`, `nats`, `disk`…) and how to run it.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    run: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Check {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            run: Arc::new(move || Box::pin(run())),
        }
    }

    /// A check that runs `run` on its own clone of `value` (a pool, a client) each time.
    pub fn with<T, F, Fut, E>(name: &'static str, value: T, run: F) -> Self
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let run = Arc::new(run);
        Self::new(name, move || {
            let (value, run) = (value.clone(), run.clone());
            async move { run(value).await.map_err(|e| e.to_string()) }
        })
    }

    /// Free space in the temporary directory, where a server service writes: at least
    /// 256 MiB (every service but the agent, whose own data directory is what counts).
    pub fn temp_disk() -> Self {
        Self::disk(std::env::temp_dir(), 256 << 20)
    }

    /// Free space where the service writes (logs, the agent's SQLite file, temp files).
    pub fn disk(path: std::path::PathBuf, min_free_bytes: u64) -> Self {
        Self::new("disk", move || {
            let path = path.clone();
            async move {
                let free =
                    fs4::available_space(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if free < min_free_bytes {
                    return Err(format!(
                        "{} MiB free under {}, below {} MiB",
                        free >> 20,
                        path.display(),
                        min_free_bytes >> 20
                    ));
                }
                Ok(())
            }
        })
    }
}

/// The checks of one service.
#[derive(Debug, Clone, Default)]
pub struct Health {
    checks: Vec<Check>,
    timeout: Duration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct HealthReport {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    pub checks: BTreeMap<&'static str, CheckReport>,
}

impl Health {
    pub fn new(checks: Vec<Check>) -> Self {
        Self {
            checks,
            timeout: Duration::from_secs(3),
        }
    }

    pub async fn report(&self, service: &'static str) -> HealthReport {
        let runs = self.checks.iter().map(|check| async move {
            let started = Instant::now();
            let outcome = match tokio::time::timeout(self.timeout, (check.run)()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {} s", self.timeout.as_secs())),
            };
            let report = CheckReport {
                status: if outcome.is_ok() { "ok" } else { "error" },
                error: outcome.err(),
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            };
            (check.name, report)
        });
        let checks: BTreeMap<_, _> = futures::future::join_all(runs).await.into_iter().collect();
        let healthy = checks.values().all(|c| c.error.is_none());
        HealthReport {
            status: if healthy { "ok" } else { "error" },
            service,
            version: env!("CARGO_PKG_VERSION"),
            checks,
        }
    }
}

/// The name of the running service, for reports.
#[derive(Debug, Clone, Copy)]
pub struct ServiceName(pub &'static str);

pub(crate) async fn health_handler(
    health: web::Data<Health>,
    service: web::Data<ServiceName>,
) -> HttpResponse {
    let report = health.report(service.0).await;
    for (name, check) in &report.checks {
        if let Some(error) = &check.error {
            tracing::warn!(check = name, %error, "health check failed");
        }
    }
    if report.status == "ok" {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}
