//! A running service: its HTTP server and its background work (consumers, timers), stopped
//! together on SIGINT/SIGTERM: background work is cancelled (consumers stop pulling and
//! finish what they had pulled), then the server stops accepting and lets in-flight requests
//! finish within the configured timeout.

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The background work of a service (consumers, timers): spawned tasks that get a
/// cancellation token and are waited for at shutdown.
#[derive(Debug, Clone, Default)]
pub struct Background {
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `work`, which must return soon after its token is cancelled.
    pub fn spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work(self.cancel.clone()));
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// Stops an [`Application`] from elsewhere (tests, an admin command).
#[derive(Debug, Clone)]
pub struct Stopper {
    cancel: CancellationToken,
}

impl Stopper {
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

/// An HTTP server plus the background tasks that live and die with it.
pub struct Application {
    name: &'static str,
    port: u16,
    server: Server,
    cancel: CancellationToken,
    tasks: TaskTracker,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish()
    }
}

impl Application {
    /// Binds `addr` and builds the HTTP server of `service` with its `routes`, the shared
    /// routes (`/api/health` from `health`, `/metrics` from `registry`), and its background
    /// work, ready to [`Application::run_until_stopped`].
    pub fn launch<F>(
        service: &'static str,
        addr: &str,
        http: &boom_config::HttpSettings,
        health: crate::Health,
        registry: prometheus_client::registry::Registry,
        background: Background,
        routes: F,
    ) -> anyhow::Result<Self>
    where
        F: Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static,
    {
        use anyhow::Context;
        let listener = crate::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let port = listener.local_addr()?.port();
        let options = crate::HttpOptions {
            service,
            workers: http.workers,
            shutdown_timeout_secs: http.shutdown_timeout_secs,
        };
        let server = crate::http_server(
            listener,
            &options,
            health,
            crate::Metrics::new(registry),
            routes,
        )?;
        Ok(Self {
            name: service,
            port,
            server,
            cancel: background.cancel,
            tasks: background.tasks,
            drain_timeout: Duration::from_secs(http.shutdown_timeout_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            cancel: self.cancel.clone(),
        }
    }

    /// Serves until SIGINT/SIGTERM or [`Stopper::stop`], then stops gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle: ServerHandle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let stopped_early = tokio::select! {
            () = termination() => { tracing::info!(service = self.name, "signal received, stopping"); None }
            () = self.cancel.cancelled() => { tracing::info!(service = self.name, "stop requested"); None }
            result = &mut server => Some(result),
        };
        self.cancel.cancel();
        self.tasks.close();
        if let Some(result) = stopped_early {
            return result.map_err(std::io::Error::other)?;
        }
        handle.stop(true).await;
        let served = server.await.map_err(std::io::Error::other)?;
        if tokio::time::timeout(self.drain_timeout, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                service = self.name,
                "background work did not finish in time"
            );
        }
        tracing::info!(service = self.name, "stopped");
        served
    }
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C or Ctrl-Break on Windows).
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
