//! `scrun-it-image debian|musl`: build (or find in the machine's cache) a test distro rootfs
//! tarball and print its path, for tools outside the test suite (the Docker benchmark).

use std::process::ExitCode;

fn main() -> ExitCode {
    let which = std::env::args().nth(1).unwrap_or_default();
    let tar = match which.as_str() {
        "debian" => scrun_integration::distro::debian_rootfs(),
        "musl" => scrun_integration::distro::musl_rootfs(),
        _ => {
            eprintln!("usage: scrun-it-image debian|musl");
            return ExitCode::from(2);
        }
    };
    match tar {
        Ok(p) => {
            println!("{}", p.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scrun-it-image {which}: {e}");
            ExitCode::FAILURE
        }
    }
}
