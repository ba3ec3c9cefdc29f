//! `scrun list`: every container in `--root` that scrun (or libcontainer) manages. Docker shares its
//! runtime root with runc, so directories without a libcontainer `state.json` are skipped.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use libcontainer::container::Container;
use liboci_cli::List;

use super::container_state;

pub fn list(args: List, root: &Path) -> Result<()> {
    let mut states = Vec::new();
    if root.is_dir() {
        let entries =
            fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?;
        let mut dirs: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if !dir.join("state.json").is_file() || !dir.join("youki_config.json").is_file() {
                continue;
            }
            if let Ok(mut c) = Container::load(dir) {
                super::liveness::correct(&mut c, root);
                states.push(container_state(&c, root));
            }
        }
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            if args.quiet {
                for s in &states {
                    println!("{}", s["id"].as_str().unwrap_or_default());
                }
                return Ok(());
            }
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                    s["id"].as_str().unwrap_or_default(),
                    s["pid"],
                    s["status"].as_str().unwrap_or_default(),
                    s["bundle"].as_str().unwrap_or_default(),
                    s["created"].as_str().unwrap_or_default(),
                    s["owner"].as_str().unwrap_or_default()
                );
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}
