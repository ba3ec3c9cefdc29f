//! Poststop hooks, run by scrun rather than libcontainer so that they follow the runtime spec: a
//! failing hook is logged (its index, exit status and output, in runc's words) and the remaining
//! hooks and the delete go on (libcontainer stops at the first failure and leaves the container's
//! state behind, which made it undeletable even with `--force`). `create` moves them out of the
//! shadow config into `poststop.json` in the container's scrun directory.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::scrun_dir::ScrunDir;

fn hooks_file(sdir: &ScrunDir) -> std::path::PathBuf {
    sdir.path.join("poststop.json")
}

/// Take `hooks.poststop` out of the shadow spec and keep it for `delete`.
pub fn take(sdir: &ScrunDir, spec: &mut Value) -> Result<()> {
    let Some(hooks) = spec
        .get_mut("hooks")
        .and_then(Value::as_object_mut)
        .and_then(|h| h.remove("poststop"))
    else {
        return Ok(());
    };
    let path = hooks_file(sdir);
    fs::write(&path, serde_json::to_vec(&hooks)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Run the container's poststop hooks, each with the container's state (status `stopped`) on its
/// stdin and the caller's bundle as its working directory; a failure is logged, never returned.
pub fn run(sdir: &ScrunDir, id: &str) {
    let Ok(text) = fs::read(hooks_file(sdir)) else {
        return;
    };
    let hooks: Vec<Value> = match serde_json::from_slice(&text) {
        Ok(Value::Array(h)) => h,
        _ => return,
    };
    let meta = sdir.load_meta().ok();
    let bundle = meta.as_ref().map(|m| m.bundle.clone()).unwrap_or_default();
    let mut state = serde_json::json!({
        "ociVersion": crate::SPEC_VERSION,
        "id": id,
        "status": "stopped",
        "bundle": bundle,
    });
    if let Some(a) = meta
        .as_ref()
        .map(|m| &m.annotations)
        .filter(|a| !a.is_empty())
    {
        state["annotations"] = serde_json::json!(a);
    }
    let state = serde_json::to_vec(&state).unwrap_or_default();
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(hook, &state, &bundle) {
            tracing::error!("error running hook #{i}: {e}");
        }
    }
}

fn run_one(hook: &Value, state: &[u8], cwd: &Path) -> Result<(), String> {
    let path = hook["path"].as_str().ok_or("hook without a path")?;
    let args: Vec<&str> = hook["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut cmd = Command::new(path);
    match args.split_first() {
        Some((arg0, rest)) => cmd.arg0(arg0).args(rest),
        None => cmd.arg0(path),
    };
    if let Some(env) = hook["env"].as_array() {
        cmd.env_clear();
        for kv in env.iter().filter_map(Value::as_str) {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    if cwd.is_dir() {
        cmd.current_dir(cwd);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("error running hook: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no failure.
        let _ = stdin.write_all(state);
    }
    let pid = child.id() as i32;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut o = String::new();
        let mut e = String::new();
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_string(&mut o);
        }
        if let Some(s) = err.as_mut() {
            let _ = s.read_to_string(&mut e);
        }
        let _ = tx.send((child.wait(), o, e));
    });
    let timeout = hook["timeout"]
        .as_u64()
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let result = match timeout {
        Some(t) => match rx.recv_timeout(t) {
            Ok(r) => r,
            Err(_) => {
                let _ = scrun_kernel::signal::send(pid, libc::SIGKILL);
                return Err(format!(
                    "error running hook: timeout after {} seconds",
                    t.as_secs()
                ));
            }
        },
        None => rx.recv().map_err(|e| format!("error running hook: {e}"))?,
    };
    match result {
        (Ok(status), _, _) if status.success() => Ok(()),
        (Ok(status), o, e) => Err(format!(
            "error running hook: {status}, stdout: {o}, stderr: {e}"
        )),
        (Err(err), _, _) => Err(format!("error running hook: {err}")),
    }
}
