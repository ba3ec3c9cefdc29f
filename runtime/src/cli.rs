//! The runc-compatible command line. Flag structs come from `liboci-cli` where they match what callers
//! pass (containerd's go-runc, conmon, Docker); scrun declares its own where liboci-cli falls short
//! (global flags that may repeat, `--rootless`/`--criu`, `kill` with a default signal, `events
//! --interval 5s`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default state directory, like runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/scrun";

#[derive(Parser, Debug)]
#[command(
    name = "scrun",
    about = "a runc-compatible container runtime that supervises every exec",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    /// print the version (runc format)
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Global flags, accepted before the subcommand in `--f v` and `--f=v` forms; a repeated flag
/// takes its last value (Docker's runtimeArgs wrapper can pass `--log-format` twice).
#[derive(Args, Debug, Default, Clone)]
pub struct GlobalOpts {
    /// root directory for storage of container state
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// log file (appended); default stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// log format: text or json
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// use systemd to manage cgroups
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// accepted and ignored (runc compatibility)
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", hide = true)]
    pub rootless: Option<String>,
    /// accepted and ignored (runc compatibility)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create(liboci_cli::Create),
    /// start the user process of a created container
    Start(liboci_cli::Start),
    /// create and start a container
    Run(liboci_cli::Run),
    /// run a new process inside a container
    Exec(liboci_cli::Exec),
    /// send a signal to the container's init process
    Kill(Kill),
    /// delete a container
    Delete(liboci_cli::Delete),
    /// print the state of a container
    State(liboci_cli::State),
    /// list the processes of a container
    Ps(liboci_cli::Ps),
    /// suspend all processes of a container
    Pause(liboci_cli::Pause),
    /// resume all processes of a container
    Resume(liboci_cli::Resume),
    /// update the resource limits of a container
    Update(liboci_cli::Update),
    /// show the features this runtime supports
    Features(liboci_cli::Features),
    /// list containers
    List(liboci_cli::List),
    /// show container events and statistics
    Events(Events),
    /// create a new config.json
    Spec(liboci_cli::Spec),
    /// checkpoint a running container (not supported)
    Checkpoint(liboci_cli::Checkpoint),
    /// list and query the findings scrun wrote
    Findings(Findings),
    /// compile threat feeds into a shared index, inspect it, look a hash up
    #[command(subcommand)]
    Intel(Intel),
    /// list the exec rules, validate rule files and try them on exec events
    #[command(subcommand)]
    Rules(Rules),
    /// run the exec supervisor of one container (started by `create`)
    #[command(hide = true)]
    Supervise(Supervise),
}

#[derive(Subcommand, Debug)]
pub enum Rules {
    /// list every rule in effect: id, category, severity, action, source file
    List {
        /// print JSON lines instead of a table
        #[arg(long)]
        json: bool,
    },
    /// validate rule files (with the config's rules) and, with --events, print which rules fire
    /// (exit 1 when none does)
    Test {
        /// rule files to add to the config's ruleset
        files: Vec<PathBuf>,
        /// a JSON file with one exec event or an array of them (fields: path, argv, env,
        /// requested, sha256, provenance, ancestors, stdin/stdout/stderr, image, container,
        /// labels)
        #[arg(long)]
        events: Option<PathBuf>,
        /// do not include the built-in ruleset
        #[arg(long)]
        no_default: bool,
    },
}

