use std::process::ExitCode;

use boom_config::{ExposeSecret, Settings};
use boom_gateway::cli::{Cli, Command, EventsCommand, UsersCommand, add_user, read_password};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => boom_server::run_service(boom_gateway::SERVICE, boom_gateway::build),
        Command::Migrate => one_shot(|settings| async move {
            let applied = boom_db::run_migrations(settings.database.url.expose_secret()).await?;
            println!(
                "migrations applied: {}",
                if applied.is_empty() {
                    "none pending".to_owned()
                } else {
                    applied.join(", ")
                }
            );
            Ok(())
        }),
        Command::Users(UsersCommand::Add { username, role }) => one_shot(|settings| async move {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!(
                    "Password for {username} (one line, at least {} characters):",
                    boom_gateway::passwords::MIN_PASSWORD_LEN
                );
            }
            let password = read_password(std::io::stdin().lock())?;
            add_user(
                settings.database.url.expose_secret(),
                &username,
                role,
                &password,
            )
            .await?;
            println!("user {username} created with role {role}");
            Ok(())
        }),
        Command::Events(EventsCommand::Recount { event }) => one_shot(|settings| async move {
            let (counted, moved) =
                boom_gateway::cli::recount(settings.database.url.expose_secret(), event).await?;
            println!(
                "{counted} event(s) counted again from their media; {moved} event(s) had media move"
            );
            Ok(())
        }),
    }
}

/// Runs a command that does its work and exits.
fn one_shot<F, Fut>(work: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("boom-gateway: {error}");
            return ExitCode::from(boom_server::EXIT_CONFIG);
        }
    };
    boom_telemetry::init(settings.log.format);
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(work(settings)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("boom-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}
