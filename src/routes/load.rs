//! Finding and reading route files: `*.route`, `*.yaml` and `*.yml` in a
//! directory (not recursive, sorted by name, so the merge order is stable),
//! or files named one by one. `*.expect.yaml` files are route tests for
//! `yard test`, not routes.

use super::source::{SourceFile, Sources};
use std::io;
use std::path::{Path, PathBuf};

/// Whether a path names a route file.
pub fn is_route_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_expect_file(path) || name.starts_with('.') {
        return false;
    }
    name.ends_with(".route") || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Whether a path names a route test file (`*.expect.yaml`).
pub fn is_expect_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".expect.yaml") || name.ends_with(".expect.yml")
}

/// The route files of `paths`: directories are listed, files taken as given.
pub fn route_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_route_file(p))
                .collect();
            found.sort();
            out.extend(found);
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file or directory", path.display())));
        }
    }
    Ok(out)
}

/// Reads route files into [`Sources`], named as given (relative paths stay
/// relative, so diagnostics read `routes/main.route:3:7`).
pub fn read(paths: &[PathBuf]) -> io::Result<Sources> {
    let mut files = Vec::new();
    for path in route_files(paths)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        files.push(SourceFile::new(path.display().to_string(), text));
    }
    Ok(Sources::new(files))
}
