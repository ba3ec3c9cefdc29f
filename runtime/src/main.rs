//! `scrun`: a runc-compatible OCI runtime that supervises every exec in its containers.
#![doc = include_str!("../README.md")]

mod cli;
mod commands;
mod delegation;
mod identity;
mod init_record;
mod logging;
mod metrics;
mod scrun_dir;
mod spec_rewrite;
mod supervisor;
mod tenant;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::logging::{Format, LogSink};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = match option_env!("SCRUN_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
pub const SPEC_VERSION: &str = "1.2.0";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // CVE-2019-5736: the verbs that start processes in a container re-execute from a read-only
    // private overlay of scrun's own directory (no copy), or failing that (no overlayfs, no
    // CAP_SYS_ADMIN, an odd path) from a sealed memfd copy, so a container cannot overwrite the
    // host binary through /proc/self/exe.
    if cli::needs_sealed_exe(&args) && !scrun_kernel::sealed_exe::is_sealed() {
        // Returns only if the re-exec failed.
        let _ = scrun_kernel::sealed_exe::reexec_from_overlay(
            &scrun_dir::base_dir().join(".exe-lower"),
        );
        if let Err(e) = pentacle::ensure_sealed() {
            eprintln!("scrun: cannot seal /proc/self/exe: {e}");
            return ExitCode::from(1);
        }
    }
    let cli = match Cli::try_parse_from(cli::runc_argv(args)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if cli.version {
        print!("{}", commands::version_text());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("scrun: no command given; see scrun --help");
        return ExitCode::from(1);
    };
    let format = if cli.global.json_logs() {
        Format::Json
    } else {
        Format::Text
    };
    let sink = match LogSink::open(cli.global.log.as_deref(), format) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scrun: cannot open log file {:?}: {e}", cli.global.log);
            return ExitCode::from(1);
        }
    };
    if !matches!(command, Command::Supervise(_)) {
        logging::init(&sink, cli.global.debug);
    }
    match commands::dispatch(command, &cli.global) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let msg = format!("{err:#}");
            sink.write_record("error", &msg);
            if !sink.to_stderr() {
                eprintln!("{msg}");
            }
            ExitCode::from(commands::exit_code_for(&err))
        }
    }
}