#[derive(Args, Debug)]
pub struct Kill {
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// signal number or name (SIGTERM, TERM, 15, RTMIN+3, ...)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// send the signal to every process of the container
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct Events {
    /// stats collection interval (e.g. 5s, 500ms, or seconds as a bare number)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// print the container's statistics once and exit
    #[arg(long)]
    pub stats: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct Findings {
    /// findings file (default: [findings] path of the config)
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// only findings of this container (name or id prefix)
    #[arg(long)]
    pub container: Option<String>,
    /// only findings whose image matches
    #[arg(long)]
    pub image: Option<String>,
    /// only this category (exact SCC string or a slug such as added-binary)
    #[arg(long)]
    pub category: Option<String>,
    /// at least this severity (LOW, MEDIUM, HIGH, CRITICAL)
    #[arg(long)]
    pub severity: Option<String>,
    /// only findings newer than this (10m, 2h, 1d or an RFC 3339 time)
    #[arg(long)]
    pub since: Option<String>,
    /// show the findings of the same container around this finding (id or its prefix)
    #[arg(long)]
    pub related: Option<String>,
    /// time window for --related (e.g. 10m)
    #[arg(long, default_value = "10m")]
    pub window: String,
    /// print raw JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Intel {
    /// compile feeds into one index file (atomic replace; running containers pick it up)
    Compile {
        /// the index to write (default: [intel] index of the config)
        #[arg(long)]
        out: Option<PathBuf>,
        /// feeds as PATH or NAME=PATH (default: [intel] feeds of the config); one SHA-256 per
        /// line or MalwareBazaar CSV, detected per file
        feeds: Vec<String>,
    },
    /// print an index's counts and verify its checksum
    Stat {
        /// the index (default: [intel] index of the config)
        index: Option<PathBuf>,
    },
    /// look a SHA-256 up (exit 1 when it is not listed)
    Lookup {
        /// the index (default: [intel] index of the config)
        #[arg(long)]
        index: Option<PathBuf>,
        sha256: String,
    },
}

#[derive(Args, Debug)]
pub struct Supervise {
    /// the container's scrun directory (shadow bundle, socket, metadata)
    pub dir: PathBuf,
    /// fd number of the readiness pipe
    #[arg(long)]
    pub ready_fd: Option<i32>,
    /// fd number of the listener socket bound by `create` (keeper only)
    #[arg(long)]
    pub listen_fd: Option<i32>,
    /// run the response hooks for the findings read on stdin (started by the worker)
    #[arg(long)]
    pub hook_runner: bool,
}

impl GlobalOpts {
    pub fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }

    pub fn json_logs(&self) -> bool {
        self.log_format.as_deref() == Some("json")
    }
}

/// The verbs that build container processes and so must run from a sealed binary (a read-only
/// overlay of scrun's directory, or a sealed memfd copy): CVE-2019-5736.
pub fn needs_sealed_exe(args: &[String]) -> bool {
    let mut skip_value = false;
    for a in args.iter().skip(1) {
        if skip_value {
            skip_value = false;
            continue;
        }
        match a.as_str() {
            "--root" | "--log" | "--log-format" | "--criu" => skip_value = true,
            s if s.starts_with('-') => {}
            s => return matches!(s, "create" | "run" | "exec"),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn repeated_globals_last_wins() {
        let cli = parse(&[
            "scrun",
            "--debug",
            "--log-format=json",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "text",
            "state",
            "c1",
        ]);
        assert_eq!(cli.global.log_format.as_deref(), Some("text"));
        assert_eq!(cli.global.root, Some(PathBuf::from("/r")));
        assert!(cli.global.debug);
    }

    #[test]
    fn rootless_and_criu_accepted() {
        let cli = parse(&["scrun", "--rootless=false", "--criu", "/x", "list"]);
        assert_eq!(cli.global.rootless.as_deref(), Some("false"));
        let cli = parse(&["scrun", "--rootless", "list"]);
        assert_eq!(cli.global.rootless.as_deref(), Some("true"));
    }

    #[test]
    fn options_after_container_id() {
        let cli = parse(&["scrun", "create", "c1", "--bundle", "/b", "--pid-file=/p"]);
        match cli.command {
            Some(Command::Create(c)) => {
                assert_eq!(c.bundle, PathBuf::from("/b"));
                assert_eq!(c.pid_file, Some(PathBuf::from("/p")));
                assert_eq!(c.container_id, "c1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_resources_forms() {
        for args in [
            &["scrun", "update", "--resources", "-", "c1"][..],
            &["scrun", "update", "--resources=-", "c1"][..],
        ] {
            match parse(args).command {
                Some(Command::Update(u)) => assert_eq!(u.resources, Some(PathBuf::from("-"))),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn exec_shim_form_and_command_form() {
        let cli = parse(&[
            "scrun",
            "exec",
            "--process",
            "/tmp/p.json",
            "--detach",
            "--pid-file",
            "/b/x.pid",
            "c1",
        ]);
        match cli.command {
            Some(Command::Exec(e)) => {
                assert!(e.detach);
                assert_eq!(e.process, Some(PathBuf::from("/tmp/p.json")));
                assert!(e.command.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["scrun", "exec", "-t", "c1", "sh", "-c", "echo hi"]);
        match cli.command {
            Some(Command::Exec(e)) => {
                assert!(e.tty);
                assert_eq!(e.command, vec!["sh", "-c", "echo hi"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_defaults_and_all() {
        match parse(&["scrun", "kill", "--all", "c1", "9"]).command {
            Some(Command::Kill(k)) => {
                assert!(k.all);
                assert_eq!(k.signal, "9");
            }
            other => panic!("{other:?}"),
        }
        match parse(&["scrun", "kill", "c1"]).command {
            Some(Command::Kill(k)) => assert_eq!(k.signal, "SIGTERM"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sealed_verbs() {
        let v = |a: &[&str]| needs_sealed_exe(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&["scrun", "--root", "/r", "create", "x"]));
        assert!(v(&["scrun", "--log-format", "json", "exec", "x"]));
        assert!(!v(&["scrun", "--root", "create", "state", "x"]));
        assert!(!v(&["scrun", "state", "create"]));
    }
}
