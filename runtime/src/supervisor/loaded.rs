//! Every file the kernel loads for one exec besides its target, each decided like an exec:
//! - each `#!` interpreter, level by level (the kernel follows at most
//!   [`elf::MAX_REWRITES`] of them), resolved in the caller's view as the kernel does
//!   (`open_exec` from the caller's root and cwd);
//! - the ELF program interpreter (`PT_INTERP`) of the image that finally runs;
//! - when the image is a loader by its content (`ET_DYN` without `PT_INTERP`, whatever its
//!   name or path), the ELF program it is asked to run; a shell given a script, the script.

use std::path::PathBuf;

use scrun_kernel::elf::{self, Image};
use scrun_kernel::resolve::{self, Resolved};
use scrun_kernel::view::View;

use super::worker::{LazyStrings, ThreadCache, Via, indirect_target};

/// The files to decide after `target` (which is already decided), with the path their caller
/// saw when it differs from the container path.
pub fn chain(
    view: &mut View<'_>,
    cache: &mut ThreadCache,
    pid: u32,
    target: &Resolved,
    requested: &[u8],
    argv: &mut LazyStrings<'_>,
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
