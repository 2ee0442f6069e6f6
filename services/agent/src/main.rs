fn main() -> std::process::ExitCode {
    boom_server::run_service(boom_agent::SERVICE, boom_agent::build)
}
