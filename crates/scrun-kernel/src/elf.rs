//! What the kernel does with an exec'd file's first bytes: a `#!` script names an interpreter
//! (binfmt_script), an ELF image may name a program interpreter (`PT_INTERP`, the dynamic
//! loader). Read from the opened file itself (`pread`), bounded, never trusting a name.
//!
//! **Loader rule.** An ELF file is treated as a *loader* — a program that runs another ELF file
//! named on its command line — when it is `ET_DYN` and has no `PT_INTERP`: that is what every
//! dynamic loader is (glibc's `ld-linux*.so`, musl's `libc.so`), under any name or path, because
//! the kernel must be able to load it without an interpreter and anywhere in memory. Static-pie
//! programs have the same shape; for them the first operand is decided too, but only when it is
//! itself an ELF file (a loader can run nothing else), so the cost is a false *Executed* for
//! e.g. a static-pie `sha256sum` given a blocked binary as its first operand. A loader patched
//! into another shape (`ET_EXEC` cannot be loaded at an arbitrary address) or a custom userland
//! loader is not recognised by this rule: only supervision of executable mappings covers it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// binfmt_script reads this much of a script (`BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;
/// Rewrites of an exec (a script's interpreter, binfmt_misc) before the kernel gives up with
/// `ELOOP`: `exec_binprm` allows depths 0..=5, i.e. at most 5 interpreters after the file itself
/// ("4 levels of binfmt rewrites" in its comment plus the final image).
pub const MAX_REWRITES: usize = 5;
/// Program headers read at most (a loader has ~10; the kernel caps the table at 64 KiB).
const MAX_PHDR_BYTES: usize = 64 * 1024;

const PT_INTERP: u32 = 3;
const ET_DYN: u16 = 3;

/// What the kernel would make of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// `#!interpreter [arg]`: the kernel execs `interpreter` next.
    Script {
        interpreter: Vec<u8>,
        arg: Option<Vec<u8>>,
    },
    Elf(Elf),
    /// Neither (binfmt_misc, or the exec fails with ENOEXEC).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    pub e_type: u16,
    /// The `PT_INTERP` path, without its NUL.
    pub interp: Option<Vec<u8>>,
}

impl Elf {
    /// See the module doc: `ET_DYN` without `PT_INTERP`.
    pub fn is_loader(&self) -> bool {
        self.e_type == ET_DYN && self.interp.is_none()
    }
}

impl Image {
    /// The interpreter a `#!` script names, as text (for an event's `interpreter` field).
    pub fn script_interpreter(&self) -> Option<String> {
        match self {
            Image::Script { interpreter, .. } => {
                Some(String::from_utf8_lossy(interpreter).into_owned())
            }
            _ => None,
        }
    }
}

/// Reads the image type of an opened file.
pub fn inspect(file: &File) -> io::Result<Image> {
    // Zero-filled, as the kernel's `bprm->buf`: in a file shorter than the buffer, the NUL after
    // its last byte ends a `#!` line that has no newline.
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = read_full_at(file, &mut buf, 0)?;
    if n >= 2 && buf.starts_with(b"#!") {
        return Ok(
            parse_shebang(&buf[2..]).map_or(Image::Other, |(interpreter, arg)| Image::Script {
                interpreter,
                arg,
            }),
        );
    }
    match parse_elf(file, &buf[..n])? {
        Some(e) => Ok(Image::Elf(e)),
        None => Ok(Image::Other),
    }
}

/// binfmt_script's parse of the line after `#!`: leading blanks skipped, the interpreter up to
/// a blank, the rest of the line (trimmed) as one optional argument. A line cut by the 256-byte
/// buffer is accepted only if the interpreter name ends inside it, as the kernel does.
fn parse_shebang(rest: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let end = rest.iter().position(|c| *c == b'\n' || *c == 0);
    let line = &rest[..end.unwrap_or(rest.len())];
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = line.iter().position(|c| !blank(c))?;
    let line = &line[start..];
    let name_end = line.iter().position(blank).unwrap_or(line.len());
    if end.is_none() && name_end == line.len() {
        // The interpreter name may go on past the buffer: the kernel fails with ENOEXEC.
        return None;
    }
    let interpreter = line[..name_end].to_vec();
    let rest = &line[name_end..];
    let a = rest.iter().position(|c| !blank(c));
    let arg = a.map(|a| {
        let r = &rest[a..];
        let e = r.iter().rposition(|c| !blank(c)).map_or(0, |e| e + 1);
        r[..e].to_vec()
    });
    Some((interpreter, arg.filter(|a| !a.is_empty())))
}

fn read_full_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

struct Fields {
    le: bool,
    wide: bool,
}

impl Fields {
    fn u16(&self, b: &[u8], at: usize) -> Option<u16> {
        let v: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    }
    fn u32(&self, b: &[u8], at: usize) -> Option<u32> {
        let v: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        })
    }
    fn u64(&self, b: &[u8], at: usize) -> Option<u64> {
        let v: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        })
    }
    /// An address-sized field (8 bytes in ELF64, 4 in ELF32).
    fn word(&self, b: &[u8], at: usize) -> Option<u64> {
        if self.wide {
            self.u64(b, at)
        } else {
            self.u32(b, at).map(u64::from)
        }
    }
}

