//! Ranked pooling with the shipped Excel model (`models/excel`) on real
//! benchmark mistakes: where most chains agreed on a checker-valid rewrite of
//! what the user wrote, the smallest sensible edit still comes first; the
//! default method repairs formulas typed with `;` between arguments; and the
//! paper's method read out under the checker appends a missing bracket.

#[path = "common/repo_file.rs"]
mod repo_file;

use candle_core::Device;
use lastmile::diffusion::{SamplerConfig, Update};
use lastmile::lang::edit::token_edit_distance;
use lastmile::lang::LangId;
use lastmile::repair::{choose, plausibility, Candidate, Localise, Plausibility, Pooling, RepairConfig, Repairer, WholeReadout};

#[test]
fn the_shipped_model_ranks_the_smallest_sensible_edit_first() {
    let loaded = lastmile::checkpoint::load(&repo_file::repo_file("models/excel"), &Device::Cpu).unwrap();
    let excel = LangId::Excel.language();
    // (broken, (fix, chains that wrote it), (the read-out most chains wrote, chains)):
    // what the default method's chains wrote for these benchmark items
    let cases = [
        (
            "=IF(C4='Sheet1'!$B$6),COUNT(Z$1:Z1)+1,\"\")",
            ("=IF(C4='Sheet1'!$B$6,COUNT(Z$1:Z1)+1,\"\")", 2),
            ("=IF(C4='Sheet1'!$B$6<$COUNT(Z$1:Z1)+1,\"\")", 4),
        ),
        (
            "=IF(C4=\"\",\"\",MAX(D$1:D3;B$1:B4)+1)",
            ("=IF(C4=\"\",\"\",MAX(D$1:D3,B$1:B4)+1)", 2),
            ("=IF(C4=\"\",\"\",MAX(D$1:D3 -B$1:B4)+1)", 2),
        ),
        ("=WEEKDAY(B$1, 1)>", ("=WEEKDAY(B$1, 1)", 4), ("=WEEKDAY(B$1, 1)>10", 7)),
    ];
    for (broken, (fix, fix_votes), (rewrite, rewrite_votes)) in cases {
        assert!(excel.check(broken).is_err() && excel.check(fix).is_ok() && excel.check(rewrite).is_ok(), "{broken}");
        let scores = plausibility(&loaded.model, &loaded.tokenizer, &[fix, rewrite], &Plausibility::default(), 8).unwrap();
        let candidates: Vec<Candidate> = [(fix, fix_votes, scores[0]), (rewrite, rewrite_votes, scores[1])]
            .into_iter()
            .flat_map(|(text, votes, score)| {
                (0..votes).map(move |sample| Candidate {
                    level: 0.3,
                    sample,
                    text: text.to_string(),
                    valid: true,
                    token_edit_distance: token_edit_distance(excel, broken, text),
                    plausibility: score,
                    preferred: false,
                })
            })
            .collect();
        if rewrite_votes > fix_votes {
            assert_eq!(choose(&candidates, excel, Pooling::Guided).unwrap().text, rewrite, "the vote alone");
        }
        assert_eq!(choose(&candidates, excel, Pooling::Ranked).unwrap().text, fix, "{broken}: plausibility {scores:?}");
    }
}

#[test]
fn the_default_method_repairs_a_separator_slip_made_throughout_a_formula() {
    let loaded = lastmile::checkpoint::load(&repo_file::repo_file("models/excel"), &Device::Cpu).unwrap();
    let excel = LangId::Excel.language();
    // `lastmile repair --lang excel`'s defaults
    let config = RepairConfig {
        levels: vec![0.1, 0.3, 0.6, 1.0],
        samples: 1,
        sampler: SamplerConfig { steps: None, stride: Some(60), clamp: true, update: Update::Ddpm, likelihood: 0.0 },
        batch_size: 64,
        seed: 0,
        localise: Some(Localise { radii: vec![0, 1, 2], constrained: true, ..Localise::default() }),
        rank: Some(Plausibility::default()),
        constrained: None,
    };
    let inputs = ["=IF(B3>10;1;0)".to_string(), "=IF(A1>0;SUM(B1;B2);0)".to_string()];
    let fixes = ["=IF(B3>10,1,0)", "=IF(A1>0,SUM(B1,B2),0)"];
    let out = Repairer::new(&loaded.model, &loaded.tokenizer, excel).repair(&inputs, &config).unwrap();
    for ((input, fix), candidates) in inputs.iter().zip(fixes).zip(out) {
        let chosen = choose(candidates.as_ref().unwrap(), excel, Pooling::Ranked).unwrap();
        assert_eq!(chosen.text, fix, "{input}");
    }
}

#[test]
fn the_papers_method_read_out_under_the_checker_appends_a_missing_bracket() {
    let loaded = lastmile::checkpoint::load(&repo_file::repo_file("models/excel"), &Device::Cpu).unwrap();
    let excel = LangId::Excel.language();
    // `lastmile repair --lang excel --method paper --constrained`'s defaults
    let config = RepairConfig {
        levels: vec![0.05, 0.1],
        samples: 1,
        sampler: SamplerConfig { steps: None, stride: Some(60), clamp: true, update: Update::Ddpm, likelihood: 1.0 },
        batch_size: 64,
        seed: 0,
        localise: None,
        rank: Some(Plausibility::default()),
        constrained: Some(WholeReadout { edit_cost: 0.0, top_k: 64, budget: 8192, alternatives: 4 }),
    };
    let inputs = ["=SUM(A1:A10".to_string(), "=VLOOKUP(A2,Sheet2!A:B,2,FALSE".to_string()];
    let repairer = Repairer::new(&loaded.model, &loaded.tokenizer, excel);
    let out = repairer.repair(&inputs, &config).unwrap();
    for (input, candidates) in inputs.iter().zip(&out) {
        let candidates = candidates.as_ref().unwrap();
        assert!(candidates.iter().all(|c| c.valid), "{input}: every read-out passes the check");
        assert_eq!(choose(candidates, excel, Pooling::Ranked).unwrap().text, format!("{input})"), "{input}");
    }
    // one read-out a chain takes the cheapest accepted change anywhere, here
    // inside the range: what the alternatives and ranking are for
    let single = RepairConfig { constrained: Some(WholeReadout { alternatives: 1, ..config.constrained.clone().unwrap() }), ..config };
    let first = repairer.repair(&inputs[..1], &single).unwrap().remove(0).unwrap();
    assert!(first.iter().all(|c| c.text != "=SUM(A1:A10)"), "{:?}", first.iter().map(|c| &c.text).collect::<Vec<_>>());
}
