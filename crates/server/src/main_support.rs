//! The `main` of every service: read configuration (one clear line and exit code 78 when it
//! is wrong), install logging, build the application, serve until a signal.

use std::future::Future;
use std::process::ExitCode;

use boom_config::Settings;

use crate::Application;

/// EX_CONFIG from sysexits.h: the configuration is wrong; restarting will not help.
pub const EXIT_CONFIG: u8 = 78;

/// Several TLS stacks meet in one process (NATS, Notion over HTTPS); rustls needs to be told
/// which cryptography to use when more than one is compiled in.
pub fn install_crypto_provider() {
    let _already = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the settings and runs the service that `build` makes from them.
pub fn run_service<B, Fut>(service: &'static str, build: B) -> ExitCode
where
    B: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<Application>>,
{
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{service}: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    boom_telemetry::init(settings.log.format);
    install_crypto_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{service}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        let application = build(settings).await?;
        tracing::info!(service, port = application.port(), "listening");
        application.run_until_stopped().await?;
        anyhow::Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service, error = format!("{error:#}"), "stopped on error");
            eprintln!("{service}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
