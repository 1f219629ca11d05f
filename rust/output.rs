//! Every file ncnnq writes goes through here (models, weights, tables; from Rust and, through the
//! binding, from Python), so that writing never clobbers what is not ours:
//!
//! - A regular file or a new path is written to a temporary file in the target's folder, synced,
//!   and renamed over the target: a failure never leaves a half-written file. A new file's mode
//!   follows the umask (0644 under umask 022); an existing file keeps its mode and, when we may,
//!   its owner.
//! - A character or block device or a FIFO is written in place (`/dev/null` stays a device, as
//!   ncnn users expect when they drop an output there).
//! - A symlink is followed: its final target is what gets replaced, the link stays a link.
//! - [`check`] validates every output of a command (folder exists and is writable, not a folder,
//!   no two outputs the same file) before any long work starts; [`commit`] writes several files
//!   together or not at all: every temporary file is staged before the first rename, and a rename
//!   that fails puts back the files already replaced.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Symlinks followed before giving up (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// One output path, resolved and classified.
#[derive(Debug, Clone)]
pub struct Output {
    /// The path as the caller gave it (used in messages).
    pub requested: PathBuf,
    /// Where the bytes go: the requested path with every symlink followed.
    pub target: PathBuf,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No file there yet: written beside it and renamed into place.
    New,
    /// A regular file: replaced through a rename, keeping its mode (and owner).
    Replace { mode: u32, uid: u32, gid: u32 },
    /// A device or FIFO: written in place.
    InPlace { char_device: bool },
}

fn io_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Io { path: path.display().to_string(), message: message.into() }
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Follows symlinks until a path that is not one (or does not exist yet).
fn resolve(requested: &Path) -> Result<PathBuf> {
    let mut path = requested.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&path).map_err(|e| Error::io(requested, &e))?;
                path = if link.is_absolute() { link } else { folder_of(&path).join(link) };
            }
            Ok(_) => return Ok(path),
            // A missing file, or a path through a file: the folder check names the problem.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(path),
            Err(e) => return Err(Error::io(requested, &e)),
        }
    }
    Err(io_error(requested, "too many levels of symbolic links"))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a new, empty file beside `target` (`.<name>.ncnnq-<pid>-<n>`), mode per the umask.
