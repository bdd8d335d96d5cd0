//! Handing a small token from rank 0 to every other rank through a file that
//! all of them see: how NCCL's 128-byte unique id travels when no MPI
//! communicator exists (`torchrun`-style launches, or a build without `mpi`).
//!
//! Rank 0 writes the file atomically ([`crate::dataset::write_file_atomic`]),
//! so a reader never sees half a token. A file left by an earlier run is never
//! taken for this run's: the token is stamped with the launch's identity (the
//! launcher's run id, port and job id, where it sets them), and a reader takes
//! only a file written after it started, less a clock-skew allowance.

use super::DistError;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Where the token goes unless `LASTMILE_RENDEZVOUS_FILE` says otherwise.
pub const FILE_VARIABLE: &str = "LASTMILE_RENDEZVOUS_FILE";
/// How long other ranks wait for rank 0's file (`LASTMILE_RENDEZVOUS_TIMEOUT_S`).
pub const TIMEOUT_VARIABLE: &str = "LASTMILE_RENDEZVOUS_TIMEOUT_S";
/// Variables that identify one launch: a file stamped with other values is stale.
const LAUNCH_IDENTITY: [&str; 6] =
    ["TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "MASTER_ADDR", "MASTER_PORT", "SLURM_JOB_ID", "SLURM_STEP_ID"];
/// How far the writer's clock may lag a reader's (files on a shared filesystem
/// carry the file server's or the writer's time).
const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// A file through which rank 0 hands a token to the other ranks.
#[derive(Debug, Clone)]
pub struct FileRendezvous {
    path: PathBuf,
    stamp: String,
    timeout: Duration,
}

impl FileRendezvous {
    /// The rendezvous for this launch: `default_path` unless the environment
    /// names another file, stamped with the launch's identity. `env` reads a
    /// variable (tests pass a map).
    pub fn from_environment(default_path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, DistError> {
        let path = env(FILE_VARIABLE).map_or_else(|| default_path.to_path_buf(), PathBuf::from);
        let timeout = match env(TIMEOUT_VARIABLE) {
            Some(value) => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| DistError::Launcher(format!("{TIMEOUT_VARIABLE}={value:?} is not a positive number of seconds")))?,
            None => Duration::from_secs(300),
        };
        let stamp = LAUNCH_IDENTITY.iter().map(|name| format!("{name}={}", env(name).unwrap_or_default())).collect::<Vec<_>>().join(";");
        Ok(FileRendezvous { path, stamp, timeout })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rank 0: writes `token` for the others (atomically).
    pub fn publish(&self, token: &[u8]) -> Result<(), DistError> {
        let body = format!("{}\n{}\n", self.stamp, hex::encode(token));
        crate::dataset::write_file_atomic(&self.path, body.as_bytes()).map_err(|e| self.error(format!("cannot write it: {e}")))
    }

    /// Every other rank: waits for the token rank 0 publishes for this launch,
    /// ignoring a file older than `started` (less the clock-skew allowance) or
    /// stamped by another launch, and fails after the timeout.
    pub fn wait(&self, started: SystemTime) -> Result<Vec<u8>, DistError> {
        let not_before = started.checked_sub(CLOCK_SKEW).unwrap_or(SystemTime::UNIX_EPOCH);
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            if let Some(token) = self.read_fresh(not_before)? {
                return Ok(token);
            }
            if std::time::Instant::now() >= deadline {
                return Err(self.error(format!(
                    "rank 0 wrote no token for this launch within {:.0}s (is the path on a filesystem every rank sees? \
                     {FILE_VARIABLE} names another, {TIMEOUT_VARIABLE} waits longer)",
                    self.timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Rank 0, once every rank holds the token: removes the file.
    pub fn remove(&self) {
        // a file left behind is harmless: the next launch ignores it as stale
        let _ = std::fs::remove_file(&self.path);
    }

    fn read_fresh(&self, not_before: SystemTime) -> Result<Option<Vec<u8>>, DistError> {
        let Ok(meta) = std::fs::metadata(&self.path) else { return Ok(None) };
        if meta.modified().is_ok_and(|m| m < not_before) {
            return Ok(None);
        }
        let Ok(body) = std::fs::read_to_string(&self.path) else { return Ok(None) };
        let mut lines = body.lines();
        match (lines.next(), lines.next()) {
            (Some(stamp), Some(token)) if stamp == self.stamp => {
                hex::decode(token.trim()).map(Some).map_err(|e| self.error(format!("line 2 is not a hex token: {e}")))
            }
            _ => Ok(None),
        }
    }

    fn error(&self, reason: String) -> DistError {
        DistError::Backend { backend: "rendezvous", reason: format!("{}: {reason}", self.path.display()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rendezvous(dir: &Path, vars: &[(&str, &str)]) -> FileRendezvous {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        FileRendezvous::from_environment(&dir.join("id"), |name| map.get(name).cloned()).unwrap()
    }

    #[test]
    fn a_token_published_by_rank_0_reaches_a_rank_already_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let root = rendezvous(dir.path(), &[("MASTER_PORT", "29500")]);
        let other = rendezvous(dir.path(), &[("MASTER_PORT", "29500")]);
        let started = SystemTime::now();
        let waiter = std::thread::spawn(move || other.wait(started));
        std::thread::sleep(Duration::from_millis(120));
        let token: Vec<u8> = (0..128u8).collect();
        root.publish(&token).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), token);
        root.remove();
        assert!(!dir.path().join("id").exists());
    }

    #[test]
    fn a_file_from_another_launch_is_never_taken() {
        let dir = tempfile::tempdir().unwrap();
        rendezvous(dir.path(), &[("MASTER_PORT", "29500")]).publish(&[1, 2, 3]).unwrap();
        let other = rendezvous(dir.path(), &[("MASTER_PORT", "29501"), (TIMEOUT_VARIABLE, "0.2")]);
        let err = other.wait(SystemTime::now()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().join("id").display().to_string()) && err.contains("within"), "{err}");
        // the same launch, but a file older than the rank's start (less the skew): stale too
        let same = rendezvous(dir.path(), &[("MASTER_PORT", "29500"), (TIMEOUT_VARIABLE, "0.2")]);
        assert!(same.wait(SystemTime::now() + Duration::from_secs(120)).is_err());
        assert_eq!(same.wait(SystemTime::now()).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn bad_settings_and_bad_files_are_errors_that_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let bad = FileRendezvous::from_environment(&dir.path().join("id"), |name| (name == TIMEOUT_VARIABLE).then(|| "soon".into()));
        assert!(bad.unwrap_err().to_string().contains("LASTMILE_RENDEZVOUS_TIMEOUT_S=\"soon\""));
        let named = dir.path().join("elsewhere");
        let moved =
            FileRendezvous::from_environment(&dir.path().join("id"), |name| (name == FILE_VARIABLE).then(|| named.display().to_string()))
                .unwrap();
        assert_eq!(moved.path(), named);
        let r = rendezvous(dir.path(), &[]);
        std::fs::write(r.path(), format!("{}\nnot hex\n", r.stamp)).unwrap();
        assert!(r.wait(SystemTime::now()).unwrap_err().to_string().contains("line 2"));
    }
}
