fn main() -> std::process::ExitCode {
    boom_server::run_service(boom_notifier::SERVICE, boom_notifier::build)
}