fn create_beside(target: &Path, purpose: &str) -> std::io::Result<(PathBuf, File)> {
    let folder = folder_of(target);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = folder.join(format!(".{name}.ncnnq-{purpose}-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// Classifies one output and checks that it can be written, without changing anything.
fn check_one(requested: &Path) -> Result<Output> {
    if requested.as_os_str().is_empty() {
        return Err(io_error(requested, "empty output path"));
    }
    if requested.as_os_str().to_string_lossy().ends_with('/') {
        return Err(io_error(requested, "names a folder, not a file"));
    }
    let target = resolve(requested)?;
    if target.file_name().is_none() {
        return Err(io_error(requested, "is a folder, not a file name"));
    }
    let folder = folder_of(&target);
    match fs::metadata(&folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(io_error(requested, format!("{} is not a folder", folder.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(io_error(requested, format!("folder {} does not exist", folder.display())))
        }
        Err(e) => return Err(io_error(requested, format!("folder {}: {e}", folder.display()))),
    }
    let kind = match fs::metadata(&target) {
        Err(e) if e.kind() == ErrorKind::NotFound => Kind::New,
        Err(e) => return Err(Error::io(requested, &e)),
        Ok(m) => {
            let t = m.file_type();
            if t.is_dir() {
                return Err(io_error(requested, "is a folder"));
            } else if t.is_file() {
                // Opening for writing (without truncating) changes nothing; it refuses a file we
                // may not write, which ncnn's tools would refuse too.
                OpenOptions::new().write(true).open(&target).map_err(|e| Error::io(requested, &e))?;
                Kind::Replace { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid() }
            } else if t.is_char_device() || t.is_block_device() || t.is_fifo() {
                Kind::InPlace { char_device: t.is_char_device() }
            } else {
                return Err(io_error(requested, "is a socket or other special file that cannot be written"));
            }
        }
    };
    if !matches!(kind, Kind::InPlace { .. }) {
        // The folder must take a new file: the temporary file and the rename need that (this also
        // catches a read-only filesystem and a full inode table).
        let (probe, file) = create_beside(&target, "probe")
            .map_err(|e| io_error(requested, format!("cannot create files in {}: {e}", folder.display())))?;
        drop(file);
        let _ = fs::remove_file(probe);
    }
    Ok(Output { requested: requested.to_path_buf(), target, kind })
}

/// What makes two outputs the same file: the inode when it exists, else the real folder and name.
fn identity(output: &Output) -> Option<(u64, u64, PathBuf)> {
    if let Ok(m) = fs::metadata(&output.target) {
        return Some((m.dev(), m.ino(), PathBuf::new()));
    }
    let folder = fs::canonicalize(folder_of(&output.target)).ok()?;
    Some((0, 0, folder.join(output.target.file_name()?)))
}

/// Validates every output of one command before any work is done: each folder exists and takes
/// new files, no output is a folder or socket, and no two outputs are the same file (the same
/// character device, e.g. `/dev/null` twice, is allowed).
pub fn check(paths: &[&Path]) -> Result<Vec<Output>> {
    let outputs: Vec<Output> = paths.iter().map(|p| check_one(p)).collect::<Result<_>>()?;
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[..i] {
            if matches!((a.kind, b.kind), (Kind::InPlace { char_device: true }, Kind::InPlace { char_device: true })) {
                continue;
            }
            if identity(a).is_some() && identity(a) == identity(b) {
                return Err(io_error(
                    &a.requested,
                    format!("is the same file as the other output {}", b.requested.display()),
                ));
            }
        }
    }
    Ok(outputs)
}

/// A temporary file holding one output's complete content, ready to be renamed into place.
struct Staged {
    temp: PathBuf,
    output: Output,
}

fn stage(output: &Output, bytes: &[u8]) -> std::io::Result<Staged> {
    let (temp, mut file) = create_beside(&output.target, "tmp")?;
    let staged = Staged { temp, output: output.clone() };
    let written = (|| {
        file.write_all(bytes)?;
        if let Kind::Replace { mode, uid, gid } = output.kind {
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            let meta = file.metadata()?;
            if meta.uid() != uid || meta.gid() != gid {
                // Only root may give a file away; anyone else keeps owning the new file.
                let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
            }
        }
        file.sync_all()
    })();
    match written {
        Ok(()) => Ok(staged),
        Err(e) => {
            let _ = fs::remove_file(&staged.temp);
            Err(e)
        }
    }
}

fn write_in_place(output: &Output, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(&output.target)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Renames the staged files into place. When one rename fails, the files already replaced are
/// put back (from hard-link backups taken before the first rename) and new ones removed.
fn publish(staged: &[Staged]) -> Result<()> {
    let mut backups: Vec<Option<PathBuf>> = Vec::with_capacity(staged.len());
    for s in staged {
        let backup = match s.output.kind {
            Kind::Replace { .. } => create_beside(&s.output.target, "old").ok().and_then(|(path, _)| {
                let _ = fs::remove_file(&path);
                fs::hard_link(&s.output.target, &path).ok().map(|()| path)
            }),
            _ => None,
        };
        backups.push(backup);
    }
    let mut result = Ok(());
    let mut done = 0;
    for s in staged {
        if let Err(e) = fs::rename(&s.temp, &s.output.target) {
            result = Err(Error::io(&s.output.requested, &e));
            break;
        }
        done += 1;
    }
    if result.is_err() {
        for (s, backup) in staged[..done].iter().zip(&backups) {
            match backup {
                Some(b) => {
                    let _ = fs::rename(b, &s.output.target);
                }
                None if s.output.kind == Kind::New => {
                    let _ = fs::remove_file(&s.output.target);
                }
                None => {}
            }
        }
        for s in &staged[done..] {
            let _ = fs::remove_file(&s.temp);
        }
    }
    for b in backups.iter().flatten() {
        let _ = fs::remove_file(b);
    }
    if result.is_ok() {
        let mut folders: Vec<PathBuf> = staged.iter().map(|s| folder_of(&s.output.target)).collect();
        folders.dedup();
        for folder in folders {
            // The renames are durable once their folder is synced; failing to sync changes nothing.
            let _ = File::open(&folder).and_then(|f| f.sync_all());
        }
    }
    result
}

/// Writes every `(path, bytes)` together: all outputs are checked ([`check`]), then every
/// regular file is staged beside its target, devices and FIFOs are written in place, and only
/// then are the staged files renamed into place. Any failure before the renames leaves every
/// existing file as it was and no temporary file behind.
pub fn commit(files: &[(&Path, &[u8])]) -> Result<()> {
    let paths: Vec<&Path> = files.iter().map(|(p, _)| *p).collect();
    let outputs = check(&paths)?;
    let mut staged = Vec::new();
    let discard = |staged: &[Staged]| {
        for s in staged {
            let _ = fs::remove_file(&s.temp);
        }
    };
    for (output, (_, bytes)) in outputs.iter().zip(files) {
        if matches!(output.kind, Kind::InPlace { .. }) {
            continue;
        }
        match stage(output, bytes) {
            Ok(s) => staged.push(s),
            Err(e) => {
                discard(&staged);
                return Err(Error::io(&output.requested, &e));
            }
        }
    }
    for (output, (_, bytes)) in outputs.iter().zip(files) {
        if matches!(output.kind, Kind::InPlace { .. }) {
            if let Err(e) = write_in_place(output, bytes) {
                discard(&staged);
                return Err(Error::io(&output.requested, &e));
            }
        }
    }
    publish(&staged)
}

/// Writes one file (see [`commit`]).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    commit(&[(path, bytes)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ncnnq-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".ncnnq-"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn new_file_follows_umask_and_existing_file_keeps_its_mode() {
        let dir = scratch("mode");
        let new = dir.join("new.table");
        write_file(&new, b"a").unwrap();
        let probe = dir.join("probe");
        File::create(&probe).unwrap();
        let umask_mode = fs::metadata(&probe).unwrap().mode() & 0o777;
        assert_eq!(fs::metadata(&new).unwrap().mode() & 0o777, umask_mode);
        let old = dir.join("old.table");
        fs::write(&old, b"old").unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&old, b"new").unwrap();
        assert_eq!(fs::metadata(&old).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read(&old).unwrap(), b"new");
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn symlink_target_is_replaced_and_the_link_stays() {
        let dir = scratch("link");
        fs::create_dir(dir.join("real")).unwrap();
        fs::write(dir.join("real/t.table"), b"old").unwrap();
        symlink("real/t.table", dir.join("link.table")).unwrap();
        symlink("link.table", dir.join("link2.table")).unwrap();
        write_file(&dir.join("link2.table"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.join("link2.table")).unwrap().file_type().is_symlink());
        assert!(fs::symlink_metadata(dir.join("link.table")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(dir.join("real/t.table")).unwrap(), b"new");
        // A dangling link gets its target created.
        symlink("real/made.table", dir.join("dangling")).unwrap();
        write_file(&dir.join("dangling"), b"x").unwrap();
        assert_eq!(fs::read(dir.join("real/made.table")).unwrap(), b"x");
        assert!(leftovers(&dir).is_empty() && leftovers(&dir.join("real")).is_empty());
    }

    #[test]
    fn bad_outputs_are_refused_before_anything_is_written() {
        let dir = scratch("bad");
        let keep = dir.join("keep.param");
        fs::write(&keep, b"old").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        let cases: [(&Path, &str); 3] = [
            (&dir.join("sub"), "is a folder"),
            (&dir.join("missing/x.bin"), "does not exist"),
            (&dir.join("keep.param/x.bin"), "is not a folder"),
        ];
        for (bad, message) in cases {
            let e = commit(&[(&keep, b"new"), (bad, b"x")]).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
            assert_eq!(fs::read(&keep).unwrap(), b"old");
        }
        let e = commit(&[(&keep, b"a"), (&dir.join("./keep.param"), b"b")]).unwrap_err().to_string();
        assert!(e.contains("same file"), "{e}");
        symlink("keep.param", dir.join("alias")).unwrap();
        let e = commit(&[(&keep, b"a"), (&dir.join("alias"), b"b")]).unwrap_err().to_string();
        assert!(e.contains("same file"), "{e}");
        assert_eq!(fs::read(&keep).unwrap(), b"old");
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn a_failed_rename_puts_back_the_files_already_replaced() {
        let dir = scratch("rollback");
        let (a, b, c) = (dir.join("a.param"), dir.join("b.bin"), dir.join("c.table"));
        fs::write(&a, b"old a").unwrap();
        let outputs = check(&[&a, &b, &c]).unwrap();
        let staged: Vec<Staged> = outputs
            .iter()
            .zip([&b"new a"[..], b"new b", b"new c"])
            .map(|(o, bytes)| stage(o, bytes).unwrap())
            .collect();
        // Something takes the third name between the check and the rename.
        fs::create_dir(&c).unwrap();
        fs::write(c.join("inside"), b"busy").unwrap();
        assert!(publish(&staged).is_err());
        assert_eq!(fs::read(&a).unwrap(), b"old a");
        assert!(!b.exists());
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }
}
