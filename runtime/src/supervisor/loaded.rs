//! Every file the kernel loads for one exec besides its target, each decided like an exec:
//! - each `#!` interpreter, level by level (the kernel follows at most
//!   [`elf::MAX_REWRITES`] of them), resolved in the caller's view as the kernel does
//!   (`open_exec` from the caller's root and cwd);
//! - the ELF program interpreter (`PT_INTERP`) of the image that finally runs;
//! - when the image is a loader by its content (`ET_DYN` without `PT_INTERP`, whatever its
//!   name or path), the ELF program it is asked to run; a shell given a script, the script.

use std::path::PathBuf;

use scrun_detect::attribution::{self, Runner};
use scrun_detect::event::Strings;
use scrun_kernel::elf::{self, Image};
use scrun_kernel::resolve::{self, Resolved, RootDir};
use scrun_kernel::view::View;

use super::decide::Via;

/// Per listener thread: what the kernel makes of recently exec'd files (`#!` script, ELF and its
/// interpreter), keyed by (dev, ino, size, mtime, ctime) so that a changed file is never
/// mistaken for the one seen.
pub struct ThreadCache {
    images: scrun_detect::bounded::Bounded<scrun_detect::FileKey, Option<Image>>,
    /// Per pid, the program a loader was asked to run (`ld.so ./bin`) and that was allowed: the
    /// loader then maps it executable itself, and that mapping (same pid, same file identity)
    /// is the exec already decided and reported, not a library load.
    operands: scrun_detect::bounded::Bounded<u32, scrun_detect::FileKey>,
}

impl Default for ThreadCache {
    fn default() -> Self {
        ThreadCache {
            images: scrun_detect::bounded::Bounded::new(4096),
            operands: scrun_detect::bounded::Bounded::new(1024),
        }
    }
}

impl ThreadCache {
    /// `pid` exec'd a loader that is to run `key`, and that was allowed.
    pub fn note_operand(&mut self, pid: u32, key: scrun_detect::FileKey) {
        self.operands.insert(pid, key);
    }

    /// Whether `key` is what `pid`'s loader was asked to run (see `note_operand`).
    pub fn is_operand(&mut self, pid: u32, key: &scrun_detect::FileKey) -> bool {
        self.operands.get(&pid).is_some_and(|k| k == *key)
    }

    /// What the kernel makes of the file's content (one read of its head and headers).
    pub fn image(&mut self, key: &scrun_detect::FileKey, r: &Resolved) -> Option<Image> {
        if let Some(v) = self.images.get(key) {
            return v;
        }
        let v = elf::inspect(r.readable().ok()?).ok();
        self.images.insert(*key, v.clone());
        v
    }

    /// The interpreter of a `#!` script, as its line names it.
    pub fn shebang(&mut self, key: &scrun_detect::FileKey, r: &Resolved) -> Option<String> {
        self.image(key, r)?.script_interpreter()
    }
}

/// The files to decide after `target` (which is already decided), with the path their caller
/// saw when it differs from the container path.
pub fn chain(
    view: &mut View<'_>,
    cache: &mut ThreadCache,
    pid: u32,
    target: &Resolved,
    requested: &[u8],
    argv: &mut dyn Strings,
) -> Vec<(Resolved, Option<PathBuf>, Via)> {
    let mut out: Vec<(Resolved, Option<PathBuf>, Via)> = Vec::new();
    let mut image = cache.image(&scrun_detect::FileKey::from_metadata(&target.meta), target);
    let mut levels = 0;
    loop {
        match image {
            Some(Image::Script { interpreter, .. }) => {
                if levels >= elf::MAX_REWRITES {
                    break; // the kernel fails this exec with ELOOP
                }
                levels += 1;
                // A missing interpreter fails the exec in the kernel too.
                let Some((file, caller)) = resolve_in(view, pid, &interpreter) else {
                    break;
                };
                image = cache.image(&scrun_detect::FileKey::from_metadata(&file.meta), &file);
                out.push((
                    file,
                    caller,
                    Via {
                        decided_by: Some("binfmt-script"),
                        ..Via::default()
                    },
                ));
            }
            Some(Image::Elf(e)) => {
                if let Some(interp) = &e.interp {
                    if let Some((file, caller)) = resolve_in(view, pid, interp) {
                        out.push((
                            file,
                            caller,
                            Via {
                                decided_by: Some("elf-interpreter"),
                                ..Via::default()
                            },
                        ));
                    }
                }
                // A loader (or a shell) exec'd directly: what it is asked to run.
                if levels == 0 {
                    if let Some((file, via)) =
                        indirect_target(view.root, pid, target, requested, argv, e.is_loader())
                    {
                        let (file, caller) = view.in_container(file);
                        out.push((file, caller, via));
                    }
                }
                break;
            }
            _ => {
                if levels == 0 {
                    if let Some((file, via)) =
                        indirect_target(view.root, pid, target, requested, argv, false)
                    {
                        let (file, caller) = view.in_container(file);
                        out.push((file, caller, via));
                    }
                }
                break;
            }
        }
    }
    out
}

/// An interpreter path resolved as `open_exec` would: from the caller's root, relative paths
/// from its cwd.
fn resolve_in(view: &mut View<'_>, pid: u32, path: &[u8]) -> Option<(Resolved, Option<PathBuf>)> {
    let file =
        resolve::resolve_exec_cached(view.root, pid, None, path, false, false, view.paths).ok()?;
    Some(view.in_container(file))
}

/// The file that really runs when the exec target is the dynamic loader (`ld.so ./bin`) or a
/// shell given a script (`sh ./script.sh`), resolved in the caller's root. `is_loader`: the
/// target is a loader by its content (scrun-kernel `elf`), whatever its name; a loader runs ELF
/// files only (a static-pie program given some other file is not one). Decided with the exec
/// rules, as the exec itself.
fn indirect_target(
    root: &RootDir,
    pid: u32,
    resolved: &Resolved,
    requested: &[u8],
    argv: &mut dyn Strings,
    is_loader: bool,
) -> Option<(Resolved, Via)> {
    let (target, runner) =
        attribution::indirect_target_as(&resolved.path, requested, argv, is_loader, |candidate| {
            let target = resolve::resolve_exec(root, pid, None, candidate, false, false).ok()?;
            target.meta.is_file().then_some(target)
        })?;
    if runner == Runner::Loader
        && !matches!(
            target.readable().ok().and_then(|f| elf::inspect(f).ok()),
            Some(Image::Elf(_))
        )
    {
        return None;
    }
    let runner_path = Some(resolved.path.display().to_string());
    let via = match runner {
        Runner::Loader => Via {
            loader: runner_path,
            rules: true,
            ..Via::default()
        },
        Runner::Shell => Via {
            interpreter: runner_path,
            rules: true,
            ..Via::default()
        },
    };
    Some((target, via))
}
