//! The entrypoint precheck (enforce mode): the same decision as for a trapped exec, taken in
//! `create` on the entrypoint, so a blocked entrypoint fails `create` with a readable error.

use anyhow::{Context, Result, bail};
use scrun_detect::event::Known;

use super::{config_of, decide};
use crate::logging::ContainerLog;
use crate::scrun_dir::ScrunDir;

/// Enforce mode: decide on the entrypoint before the container exists, so a blocked entrypoint
/// fails `create` with a readable error (Docker shows it as `OCI runtime create failed: …`)
/// instead of an init that dies silently after `start`. The trapped exec stays the enforcement
/// point; this is the same decision, taken early, on the rootfs as `create` sees it.
pub fn precheck_entrypoint(sdir: &ScrunDir, spec: &serde_json::Value) -> Result<()> {
    let meta = sdir.load_meta()?;
    if meta.mode != scrun_detect::policy::Mode::Enforce {
        return Ok(());
    }
    let Some(arg0) = spec.pointer("/process/args/0").and_then(|a| a.as_str()) else {
        return Ok(());
    };
    let config = config_of(&meta)?;
    let ctx =
        decide::Context::new(&meta, config, sdir).context("cannot set up exec supervision")?;
    let candidates: Vec<String> = if arg0.contains('/') {
        let cwd = spec
            .pointer("/process/cwd")
            .and_then(|c| c.as_str())
            .unwrap_or("/");
        vec![if arg0.starts_with('/') {
            arg0.to_string()
        } else {
            format!("{}/{arg0}", cwd.trim_end_matches('/'))
        }]
    } else {
        let path = spec
            .pointer("/process/env")
            .and_then(|e| e.as_array())
            .and_then(|e| {
                e.iter()
                    .filter_map(|v| v.as_str())
                    .find_map(|v| v.strip_prefix("PATH="))
            })
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{}/{arg0}", d.trim_end_matches('/')))
            .collect()
    };
    let root = scrun_kernel::resolve::RootDir::open_path(&meta.rootfs)
        .with_context(|| format!("cannot open rootfs {}", meta.rootfs.display()))?;
    let log = ContainerLog::open(&sdir.supervisor_log(), meta.log_format);
    for cand in candidates {
        let Ok(resolved) = scrun_kernel::resolve::resolve_exec(
            &root,
            std::process::id(),
            None,
            cand.as_bytes(),
            false,
            false,
        ) else {
            continue;
        };
        if !resolved.meta.is_file() {
            continue;
        }
        let args: Vec<Vec<u8>> = spec
            .pointer("/process/args")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .map(|s| s.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        let d = decide::decide(
            &ctx,
            &log,
            0,
            cand.as_bytes(),
            &mut Known(args),
            None,
            "execve",
            &resolved,
            decide::Via {
                interpreter: resolved
                    .readable()
                    .ok()
                    .and_then(|f| scrun_kernel::elf::inspect(f).ok())
                    .and_then(|image| image.script_interpreter()),
                ..decide::Via::default()
            },
        );
        if d.verdict == scrun_detect::engine::Verdict::Block {
            let what = d
                .category
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "policy".into());
            let sha = d.digest.as_ref().map(|x| x.hex()).unwrap_or_default();
            let feed = d
                .intel
                .as_ref()
                .map(|i| format!(", feed {}", i.feed))
                .unwrap_or_default();
            bail!(
                "scrun blocked the entrypoint {}: {what} (sha256 {sha}{feed}); the exec is not permitted in enforce mode, see `scrun findings`",
                resolved.path.display()
            );
        }
        return Ok(());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::testutil::Fixture;
    use scrun_detect::policy::Mode;

    fn spec(args: &[&str], cwd: &str, path: Option<&str>) -> serde_json::Value {
        let env: Vec<String> = path.map(|p| format!("PATH={p}")).into_iter().collect();
        serde_json::json!({"process": {"args": args, "cwd": cwd, "env": env}})
    }

    #[test]
    fn enforce_mode_blocks_a_listed_entrypoint_however_it_is_named() {
        let fx = Fixture::new(Mode::Enforce);
        for s in [
            spec(&["/bin/evil", "x"], "/", None),
            spec(&["evil"], "/", Some("/usr/bin:/bin")),
            spec(&["./evil"], "/bin", None),
            spec(&["evil"], "/", None), // the default PATH
        ] {
            let err = precheck_entrypoint(&fx.sdir, &s).unwrap_err().to_string();
            assert!(
                err.contains("blocked the entrypoint /bin/evil") && err.contains(&fx.evil_sha),
                "{s}: {err}"
            );
        }
    }

    #[test]
    fn enforce_mode_lets_an_unlisted_or_missing_entrypoint_through() {
        let fx = Fixture::new(Mode::Enforce);
        precheck_entrypoint(&fx.sdir, &spec(&["/bin/ok"], "/", None)).unwrap();
        // Not found: the trapped exec (the kernel) says so, not the precheck.
        precheck_entrypoint(&fx.sdir, &spec(&["nothere"], "/", Some("/bin"))).unwrap();
        precheck_entrypoint(&fx.sdir, &serde_json::json!({"process": {}})).unwrap();
    }

    #[test]
    fn audit_mode_does_not_precheck() {
        let fx = Fixture::new(Mode::Audit);
        precheck_entrypoint(&fx.sdir, &spec(&["/bin/evil"], "/", None)).unwrap();
        assert!(!fx.dir.path().join("findings.jsonl").exists());
    }
}
