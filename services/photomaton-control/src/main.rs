fn main() -> std::process::ExitCode {
    boom_server::run_service(
        boom_photomaton_control::SERVICE,
        boom_photomaton_control::build,
    )
}
