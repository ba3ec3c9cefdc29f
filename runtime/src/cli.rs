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
    /// accepted and ignored (runc compatibility); like runc's, only before the subcommand, so that
    /// `spec --rootless` is spec's own flag
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", hide = true)]
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
    Exec(Exec),
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
    Spec(Spec),
    /// checkpoint a running container (not supported: refused with the options given)
    Checkpoint(Checkpoint),
    /// restore a container from a checkpoint (not supported: refused with the options given)
    Restore(Restore),
    /// list and query the findings scrun wrote
    Findings(Findings),
    /// print the log of a container's exec supervisor (until the container is deleted)
    Logs(Logs),
    /// compile threat feeds into a shared index, inspect it, look a hash up
    #[command(subcommand)]
    Intel(Intel),
    /// list the exec rules, validate rule files and try them on exec events
    #[command(subcommand)]
    Rules(Rules),
    /// print the node's exec supervision metrics (Prometheus text), summed over every supervisor
    Metrics(Metrics),
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

/// runc's `checkpoint` flags, accepted so that the refusal can name them.
#[derive(Args, Debug)]
pub struct Checkpoint {
    #[arg(long)]
    pub image_path: Option<String>,
    #[arg(long)]
    pub work_path: Option<String>,
    #[arg(long)]
    pub parent_path: Option<String>,
    #[arg(long)]
    pub leave_running: bool,
    #[arg(long)]
    pub tcp_established: bool,
    #[arg(long)]
    pub ext_unix_sk: bool,
    #[arg(long)]
    pub shell_job: bool,
    #[arg(long)]
    pub lazy_pages: bool,
    #[arg(long)]
    pub status_fd: Option<String>,
    #[arg(long)]
    pub page_server: Option<String>,
    #[arg(long)]
    pub file_locks: bool,
    #[arg(long)]
    pub pre_dump: bool,
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    #[arg(long)]
    pub empty_ns: Vec<String>,
    #[arg(long)]
    pub auto_dedup: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

/// runc's `restore` flags, accepted so that the refusal can name them.
#[derive(Args, Debug)]
pub struct Restore {
    #[arg(long)]
    pub console_socket: Option<String>,
    #[arg(long)]
    pub image_path: Option<String>,
    #[arg(long)]
    pub work_path: Option<String>,
    #[arg(long)]
    pub tcp_established: bool,
    #[arg(long)]
    pub ext_unix_sk: bool,
    #[arg(long)]
    pub shell_job: bool,
    #[arg(long)]
    pub file_locks: bool,
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    #[arg(long, short)]
    pub bundle: Option<String>,
    #[arg(long, short)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<String>,
    #[arg(long)]
    pub no_subreaper: bool,
    #[arg(long)]
    pub no_pivot: bool,
    #[arg(long)]
    pub empty_ns: Vec<String>,
    #[arg(long)]
    pub auto_dedup: bool,
    #[arg(long)]
    pub lazy_pages: bool,
    #[arg(long)]
    pub lsm_profile: Option<String>,
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

/// runc's `exec` flags (liboci-cli's lack `-c` for `--cap`). Everything after the container id is
/// the command, as in runc (see [`runc_argv`]).
#[derive(Args, Debug)]
pub struct Exec {
    /// AF_UNIX socket that receives the pty master of the process
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set an environment variable (NAME=value)
    #[arg(short, long, value_parser = parse_env, num_args = 1)]
    pub env: Vec<(String, String)>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// the user: UID or UID:GID
    #[arg(short, long, value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// additional gids
    #[arg(long, short = 'g', num_args = 1)]
    pub additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// the SELinux label of the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// the AppArmor profile of the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set no_new_privileges for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// add a capability to the bounding, effective and permitted sets (CAP_KILL; an unknown
    /// name is ignored with a warning, as by runc)
    #[arg(long, short = 'c', num_args = 1)]
    pub cap: Vec<String>,
    /// pass N additional file descriptors to the process
    #[arg(long, default_value = "0")]
    pub preserve_fds: i32,
    /// run the process in an existing sub-cgroup: CGROUP or CONTROLLER:CGROUP
    #[arg(long)]
    pub cgroup: Option<String>,
    /// allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// the command and its arguments
    #[arg(required = false, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("invalid environment variable {s:?}: missing '='"))
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u
        .parse()
        .map_err(|e| format!("parsing {u} as int for uid failed: {e}"))?;
    let gid = g
        .map(|g| {
            g.parse()
                .map_err(|e| format!("parsing {g} as int for gid failed: {e}"))
        })
        .transpose()?;
    Ok((uid, gid))
}

#[derive(Args, Debug)]
pub struct Spec {
    /// path to the root of the bundle directory
    #[arg(long, short)]
    pub bundle: Option<PathBuf>,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct Logs {
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
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
    /// findings file (default: the config's findings.path)
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

#[derive(Args, Debug)]
pub struct Metrics {
    /// the supervisors' snapshot directory (default: the config's supervisor.metrics_dir)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// write the text atomically to this file (node_exporter's textfile collector) instead of
    /// printing it
    #[arg(long)]
    pub textfile: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Intel {
    /// compile feeds into one index file (atomic replace; running containers pick it up)
    Compile {
        /// the index to write (default: the config's intel.index)
        #[arg(long)]
        out: Option<PathBuf>,
        /// feeds as PATH or NAME=PATH (default: the config's intel.feeds); one SHA-256 per
        /// line or MalwareBazaar CSV, detected per file
        feeds: Vec<String>,
    },
    /// print an index's counts and verify its checksum
    Stat {
        /// the index (default: the config's intel.index)
        index: Option<PathBuf>,
    },
    /// look a SHA-256 up (exit 1 when it is not listed)
    Lookup {
        /// the index (default: the config's intel.index)
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

/// runc's argument order rules on top of clap's: options may follow positional arguments (runc's
/// CLI library reorders them), except in `exec`, where everything after the container id is the
/// command (runc turns reordering off for exec), even words that look like scrun's options. This
/// puts a `--` after exec's container id so that clap sees the same.
pub fn runc_argv(mut args: Vec<String>) -> Vec<String> {
    let root = <Cli as clap::CommandFactory>::command();
    let Some(exec) = root.find_subcommand("exec") else {
        return args;
    };
    let takes_value = |arg: &str| -> bool {
        let all = root.get_arguments().chain(exec.get_arguments());
        if let Some(long) = arg.strip_prefix("--") {
            return !long.contains('=')
                && all
                    .filter(|a| a.get_long() == Some(long))
                    .any(|a| a.get_action().takes_values());
        }
        // A cluster of shorts (-dt, -e A=1, -eA=1): a value is pending when the last one takes it.
        let shorts: Vec<char> = arg.chars().skip(1).collect();
        let all: Vec<_> = all.collect();
        for (i, c) in shorts.iter().enumerate() {
            let value = all
                .iter()
                .any(|a| a.get_short() == Some(*c) && a.get_action().takes_values());
            if value {
                return i + 1 == shorts.len();
            }
        }
        false
    };
    let mut i = 1;
    let mut in_exec = false;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return args;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += if takes_value(a) { 2 } else { 1 };
            continue;
        }
        if !in_exec {
            if a != "exec" {
                return args;
            }
            in_exec = true;
            i += 1;
            continue;
        }
        // The container id.
        if i + 1 < args.len() {
            args.insert(i + 1, "--".to_string());
        }
        return args;
    }
    args
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

    fn parse_runc(args: &[&str]) -> Cli {
        let argv = runc_argv(args.iter().map(|s| s.to_string()).collect());
        Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    fn exec_of(cli: Cli) -> Exec {
        match cli.command {
            Some(Command::Exec(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_cap_in_every_spelling() {
        let e = exec_of(parse_runc(&[
            "scrun",
            "exec",
            "--cap",
            "CAP_KILL",
            "--cap=CAP_SYSLOG",
            "-c",
            "CHOWN",
            "c1",
            "true",
        ]));
        assert_eq!(e.cap, ["CAP_KILL", "CAP_SYSLOG", "CHOWN"]);
        assert_eq!(e.command, ["true"]);
    }

    #[test]
    fn exec_everything_after_the_id_is_the_command() {
        let e = exec_of(parse_runc(&[
            "scrun", "--root", "/r", "exec", "-e", "A=1", "--user", "1:2", "c1", "--env", "B=2",
            "ls", "-l", "--", "x",
        ]));
        assert_eq!(e.container_id, "c1");
        assert_eq!(e.env, [("A".to_string(), "1".to_string())]);
        assert_eq!(e.user, Some((1, Some(2))));
        assert_eq!(e.command, ["--env", "B=2", "ls", "-l", "--", "x"]);
        let e = exec_of(parse_runc(&["scrun", "exec", "-te", "A=1", "c1", "-t"]));
        assert!(e.tty);
        assert_eq!(e.command, ["-t"]);
        let e = exec_of(parse_runc(&[
            "scrun", "exec", "-p", "/p.json", "--detach", "c1",
        ]));
        assert!(e.command.is_empty() && e.detach);
        assert_eq!(e.process, Some(PathBuf::from("/p.json")));
    }

    #[test]
    fn options_after_positionals_outside_exec() {
        match parse_runc(&["scrun", "kill", "c1", "KILL", "--all"]).command {
            Some(Command::Kill(k)) => assert!(k.all && k.signal == "KILL"),
            other => panic!("{other:?}"),
        }
        match parse_runc(&["scrun", "delete", "c1", "--force"]).command {
            Some(Command::Delete(d)) => assert!(d.force),
            other => panic!("{other:?}"),
        }
    }

    /// Command lines as containerd (go-runc, rust-extensions' runc crate), Docker (through
    /// containerd), podman/conmon and CRI-O build them.
    #[test]
    fn every_callers_command_lines_parse() {
        let lines: &[&[&str]] = &[
            // containerd shim (global options of go-runc / rust-extensions' GlobalOpts)
            &[
                "scrun",
                "--root",
                "/r",
                "--debug",
                "--log",
                "/l",
                "--log-format",
                "json",
                "--systemd-cgroup",
                "--rootless=false",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/p",
                "--console-socket",
                "/s",
                "--no-pivot",
                "--no-new-keyring",
                "--preserve-fds",
                "2",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "--log-format",
                "json",
                "start",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "--log-format",
                "json",
                "exec",
                "--process",
                "/p.json",
                "--detach",
                "--pid-file",
                "/p",
                "--console-socket",
                "/s",
                "c1",
            ],
            &["scrun", "--root", "/r", "kill", "--all", "c1", "9"],
            &["scrun", "--root", "/r", "delete", "--force", "c1"],
            &["scrun", "--root", "/r", "state", "c1"],
            &["scrun", "--root", "/r", "pause", "c1"],
            &["scrun", "--root", "/r", "resume", "c1"],
            &["scrun", "--root", "/r", "ps", "--format", "json", "c1"],
            &["scrun", "--root", "/r", "update", "--resources", "-", "c1"],
            &["scrun", "--root", "/r", "events", "--interval", "5s", "c1"],
            &["scrun", "--root", "/r", "events", "--stats", "c1"],
            &[
                "scrun",
                "--root",
                "/r",
                "checkpoint",
                "--image-path",
                "/i",
                "--work-path",
                "/w",
                "--leave-running",
                "--tcp-established",
                "--ext-unix-sk",
                "--shell-job",
                "--file-locks",
                "--empty-ns",
                "network",
                "--manage-cgroups-mode",
                "soft",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "restore",
                "--bundle",
                "/b",
                "--image-path",
                "/i",
                "--work-path",
                "/w",
                "--detach",
                "--pid-file",
                "/p",
                "--no-pivot",
                "--console-socket",
                "/s",
                "c1",
            ],
            &["scrun", "features"],
            &["scrun", "--version"],
            // podman (conmon)
            &[
                "scrun",
                "--systemd-cgroup",
                "--root",
                "/r",
                "--log-format=json",
                "--log=/l",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/p",
                "--console-socket",
                "/s",
                "--preserve-fds",
                "1",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "exec",
                "--pid-file",
                "/p",
                "--process",
                "/p.json",
                "--detach",
                "--tty",
                "--console-socket",
                "/s",
                "--preserve-fds",
                "1",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "update",
                "--resources=/res.json",
                "c1",
            ],
            &["scrun", "--root", "/r", "kill", "c1", "15"],
            // CRI-O
            &[
                "scrun",
                "--root=/r",
                "--systemd-cgroup",
                "--log-format=json",
                "--log=/l",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/p",
                "c1",
            ],
            &[
                "scrun",
                "--root",
                "/r",
                "exec",
                "--pid-file",
                "/p",
                "--process",
                "/p.json",
                "c1",
            ],
            // runc's own short forms
            &[
                "scrun", "exec", "-t", "-e", "A=1", "-u", "0:0", "-g", "10", "--cwd", "/", "-c",
                "CAP_KILL", "c1", "sh",
            ],
            &[
                "scrun",
                "run",
                "-b",
                "/b",
                "-d",
                "--keep",
                "--no-subreaper",
                "c1",
            ],
            &["scrun", "list", "-q", "--format", "table"],
        ];
        for line in lines {
            let argv = runc_argv(line.iter().map(|s| s.to_string()).collect());
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!("{line:?}: {e}");
            }
        }
    }

    #[test]
    fn spec_has_its_own_rootless_flag() {
        for args in [
            &["scrun", "spec", "--rootless", "--bundle", "/b"][..],
            &["scrun", "spec", "-b", "/b", "--rootless"][..],
        ] {
            match parse(args).command {
                Some(Command::Spec(s)) => {
                    assert!(s.rootless);
                    assert_eq!(s.bundle, Some(PathBuf::from("/b")));
                }
                other => panic!("{other:?}"),
            }
        }
        match parse(&["scrun", "spec"]).command {
            Some(Command::Spec(s)) => assert!(!s.rootless && s.bundle.is_none()),
            other => panic!("{other:?}"),
        }
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
