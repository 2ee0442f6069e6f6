fn main() -> std::process::ExitCode {
    boom_server::run_service(boom_notion_sync::SERVICE, boom_notion_sync::build)
}
