fn main() -> std::process::ExitCode {
    boom_server::run_service(boom_stats_ingest::SERVICE, boom_stats_ingest::build)
}