fn parse_elf(file: &File, head: &[u8]) -> io::Result<Option<Elf>> {
    if head.len() < 52 || &head[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let f = Fields {
        wide: head[4] == 2,
        le: head[5] != 2,
    };
    let bad = || Ok(None);
    let Some(e_type) = f.u16(head, 16) else {
        return bad();
    };
    let (phoff, phentsize, phnum) = if f.wide {
        (f.u64(head, 32), f.u16(head, 54), f.u16(head, 56))
    } else {
        (
            f.u32(head, 28).map(u64::from),
            f.u16(head, 42),
            f.u16(head, 44),
        )
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return bad();
    };
    let (phentsize, phnum) = (usize::from(phentsize), usize::from(phnum));
    let min = if f.wide { 56 } else { 32 };
    if phentsize < min || phentsize * phnum > MAX_PHDR_BYTES {
        return bad();
    }
    let mut table = vec![0u8; phentsize * phnum];
    let n = read_full_at(file, &mut table, phoff)?;
    table.truncate(n);
    let mut interp = None;
    for i in 0..phnum {
        let at = i * phentsize;
        let Some(p_type) = f.u32(&table, at) else {
            break;
        };
        if p_type != PT_INTERP {
            continue;
        }
        let (off, size) = if f.wide {
            (f.word(&table, at + 8), f.word(&table, at + 32))
        } else {
            (f.word(&table, at + 4), f.word(&table, at + 16))
        };
        let (Some(off), Some(size)) = (off, size) else {
            break;
        };
        // The kernel refuses an interpreter path over PATH_MAX or not NUL-terminated.
        if !(2..=4096).contains(&size) {
            return bad();
        }
        let mut buf = vec![0u8; size as usize];
        if read_full_at(file, &mut buf, off)? != buf.len() || buf.last() != Some(&0) {
            return bad();
        }
        buf.pop();
        if let Some(nul) = buf.iter().position(|c| *c == 0) {
            buf.truncate(nul);
        }
        interp = Some(buf);
        break;
    }
    Ok(Some(Elf { e_type, interp }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect_path(p: &str) -> Image {
        inspect(&File::open(p).unwrap()).unwrap()
    }

    #[test]
    fn shebang_lines_parse_like_binfmt_script() {
        assert_eq!(
            parse_shebang(b"/bin/sh\n"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            parse_shebang(b"  /usr/bin/env  python3 -u \nx"),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(parse_shebang(b"   \n"), None);
        assert_eq!(parse_shebang(b"\n/bin/sh"), None);
        assert_eq!(parse_shebang(b"/a/very/long/name/cut"), None);
        assert_eq!(
            parse_shebang(b"/bin/sh -e"),
            Some((b"/bin/sh".to_vec(), Some(b"-e".to_vec())))
        );
    }

    /// The kernel runs `#!/bin/echo` with no newline at the end of the file (its buffer is
    /// zero-filled); a longer line cut by the buffer inside the name it refuses.
    #[test]
    fn a_script_whose_line_has_no_newline_names_its_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, b"#!/bin/echo").unwrap();
        assert_eq!(
            inspect_path(short.to_str().unwrap()),
            Image::Script {
                interpreter: b"/bin/echo".to_vec(),
                arg: None
            }
        );
        let cut = dir.path().join("cut");
        let mut long = b"#!/".to_vec();
        long.extend(std::iter::repeat_n(b'a', BINPRM_BUF_SIZE));
        std::fs::write(&cut, long).unwrap();
        assert_eq!(inspect_path(cut.to_str().unwrap()), Image::Other);
    }

    #[test]
    fn the_system_loader_is_a_loader_and_programs_name_it() {
        let ld = std::fs::canonicalize("/lib64/ld-linux-x86-64.so.2").unwrap();
        match inspect_path(ld.to_str().unwrap()) {
            Image::Elf(e) => assert!(e.is_loader(), "{e:?}"),
            other => panic!("{other:?}"),
        }
        match inspect_path("/bin/ls") {
            Image::Elf(e) => {
                assert!(!e.is_loader());
                assert_eq!(
                    e.interp.as_deref(),
                    Some(&b"/lib64/ld-linux-x86-64.so.2"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_renamed_loader_copy_is_still_a_loader() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("innocent-name");
        std::fs::copy("/lib64/ld-linux-x86-64.so.2", &copy).unwrap();
        match inspect_path(copy.to_str().unwrap()) {
            Image::Elf(e) => assert!(e.is_loader()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_truncated_headers_are_other() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        let ls = std::fs::read("/bin/ls").unwrap();
        for cut in [0usize, 4, 20, 52, 64, 100, 400] {
            std::fs::write(&p, &ls[..cut.min(ls.len())]).unwrap();
            let r = inspect_path(p.to_str().unwrap());
            assert!(
                matches!(r, Image::Other | Image::Elf(Elf { interp: None, .. })),
                "{cut}: {r:?}"
            );
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rng = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        };
        for _ in 0..500 {
            let mut buf = b"\x7fELF\x02\x01".to_vec();
            buf.extend((0..200).map(|_| rng()));
            std::fs::write(&p, &buf).unwrap();
            let _ = inspect_path(p.to_str().unwrap());
        }
    }

    #[test]
    fn scripts_are_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"#!/vol/interp -x\necho\n").unwrap();
        assert_eq!(
            inspect_path(p.to_str().unwrap()),
            Image::Script {
                interpreter: b"/vol/interp".to_vec(),
                arg: Some(b"-x".to_vec())
            }
        );
    }
}
