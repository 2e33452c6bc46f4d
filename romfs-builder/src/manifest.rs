//! Manifest files: which host file goes where in the image.
//!
//! The format is described in the crate documentation. Parsing is kept
//! separate from applying so that syntax can be tested without files.

use std::fs;
use std::path::{Path, PathBuf};

use crate::builder::{BuildError, Tree};

/// One meaningful manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// 1-based line number, for error messages.
    pub line: usize,
    /// Path in the image.
    pub image_path: String,
    /// Host file or directory, as written (relative to the manifest's
    /// directory unless absolute); `None` declares an empty directory.
    pub host_path: Option<PathBuf>,
}

/// Splits manifest text into entries: blank lines and lines starting with
/// `#` are skipped; the first word is the image path, the rest of the line
/// (trimmed, so it may contain spaces) the host path.
pub fn parse_manifest(text: &str) -> Vec<ManifestEntry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let (image, host) = match line.split_once(char::is_whitespace) {
                Some((image, host)) => (image, Some(PathBuf::from(host.trim()))),
                None => (line, None),
            };
            Some(ManifestEntry {
                line: i + 1,
                image_path: image.to_string(),
                host_path: host,
            })
        })
        .collect()
}

/// Reads a manifest and builds the tree it describes. Every error names the
/// manifest and line it comes from.
pub fn tree_from_manifest(manifest: &Path) -> Result<Tree, BuildError> {
    let text = fs::read_to_string(manifest).map_err(|source| BuildError::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut tree = Tree::new();
    for entry in parse_manifest(&text) {
        let result = match &entry.host_path {
            None => tree.add_dir(&entry.image_path),
            Some(host) => tree.add_host_file(&entry.image_path, &base.join(host)),
        };
        result.map_err(|source| BuildError::Manifest {
            manifest: manifest.to_path_buf(),
            line: entry.line,
            source: Box::new(source),
        })?;
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_blanks_and_spaces() {
        let m = parse_manifest("# c\n\n  /bin/init   out/init \n/etc\n/a b c\n");
        assert_eq!(
            m,
            vec![
                ManifestEntry {
                    line: 3,
                    image_path: "/bin/init".into(),
                    host_path: Some("out/init".into())
                },
                ManifestEntry {
                    line: 4,
                    image_path: "/etc".into(),
                    host_path: None
                },
                ManifestEntry {
                    line: 5,
                    image_path: "/a".into(),
                    host_path: Some("b c".into())
                },
            ]
        );
    }
}
