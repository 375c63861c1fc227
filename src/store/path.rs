//! Manifest paths (DESIGN §2): the one place that turns a path written in a manifest
//! into a file of the run.
//!
//! A manifest path is either one plain file name (`checkpoint-7.pth.tar`, in the run
//! directory) or `trash/<one dir>/<one name>` (under `.ckpt/trash/`). It is split on
//! `/` and every component is checked as written: `Path::components` would silently
//! drop `.` and repeated slashes, and stripping a `trash/` prefix off the text would
//! let `trash/../../x` through. After joining, the joined path is checked again: it
//! must be the base directory plus exactly the checked components.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Why a manifest path is refused. The text says what is wrong; callers that need to
/// act on the kind match the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("empty path")]
    Empty,
    #[error("path {0:?} contains NUL")]
    Nul(String),
    #[error("absolute path {0:?}")]
    Absolute(String),
    /// An empty, `.` or `..` component (`a//b`, `./a`, `trash/../x`).
    #[error("path {0:?} leaves the run (\"..\", \".\" or a root)")]
    BadComponent(String),
    /// Not `name` and not `trash/<dir>/<name>`.
    #[error("path {0:?} is not a file of the run (only trash/… may have a directory)")]
    WrongShape(String),
    /// The joined path is not the base plus the checked components (cannot happen for
    /// a path that passed the component checks; kept as a second line of defence).
    #[error("path {0:?} does not stay inside the run once joined")]
    Escapes(String),
    /// A component on disk is a symlink (or a directory on the way is not a directory):
    /// following it could lead out of the run, so it is never followed.
    #[error("{0} is a symlink or not a directory; ckpt does not follow it out of the run")]
    NotFollowed(String),
}

/// A checked manifest path, borrowing its components from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestPath<'a> {
    /// A plain file name in the run directory.
    Live { name: &'a str },
    /// A file in one archive directory under `.ckpt/trash/`.
    Trashed { dir: &'a str, name: &'a str },
}

/// One component as written: non-empty, not `.` or `..`, no `/` (split on it) or NUL.
fn plain(c: &str) -> bool {
    !c.is_empty() && c != "." && c != ".." && !c.contains('\0')
}

impl<'a> ManifestPath<'a> {
    /// Check the text of a manifest path (see the module doc).
    pub fn parse(text: &'a str) -> Result<ManifestPath<'a>, BadPath> {
        let own = || text.to_string();
        if text.is_empty() {
            return Err(BadPath::Empty);
        }
        if text.contains('\0') {
            return Err(BadPath::Nul(own()));
        }
        if text.starts_with('/') {
            return Err(BadPath::Absolute(own()));
        }
        let parts: Vec<&str> = text.split('/').collect();
        if !parts.iter().all(|c| plain(c)) {
            return Err(BadPath::BadComponent(own()));
        }
        match parts.as_slice() {
            [name] => Ok(ManifestPath::Live { name }),
            ["trash", dir, name] => Ok(ManifestPath::Trashed { dir, name }),
            _ => Err(BadPath::WrongShape(own())),
        }
    }

    /// True for an entry archived under `.ckpt/trash/`.
    pub(crate) fn is_trashed(self) -> bool {
        matches!(self, ManifestPath::Trashed { .. })
    }

    /// Where the file lives under `run`, joined and then checked component by component,
    /// on disk too: no component below `run` may be a symlink ([`BadPath::NotFollowed`]).
    pub(crate) fn on_disk(self, run: &Path) -> Result<PathBuf, BadPath> {
        let (base, parts): (PathBuf, Vec<&str>) = match self {
            ManifestPath::Live { name } => (run.to_path_buf(), vec![name]),
            ManifestPath::Trashed { dir, name } => (super::trash_dir(run), vec![dir, name]),
        };
        let joined = parts.iter().fold(base.clone(), |p, c| p.join(c));
        let escapes = || BadPath::Escapes(self.to_string());
        let rest = joined.strip_prefix(&base).map_err(|_| escapes())?;
        let comps: Vec<Component> = rest.components().collect();
        let same = comps.len() == parts.len()
            && comps
                .iter()
                .zip(&parts)
                .all(|(c, p)| matches!(c, Component::Normal(n) if *n == std::ffi::OsStr::new(p)));
        if !same {
            return Err(escapes());
        }
        // On disk: `.ckpt`, `.ckpt/trash`, the archive directory and the file itself
        // must not be symlinks (a run unpacked from someone's tarball may hold them).
        let chain: &[&str] = match self {
            ManifestPath::Live { name } => &[name][..],
            ManifestPath::Trashed { dir, name } => &[".ckpt", "trash", dir, name][..],
        };
        let mut p = run.to_path_buf();
        for (i, c) in chain.iter().enumerate() {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                // Missing: nothing below it exists either.
                Err(_) => break,
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(BadPath::NotFollowed(p.display().to_string()))
                }
                Ok(md) if i + 1 < chain.len() && !md.is_dir() => {
                    return Err(BadPath::NotFollowed(p.display().to_string()))
                }
                Ok(_) => {}
            }
        }
        Ok(joined)
    }
}

