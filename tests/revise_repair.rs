//! Repair of formulas that parse, with the shipped Excel model
//! (`models/excel`): misspelt functions are corrected and a separator typed
//! as an operator is restored under a lower edit margin (slips made from the
//! benchmark's own fixes), while the benchmark's correct formulas whose best
//! argument edit scored highest stay as they are.

#[path = "common/repo_file.rs"]
mod repo_file;

use candle_core::Device;
use lastmile::lang::LangId;
use lastmile::repair::revise::{revisions, Margins};
use lastmile::repair::Plausibility;

#[test]
fn the_shipped_model_revises_parsing_slips_and_keeps_correct_formulas() {
    let loaded = lastmile::checkpoint::load(&repo_file::repo_file("models/excel"), &Device::Cpu).unwrap();
    let excel = LangId::Excel.language();
    let slips = [
        ("=VLOOUP(E12,$D:$D,1,0)", "=VLOOKUP(E12,$D:$D,1,0)"),
        (
            "=IF(A1=\"\",\"\",IF(ISERROR(SEARHC(\"AW\",A1)),\"Outbound\",\"Inbound\"))",
            "=IF(A1=\"\",\"\",IF(ISERROR(SEARCH(\"AW\",A1)),\"Outbound\",\"Inbound\"))",
        ),
    ];
    // a separator typed as `+`: revised only under a lower edit margin (`--revise-margin 6`)
    let separator = ("=IF(C4=\"\",\"\"+SMALL(INDIRECT(C4),5))", "=IF(C4=\"\",\"\",SMALL(INDIRECT(C4),5))");
    let correct = [
        "=RANK(O14,$O$14:$O$23)+SUMPRODUCT(--($O$14:$O$23=O14),--($P$14:$P$23<P14))",
        "=IF(COUNTIFS(B:B,B2,E:E,\">=\"&EDATE(E2,-3),E:E,\">=\"&EDATE(E2,3))=1,\"No\",\"Yes\")",
        "=TODAY()>WORKDAY(A1,90)",
        "=OR(AND(LEN(A1)<=6))",
    ];
    let inputs: Vec<&str> = slips.iter().map(|(slip, _)| *slip).chain(correct).chain([separator.0]).collect();
    assert!(inputs.iter().all(|i| excel.check(i).is_ok()), "every input parses");
    let accept = |_: usize, text: &str| excel.check(text).is_ok();
    let out =
        revisions(&loaded.model, &loaded.tokenizer, excel, &inputs, &Plausibility::default(), Margins::default(), 16, accept).unwrap();
    for ((slip, fix), revision) in slips.iter().zip(&out) {
        assert_eq!(revision.as_ref().map(|r| r.text.as_str()), Some(*fix), "{slip}");
    }
    for (formula, revision) in correct.iter().zip(&out[slips.len()..]) {
        assert_eq!(revision.as_ref().map(|r| r.text.as_str()), None, "{formula} is correct");
    }
    assert_eq!(out.last().unwrap(), &None, "{}: below the default edit margin", separator.0);
    let lower = Margins { edit: 6.0, ..Margins::default() };
    let out = revisions(&loaded.model, &loaded.tokenizer, excel, &[separator.0], &Plausibility::default(), lower, 16, accept).unwrap();
    assert_eq!(out[0].as_ref().map(|r| r.text.as_str()), Some(separator.1));
    // no margin for argument edits: the same correct formulas are rewritten
    let eager = Margins { edit: f64::NEG_INFINITY, ..Margins::default() };
    let out = revisions(&loaded.model, &loaded.tokenizer, excel, &correct, &Plausibility::default(), eager, 16, accept).unwrap();
    assert!(out.iter().any(Option::is_some), "the margin is what keeps them");
}
