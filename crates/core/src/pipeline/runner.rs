//! Running a pipeline: for each stage in order, its key, the cache check, the
//! removal of stale outputs under a new key, the stage itself (through a
//! dispatch callback: the library never parses or runs command lines), the
//! check that it wrote what it declared, and its record.

use super::{begin_stage, is_fresh, stage_key, write_record, Pipeline, PipelineError, Stage, StageRecord};
use crate::io_error::IoError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which stages run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stages rerun even if cached (`all` for every stage).
    pub force: Vec<String>,
    /// Only report what would run.
    pub dry_run: bool,
    /// Stop after this stage.
    pub until: Option<String>,
}

/// What the runner reports as it goes.
#[derive(Debug)]
pub enum StageEvent<'a> {
    /// A dry run: the stage would run (`false`) or is cached (`true`).
    Planned {
        /// The stage.
        stage: &'a Stage,
        /// Whether it is cached.
        cached: bool,
    },
    /// The stage is cached and skipped.
    Cached {
        /// The stage.
        stage: &'a Stage,
        /// Its key.
        key: &'a str,
    },
    /// The stage starts.
    Started(&'a Stage),
    /// The stage finished in `seconds`.
    Finished {
        /// The stage.
        stage: &'a Stage,
        /// Its wall-clock time.
        seconds: f64,
    },
}

/// Runs the stages of `pipeline` (read from `file`) under `root`. `dispatch`
/// runs one stage's command line and says why it failed, if it did.
pub fn run_pipeline(
    pipeline: &Pipeline,
    file: &Path,
    root: &Path,
    options: &RunOptions,
    dispatch: &mut dyn FnMut(&Stage) -> Result<(), String>,
    on_event: &mut dyn FnMut(StageEvent<'_>),
) -> Result<(), PipelineError> {
    let invalid = |reason: String| PipelineError::Invalid { path: file.to_path_buf(), reason };
    for name in options.force.iter().chain(&options.until).filter(|n| *n != "all") {
        if !pipeline.stages.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(invalid(format!("no stage `{name}` (stages: {})", known.join(", "))));
        }
    }
    let state = pipeline.state_dir(root);
    let mut produced: HashMap<PathBuf, String> = HashMap::new();
    let last = match &options.until {
        Some(until) => pipeline.stages.iter().position(|s| &s.name == until).unwrap_or(0),
        None => pipeline.stages.len() - 1,
    };
    for stage in &pipeline.stages[..=last] {
        let key = stage_key(stage, root, &produced)?;
        let forced = options.force.iter().any(|f| f == "all" || f == &stage.name);
        let fresh = !forced && is_fresh(stage, &key, root, &state);
        for out in &stage.outputs {
            produced.insert(out.clone(), key.clone());
        }
        if options.dry_run {
            on_event(StageEvent::Planned { stage, cached: fresh });
            continue;
        }
        if fresh {
            on_event(StageEvent::Cached { stage, key: &key });
            continue;
        }
        on_event(StageEvent::Started(stage));
        // A stage rerun under the same key continues (a crashed pretrain
        // resumes, a rollout skips finished units); under a new key its old
        // outputs go first, so nothing of another config is continued.
        if begin_stage(&state, &stage.name, &key)? {
            for out in &stage.outputs {
                let path = root.join(out);
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else if path.exists() {
                    std::fs::remove_file(&path)
                } else {
                    Ok(())
                };
                removed.map_err(IoError::at(path.clone()))?;
            }
        }
        let clock = Instant::now();
        dispatch(stage).map_err(|reason| invalid(format!("stage `{}` failed: {reason}", stage.name)))?;
        for out in &stage.outputs {
            if !root.join(out).exists() {
                return Err(invalid(format!("stage `{}` finished but did not write its declared output {}", stage.name, out.display())));
            }
        }
        let seconds = clock.elapsed().as_secs_f64();
        write_record(&state, &stage.name, &StageRecord { key, seconds })?;
        on_event(StageEvent::Finished { stage, seconds });
    }
    Ok(())
}
