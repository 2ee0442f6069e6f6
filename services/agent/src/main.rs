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
    /// Pair this PC with a booth: CODE is the pairing code shown on the booth page
    /// ("Pair a PC"). The agent keeps the key it gets (never shown) and then needs neither
    /// agent.key nor agent.hostname.
    Pair {
        /// The base URL of stats-ingest, e.g. https://ingest.example.com
        #[arg(long)]
        ingest_url: String,
        code: String,
    },
    /// Run under the Windows Service Control Manager (what `boom-agent install` registers).
    #[cfg(windows)]
    Service,
    /// Register the Windows service (automatic start, restarted on failure) and start it.
    #[cfg(windows)]
    Install,
    /// Stop and remove the Windows service.
    #[cfg(windows)]
    Uninstall,
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
        #[cfg(windows)]
        Command::Install => {
            if let Ok(settings) = Settings::load() {
                boom_agent::windows::restrict_data_dir(&settings.agent.data_dir);
            }
            return match boom_agent::windows::install() {
                Ok(()) => {
                    println!(
                        "service {} installed and started",
                        boom_agent::windows::SERVICE_NAME
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!(
                        "boom-agent: cannot install the service (run as administrator?): {error:#}"
                    );
                    ExitCode::FAILURE
                }
            };
        }
        #[cfg(windows)]
        Command::Uninstall => {
            return match boom_agent::windows::uninstall() {
                Ok(()) => {
                    println!(
                        "service {} stopped and removed",
                        boom_agent::windows::SERVICE_NAME
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("boom-agent: cannot remove the service: {error:#}");
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
                            println!(
                                "paired as:       {}",
                                status.paired_as.as_deref().unwrap_or("not paired")
                            );
                            println!("buffer:          {}", status.database);
                        }
                    }
                    Command::Pair { ingest_url, code } => {
                        #[cfg(windows)]
                        boom_agent::windows::restrict_data_dir(&settings.agent.data_dir);
                        let hostname = boom_agent::pc_hostname();
                        let paired = boom_agent::ingest::pair(&ingest_url, &code, &hostname).await?;
                        store
                            .save_pairing(boom_agent::store::Pairing {
                                ingest_url: ingest_url.clone(),
                                hostname: paired.hostname.to_string(),
                                key: paired.api_key,
                            })
                            .await?;
                        println!(
                            "paired with booth {} (photomaton {}) through {ingest_url}",
                            paired.hostname, paired.photomaton_id
                        );
                        println!(
                            "the agent key is kept in {}; restart the agent (or its service) to use it",
                            store.path().display()
                        );
                    }
                    Command::PaperReset { prints } => {
                        let prints = prints.unwrap_or(settings.agent.paper_capacity);
                        store.reset_paper(prints).await?;
                        println!("paper counter set to {prints}");
                    }
                    #[cfg(windows)]
                    Command::Service | Command::Install | Command::Uninstall => {}
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
