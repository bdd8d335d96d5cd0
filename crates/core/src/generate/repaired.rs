//! Generation followed by last-mile repair: every sample the language's
//! checker rejects goes through the model's own repair (error-localised,
//! iterated over rounds), and the chosen candidate replaces it where the
//! checker accepts that. A model trained mostly at low noise repairs better
//! than it generates from pure noise; the repaired samples say how far the
//! samples are from valid code (a bracket, a colon, an indentation), not
//! whether they mean anything, so the raw sample is kept beside each one.

use super::GenerateError;
use crate::progress::ProgressFn;
use crate::repair::{choose, Pooling, RepairConfig, Repairer};

/// One sample before and after repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairedSample {
    /// What the reverse process wrote.
    pub raw: String,
    /// The sample: `raw` where the checker accepts it or no candidate passes,
    /// else the chosen repair.
    pub text: String,
    /// Whether `text` is a repair of `raw` (not `raw` itself).
    pub repaired: bool,
}

/// `samples` with every one the repairer's checker rejects replaced by its
/// chosen repair (by `pooling`) where that passes the checker. Samples the
/// checker accepts are not run; progress is the repair's, over the rejected ones.
pub fn repair_samples(
    repairer: &Repairer,
    samples: Vec<String>,
    config: &RepairConfig,
    pooling: Pooling,
    progress: &mut ProgressFn,
) -> Result<Vec<RepairedSample>, GenerateError> {
    let lang = repairer.language();
    let rejected: Vec<usize> = (0..samples.len()).filter(|&i| lang.check(&samples[i]).is_err()).collect();
    let inputs: Vec<String> = rejected.iter().map(|&i| samples[i].clone()).collect();
    let results = repairer.repair_with_progress(&inputs, config, progress)?;
    let mut out: Vec<RepairedSample> = samples.into_iter().map(|raw| RepairedSample { text: raw.clone(), raw, repaired: false }).collect();
    for (&i, result) in rejected.iter().zip(&results) {
        let Ok(candidates) = result else { continue };
        if let Some(chosen) = choose(candidates, lang, pooling).filter(|c| c.valid && c.text != out[i].raw) {
            out[i].text = chosen.text.clone();
            out[i].repaired = true;
        }
    }
    Ok(out)
}
