//! The `red` binary: everything lives in the library; this only hands over the arguments.

fn main() -> std::process::ExitCode {
    red::app::main(std::env::args_os())
}
