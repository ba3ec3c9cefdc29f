//! `scrun-it-reaper DIR`: wait until stdin reaches EOF (the test process that started it has
//! exited), then clean DIR up: stop engines, kill leftovers, unmount, remove.

use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: scrun-it-reaper DIR (stdin: a pipe held by the test process)");
        return ExitCode::from(2);
    };
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let problems = scrun_integration::workdir::cleanup(std::path::Path::new(&dir));
    for p in &problems {
        eprintln!("scrun-it-reaper {}: {p}", dir.to_string_lossy());
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
