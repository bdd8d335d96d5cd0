//! Beam search for the seq2seq fixer: every item's beams decoded together,
//! one decoder pass per output position over all live hypotheses.

use super::model::{padded_batch, padding_mask, Fixer, START};
use candle_core::{Result, Tensor};

/// One finished output.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Output ids, `<eos>` not included.
    pub ids: Vec<u32>,
    /// Sum of the token log-probabilities, `<eos>` included.
    pub log_prob: f32,
}

impl Hypothesis {
    /// The ranking score: log-probability per output token (`<eos>` counted),
    /// so that longer outputs are not penalised for their length alone.
    pub fn score(&self) -> f32 {
        self.log_prob / (self.ids.len() + 1) as f32
    }
}

/// Decodes every source (ids ending with `<eos>`) with `beam` beams for at
/// most `max_len` output tokens (`<eos>` included); returns up to `beam`
/// hypotheses per source, best first. `eos` ends a hypothesis, `pad` fills
/// short sources. Each step keeps `beam` open hypotheses; an item stops once
/// `beam` have ended and no open one scores better per token than the worst
/// of them; those still open at `max_len` end there, cut.
pub fn beam_search(model: &Fixer, sources: &[&[u32]], beam: usize, max_len: usize, eos: u32, pad: u32) -> Result<Vec<Vec<Hypothesis>>> {
    let beam = beam.max(1);
    let dev = model.device().clone();
    let source = padded_batch(sources, pad, &dev)?;
    let lengths: Vec<usize> = sources.iter().map(|s| s.len()).collect();
    let mask = padding_mask(&lengths, source.dim(1)?, &dev)?; // (b, 1, 1, m)
    let memory = model.encode(&source, &mask, false)?; // (b, m, d)
    let mut live: Vec<Vec<(Vec<u32>, f32)>> = vec![vec![(Vec::new(), 0.0)]; sources.len()];
    let mut finished: Vec<Vec<Hypothesis>> = vec![Vec::new(); sources.len()];
    for step in 0..max_len {
        let owners: Vec<(usize, usize)> =
            live.iter().enumerate().flat_map(|(item, beams)| (0..beams.len()).map(move |k| (item, k))).collect();
        if owners.is_empty() {
            break;
        }
        let prefixes: Vec<Vec<u32>> =
            owners.iter().map(|&(item, k)| std::iter::once(START).chain(live[item][k].0.iter().copied()).collect()).collect();
        let prefix = padded_batch(&prefixes.iter().map(Vec::as_slice).collect::<Vec<_>>(), pad, &dev)?; // (r, step + 1)
        let index = Tensor::from_vec(owners.iter().map(|&(item, _)| item as u32).collect::<Vec<_>>(), owners.len(), &dev)?;
        let (memory, mask) = (memory.index_select(&index, 0)?, mask.index_select(&index, 0)?);
        let hidden = model.decode_hidden(&prefix, &memory, &mask, false)?;
        // only the newest position is read out: (r, 1, d) -> (r, V)
        let last = hidden.narrow(1, step, 1)?.contiguous()?;
        let rows = Tensor::arange(0, owners.len() as u32, &dev)?;
        let log_probs = model.log_probs(&last, &memory, &source.index_select(&index, 0)?, &mask, &rows, false)?.to_vec2::<f32>()?;
        let mut next: Vec<Vec<(Vec<u32>, f32)>> = vec![Vec::new(); sources.len()];
        let mut row = 0;
        for (item, beams) in live.iter().enumerate() {
            // every live beam's `2 · beam` best continuations (enough that endings
            // cannot crowd out the open ones), ranked together
            let mut options: Vec<(f32, usize, u32)> = Vec::new();
            for (k, (_, score)) in beams.iter().enumerate() {
                let lp = &log_probs[row + k];
                options.extend(top_k(lp, 2 * beam).into_iter().map(|id| (score + lp[id as usize], k, id)));
            }
            row += beams.len();
            options.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            // the best `beam` continuations stay live; an ending among the best `beam`
            // options is a finished hypothesis (so a likely `<eos>` never takes a live slot)
            for (rank, (score, k, id)) in options.into_iter().enumerate() {
                let ids = &beams[k].0;
                if id == eos {
                    if rank < beam {
                        finished[item].push(Hypothesis { ids: ids.clone(), log_prob: score });
                    }
                } else if step + 1 < max_len {
                    if next[item].len() < beam {
                        next[item].push((ids.iter().copied().chain([id]).collect(), score));
                    }
                } else if rank < beam {
                    // out of length: the hypothesis ends here, cut (so every item gets its beams)
                    finished[item].push(Hypothesis { ids: ids.iter().copied().chain([id]).collect(), log_prob: score });
                }
            }
            // done once `beam` have ended and none still open scores better than the
            // worst of the best `beam` ended ones (per token, as they are ranked)
            if finished[item].len() >= beam {
                let mut ended: Vec<f32> = finished[item].iter().map(Hypothesis::score).collect();
                ended.sort_by(|a, b| b.total_cmp(a));
                let worst_kept = ended[beam - 1];
                let best_open = next[item].iter().map(|(ids, lp)| lp / (ids.len() + 1) as f32).fold(f32::NEG_INFINITY, f32::max);
                if best_open <= worst_kept {
                    next[item].clear();
                }
            }
        }
        live = next;
    }
    for hyps in &mut finished {
        hyps.sort_by(|a, b| b.score().total_cmp(&a.score()));
        hyps.truncate(beam);
    }
    Ok(finished)
}

/// Ids of the `k` largest values, largest first (ties: lower id first).
fn top_k(values: &[f32], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..values.len() as u32).collect();
    let k = k.min(ids.len());
    ids.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| values[b as usize].total_cmp(&values[a as usize]).then(a.cmp(&b)));
    ids.truncate(k);
    ids.sort_by(|&a, &b| values[b as usize].total_cmp(&values[a as usize]).then(a.cmp(&b)));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_sorted_and_deterministic() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, -1.0, 0.9], 3), vec![4, 1, 2]);
        assert_eq!(top_k(&[0.1, 0.2], 5), vec![1, 0]);
    }
}