impl fmt::Display for ManifestPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestPath::Live { name } => f.write_str(name),
            ManifestPath::Trashed { dir, name } => write!(f, "trash/{dir}/{name}"),
        }
    }
}

/// Check a manifest path's text (see [`ManifestPath::parse`]).
pub fn check_rel_path(text: &str) -> Result<(), BadPath> {
    ManifestPath::parse(text).map(|_| ())
}

/// Where a manifest path lives on disk under `run`: a plain name in the run directory,
/// `trash/<dir>/<name>` under `.ckpt/trash/`. Refuses anything else.
pub fn resolve(run: &Path, text: &str) -> Result<PathBuf, BadPath> {
    ManifestPath::parse(text)?.on_disk(run)
}

/// True for a manifest path of an archived entry (`trash/<dir>/<name>`), judged by its
/// checked components.
pub(crate) fn is_trashed(text: &str) -> bool {
    ManifestPath::parse(text).is_ok_and(ManifestPath::is_trashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_and_trash_entries_are_accepted() {
        assert_eq!(
            ManifestPath::parse("checkpoint-1.pth.tar"),
            Ok(ManifestPath::Live {
                name: "checkpoint-1.pth.tar"
            })
        );
        assert_eq!(
            ManifestPath::parse("trash/20261129T080000Z/checkpoint-1.pt"),
            Ok(ManifestPath::Trashed {
                dir: "20261129T080000Z",
                name: "checkpoint-1.pt"
            })
        );
        // Dots inside a name are fine; only whole `.`/`..` components are not.
        assert!(check_rel_path("..checkpoint").is_ok());
        assert!(check_rel_path("trash/a/.hidden").is_ok());
    }

    #[test]
    fn everything_else_is_refused_with_its_kind() {
        use BadPath::*;
        type Kind = fn(String) -> BadPath;
        let cases: &[(&str, Kind)] = &[
            ("/etc/passwd", Absolute),
            ("../x", BadComponent),
            ("./x", BadComponent),
            ("x/.", BadComponent),
            ("trash/../../x", BadComponent),
            ("trash/a/..", BadComponent),
            ("trash//x", BadComponent),
            ("trash/a//x", BadComponent),
            ("x/", BadComponent),
            ("a/b", WrongShape),
            ("trash/x", WrongShape),
            ("trash/a/b/c", WrongShape),
            ("notrash/a/b", WrongShape),
            ("a\0b", Nul),
        ];
        for (text, kind) in cases {
            assert_eq!(
                check_rel_path(text),
                Err(kind(text.to_string())),
                "{text:?}"
            );
        }
        assert_eq!(check_rel_path(""), Err(Empty));
    }

    #[test]
    fn joins_stay_inside_their_base() {
        let run = Path::new("/runs/r1");
        assert_eq!(
            resolve(run, "checkpoint-3.pt"),
            Ok(PathBuf::from("/runs/r1/checkpoint-3.pt"))
        );
        assert_eq!(
            resolve(run, "trash/t1/checkpoint-3.pt"),
            Ok(PathBuf::from("/runs/r1/.ckpt/trash/t1/checkpoint-3.pt"))
        );
        assert!(resolve(run, "trash/../manifest.json").is_err());
        // A relative run directory works the same way.
        assert_eq!(resolve(Path::new("r"), "x.pt"), Ok(PathBuf::from("r/x.pt")));
        assert!(is_trashed("trash/t/x.pt"));
        assert!(!is_trashed("trash.pt"));
        assert!(!is_trashed("trash/../x"));
    }
}
