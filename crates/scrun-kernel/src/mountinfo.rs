//! One line of `/proc/<pid>/mountinfo` (proc(5)): the fields scrun reads, with the kernel's
//! octal escapes undone where it writes them. Never panics on malformed input.

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountLine<'a> {
    /// `major:minor` of the superblock (`st_dev` of its files).
    pub dev: &'a str,
    /// The directory of the filesystem mounted here (unescaped).
    pub root: Vec<u8>,
    /// Where it is mounted (unescaped).
    pub mountpoint: Vec<u8>,
    /// Per-mount options (`rw,noexec,...`).
    pub mount_options: &'a str,
    /// Filesystem type (unescaped).
    pub fstype: String,
    /// Per-superblock options ("" when the kernel wrote none).
    pub super_options: &'a str,
}

impl<'a> MountLine<'a> {
    /// Parses one line; `None` when it does not have mountinfo's shape.
    pub fn parse(line: &'a str) -> Option<Self> {
        let (left, right) = line.split_once(" - ")?;
        let f: Vec<&str> = left.split(' ').collect();
        let mut r = right.split(' ');
        let fstype = r.next()?;
        let _source = r.next()?;
        Some(MountLine {
            dev: f.get(2)?,
            root: unescape(f.get(3)?.as_bytes()),
            mountpoint: unescape(f.get(4)?.as_bytes()),
            mount_options: f.get(5)?,
            fstype: String::from_utf8_lossy(&unescape(fstype.as_bytes())).into_owned(),
            super_options: r.next().unwrap_or(""),
        })
    }

    /// The superblock's device number (`makedev(major, minor)`).
    pub fn device(&self) -> Option<u64> {
        let (major, minor) = self.dev.split_once(':')?;
        Some(libc::makedev(major.parse().ok()?, minor.parse().ok()?))
    }
}

/// Undoes the kernel's `\NNN` octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash, `\054` comma in options).
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && is_octal3(&s[i + 1..]) {
            let v = u32::from(s[i + 1] - b'0') * 64
                + u32::from(s[i + 2] - b'0') * 8
                + u32::from(s[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn is_octal3(s: &[u8]) -> bool {
    s.len() >= 3 && s[..3].iter().all(|c| (b'0'..=b'7').contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_parses_with_escapes() {
        let l = MountLine::parse(
            "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(l.dev, "98:0");
        assert_eq!(l.device(), Some(libc::makedev(98, 0)));
        assert_eq!(l.root, b"/mnt1");
        assert_eq!(l.mountpoint, b"/mnt 2");
        assert_eq!(l.mount_options, "rw,noatime");
        assert_eq!(l.fstype, "ext3");
        assert_eq!(l.super_options, "rw,errors=continue");
        assert_eq!(MountLine::parse("garbage"), None);
        assert_eq!(MountLine::parse("1 2 3 - x"), None);
        assert_eq!(unescape(b"a\\134b\\999"), b"a\\b\\999");
    }
}
