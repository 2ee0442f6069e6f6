use std::process::ExitCode;

use boom_config::Settings;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "boom-agent",
    version,
    about = "LE BOOM booth agent: dslrBooth triggers → local buffer → stats-ingest"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Listen for triggers and send them (the default).
    Run,
    /// Print the backlog, the paper counter and the last successful sync.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// A new paper roll: set the counter to the capacity, or to the count given.
    PaperReset {
        #[arg(long)]
        prints: Option<i64>,
    },
    /// Run under the Windows Service Control Manager (what `sc.exe create` starts).
    #[cfg(windows)]
    Service,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command.unwrap_or(Command::Run) {
        Command::Run => return boom_server::run_service(boom_agent::SERVICE, boom_agent::build),
        #[cfg(windows)]
        Command::Service => {
            return match boom_agent::windows::dispatch() {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("boom-agent: not started by the Service Control Manager: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        other => other,
    };
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("boom-agent: {error}");
            return ExitCode::from(boom_server::EXIT_CONFIG);
        }
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                let store = boom_agent::store::Store::open(
                    &settings.agent.data_dir,
                    settings.agent.paper_capacity,
                )?;
                match command {
                    Command::Status { json } => {
                        let status = store.status().await?;
                        if json {
                            println!("{}", serde_json::to_string_pretty(&status)?);
                        } else {
                            println!("backlog:         {} media line(s) waiting", status.backlog);
                            println!("in flight:       {}", status.in_flight);
                            println!("quarantined:     {}", status.quarantined);
                            println!("unknown events:  {}", status.unknown_events);
                            println!("paper remaining: {}", status.paper_remaining);
                            println!(
                                "new roll:        {}",
                                status.paper_reset_at.as_deref().unwrap_or("never declared")
                            );
                            println!(
                                "last sync:       {}",
                                status.last_sync.as_deref().unwrap_or("never")
                            );
                            println!("buffer:          {}", status.database);
                        }
                    }
                    Command::PaperReset { prints } => {
                        let prints = prints.unwrap_or(settings.agent.paper_capacity);
                        store.reset_paper(prints).await?;
                        println!("paper counter set to {prints}");
                    }
                    #[cfg(windows)]
                    Command::Service => {}
                    Command::Run => {}
                }
                anyhow::Ok(())
            })
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("boom-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}
