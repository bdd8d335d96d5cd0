//! Restricted read-outs: cells of a batch decoded as the most probable of a
//! few allowed ids instead of the argmax over the vocabulary (windowed
//! rollout reads its windows out in one token family this way).

use candle_core::{Result, Tensor};

/// Cells of a batch whose read-out is restricted: each `(row, position,
/// allowed)` is decoded as the most probable of the `allowed` ids instead of
/// the argmax over the vocabulary (ties to the smaller id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestrictedReadout {
    /// `(row, position, allowed ids)`; positions past the batch's length are skipped.
    pub cells: Vec<(usize, usize, Vec<u32>)>,
}

impl RestrictedReadout {
    /// Rewrites the restricted cells of `tokens` from `logits: (b, n, V)`.
    pub(super) fn apply(&self, logits: &Tensor, tokens: &mut [Vec<u32>]) -> Result<()> {
        let (b, n, v) = logits.dims3()?;
        let cells: Vec<&(usize, usize, Vec<u32>)> = self.cells.iter().filter(|(r, p, _)| *r < b && *p < n).collect();
        if cells.is_empty() {
            return Ok(());
        }
        // only the restricted cells' scores leave the device
        let index: Vec<u32> = cells.iter().map(|(r, p, _)| (r * n + p) as u32).collect();
        let index = Tensor::from_vec(index, cells.len(), logits.device())?;
        let scores = logits.reshape((b * n, v))?.index_select(&index, 0)?.to_vec2::<f32>()?;
        for ((r, p, allowed), scores) in cells.into_iter().zip(scores) {
            let best =
                allowed
                    .iter()
                    .copied()
                    .filter(|&id| (id as usize) < v)
                    .reduce(|a, c| if scores[c as usize] > scores[a as usize] { c } else { a });
            if let Some(best) = best {
                tokens[*r][*p] = best;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restricted_readout_takes_the_best_allowed_token_of_its_cells_only() {
        // (b=2, n=3, V=4): the argmax is token 3 everywhere, then 2, 1, 0
        let row = [0.0f32, 1.0, 2.0, 3.0];
        let logits = Tensor::from_vec(row.repeat(6), (2, 3, 4), &candle_core::Device::Cpu).unwrap();
        let mut tokens = vec![vec![3u32; 3]; 2];
        let readout =
            RestrictedReadout { cells: vec![(0, 1, vec![0, 2]), (1, 2, vec![1]), (1, 0, vec![]), (0, 7, vec![0]), (5, 0, vec![0])] };
        readout.apply(&logits, &mut tokens).unwrap();
        // (0, 1): the better of 0 and 2; (1, 2): its only token; an empty cell and cells
        // outside the batch leave the argmax
        assert_eq!(tokens, vec![vec![3, 2, 3], vec![3, 3, 1]]);
    }
}
