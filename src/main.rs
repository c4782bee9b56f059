fn main() -> std::process::ExitCode {
    keybill::cli::main()
}
