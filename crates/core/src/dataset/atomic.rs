//! Atomic file operations: a reader never sees a half-written file, and a crash
//! leaves either the old file or the new one.

use super::DatasetError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// synced and then renamed over `path`.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(DatasetError::io(parent))?;
    }
    let tmp = temp_path(path);
    let mut file = fs::File::create(&tmp).map_err(DatasetError::io(&tmp))?;
    file.write_all(bytes).map_err(DatasetError::io(&tmp))?;
    file.sync_all().map_err(DatasetError::io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(DatasetError::io(path))
}

/// The staging directory of `target`, a hidden `.<name>.partial` sibling,
/// removed first if a crashed run left one: write everything there, then
/// [`replace_dir`] it over `target`.
pub fn staging_dir(target: &Path) -> Result<std::path::PathBuf, DatasetError> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let staging = target.with_file_name(format!(".{name}.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(DatasetError::io(&staging))?;
    }
    Ok(staging)
}

/// Replaces directory `target` by the finished directory `staged`: the old
/// target is moved aside first and removed only after the rename succeeded.
pub fn replace_dir(staged: &Path, target: &Path) -> Result<(), DatasetError> {
    let old = temp_path(target);
    if target.exists() {
        fs::rename(target, &old).map_err(DatasetError::io(target))?;
    }
    fs::rename(staged, target).map_err(DatasetError::io(target))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(DatasetError::io(&old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.json");
        write_file_atomic(&path, b"one").unwrap();
        write_file_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn replace_dir_swaps_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, target) = (dir.path().join("new"), dir.path().join("out"));
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("old.txt"), "x").unwrap();
        fs::create_dir_all(&staged).unwrap();
        fs::write(staged.join("new.txt"), "y").unwrap();
        replace_dir(&staged, &target).unwrap();
        assert!(target.join("new.txt").exists() && !target.join("old.txt").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
