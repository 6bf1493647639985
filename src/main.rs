//! The `mnistlab` command: parse the command line, run it, turn the result into an exit code.

mod cli;

use std::process::ExitCode;

/// Exit code of a process whose output pipe closed (128 + SIGPIPE), as shells report it.
const BROKEN_PIPE: i32 = 141;

fn main() -> ExitCode {
    // `println!` panics when the reader has gone (`mnistlab summary … | head`): end quietly
    // instead, as Unix tools do when their pipe closes.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE);
        }
        default_hook(info);
    }));
    match cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
