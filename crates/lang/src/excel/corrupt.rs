//! FLAME-style last-mile corruptions of Excel formulas, on the formula lexer's
//! tokens. Each operator makes one mistake of a kind users make: the families
//! of the Excel last-mile repair benchmarks (parentheses, separators, comparison
//! operators, quotes, sheet references, dangling operators, misspelt functions,
//! missing arguments).

use super::lexer::{lex, XlKind, XlToken};
use crate::corruption::{pick, splice, Corruption};
use rand::{Rng, RngCore};

/// Every Excel operator, in documentation order.
pub(crate) const CORRUPTIONS: &[Corruption] = &[
    Corruption {
        name: "close_paren_drop",
        description: "drop a closing parenthesis",
        example: ("=SUM(A1:A3)", "=SUM(A1:A3"),
        apply: close_paren_drop,
    },
    Corruption {
        name: "close_paren_add",
        description: "add a closing parenthesis after an operand",
        example: ("=IF(A1>0,1,0)", "=IF(A1)>0,1,0)"),
        apply: close_paren_add,
    },
    Corruption {
        name: "close_paren_misplace",
        description: "move a closing parenthesis to after another operand",
        example: ("=ROUND(A1/B1,2)", "=ROUND(A1)/B1,2"),
        apply: close_paren_misplace,
    },
    Corruption {
        name: "separator_drop",
        description: "drop an argument comma or a range colon",
        example: ("=SUM(A1:A3,B1)", "=SUM(A1A3,B1)"),
        apply: separator_drop,
    },
    Corruption {
        name: "comparison_split",
        description: "split a two-character comparison operator with a space",
        example: ("=IF(A1<=B1,1,0)", "=IF(A1< =B1,1,0)"),
        apply: comparison_split,
    },
    Corruption {
        name: "comparison_reverse",
        description: "reverse a two-character comparison operator (=<, =>, ><)",
        example: ("=IF(A1>=B1,1,0)", "=IF(A1=>B1,1,0)"),
        apply: comparison_reverse,
    },
    Corruption {
        name: "criteria_unquote",
        description: "remove the quotes around a string (a COUNTIF criterion, a text argument)",
        example: ("=COUNTIF(A1:A9,\">0\")", "=COUNTIF(A1:A9,>0)"),
        apply: criteria_unquote,
    },
    Corruption {
        name: "quote_drop",
        description: "drop one quote of a string",
        example: ("=IF(A1=\"yes\",1,0)", "=IF(A1=\"yes,1,0)"),
        apply: quote_drop,
    },
    Corruption {
        name: "sheet_bang_double",
        description: "double the `!` of a sheet reference",
        example: ("=Sheet1!A1+1", "=Sheet1!!A1+1"),
        apply: sheet_bang_double,
    },
    Corruption {
        name: "sheet_bang_drop",
        description: "drop the `!` of a sheet reference",
        example: ("=Sheet1!A1+1", "=Sheet1A1+1"),
        apply: sheet_bang_drop,
    },
    Corruption {
        name: "trailing_operator",
        description: "leave an operator or comma dangling at the end or before a closing parenthesis",
        example: ("=SUM(A1,B1)", "=SUM(A1,B1,)"),
        apply: trailing_operator,
    },
    Corruption {
        name: "function_misspell",
        description: "misspell a function name (a letter dropped, doubled, swapped or replaced)",
        example: ("=SUM(A1:A3)", "=SUMM(A1:A3)"),
        apply: function_misspell,
    },
    Corruption {
        name: "argument_drop",
        description: "drop one argument of a call with several (and its comma)",
        example: ("=VLOOKUP(A1,B:C,2,FALSE)", "=VLOOKUP(A1,B:C,2)"),
        apply: argument_drop,
    },
];

/// Indices of the tokens that satisfy `keep`.
fn positions(tokens: &[XlToken<'_>], keep: impl Fn(&XlToken<'_>) -> bool) -> Vec<usize> {
    tokens.iter().enumerate().filter(|(_, t)| keep(t)).map(|(i, _)| i).collect()
}

fn range(t: &XlToken<'_>) -> std::ops::Range<usize> {
    t.offset..t.offset + t.text.len()
}

/// Tokens after which a closing parenthesis could stand: the end of an operand.
fn ends_operand(t: &XlToken<'_>) -> bool {
    matches!(t.kind, XlKind::Reference | XlKind::Number | XlKind::String | XlKind::Bool | XlKind::Name | XlKind::RParen)
}

fn close_paren_drop(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&positions(&tokens, |t| t.kind == XlKind::RParen), rng)?;
    Some(splice(text, range(&tokens[i]), ""))
}

fn close_paren_add(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&positions(&tokens, ends_operand), rng)?;
    let end = tokens[i].offset + tokens[i].text.len();
    Some(splice(text, end..end, ")"))
}

fn close_paren_misplace(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let from = pick(&positions(&tokens, |t| t.kind == XlKind::RParen), rng)?;
    // another operand end, not the one right before the parenthesis (same text)
    let targets: Vec<usize> = positions(&tokens, ends_operand).into_iter().filter(|&j| j != from && j + 1 != from).collect();
    let to = pick(&targets, rng)?;
    let at = tokens[to].offset + tokens[to].text.len();
    let removed = splice(text, range(&tokens[from]), "");
    let at = if at > tokens[from].offset { at - 1 } else { at };
    Some(splice(&removed, at..at, ")"))
}

fn separator_drop(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&positions(&tokens, |t| matches!(t.kind, XlKind::Comma | XlKind::Colon)), rng)?;
    Some(splice(text, range(&tokens[i]), ""))
}

/// The two-character comparison operators (`<=`, `>=`, `<>`: one lexer token each).
fn comparisons(tokens: &[XlToken<'_>]) -> Vec<usize> {
    positions(tokens, |t| t.kind == XlKind::Operator && matches!(t.text, "<=" | ">=" | "<>"))
}

fn comparison_split(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&comparisons(&tokens), rng)?;
    let at = tokens[i].offset + 1;
    Some(splice(text, at..at, " "))
}

fn comparison_reverse(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&comparisons(&tokens), rng)?;
    let reversed: String = tokens[i].text.chars().rev().collect();
    Some(splice(text, range(&tokens[i]), &reversed))
}

/// Complete string literals with at least one character between the quotes.
fn strings(tokens: &[XlToken<'_>]) -> Vec<usize> {
    positions(tokens, |t| t.kind == XlKind::String && t.text.len() >= 3)
}

fn criteria_unquote(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&strings(&tokens), rng)?;
    let inner = &tokens[i].text[1..tokens[i].text.len() - 1];
    Some(splice(text, range(&tokens[i]), &inner.replace("\"\"", "\"")))
}

fn quote_drop(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&strings(&tokens), rng)?;
    let r = range(&tokens[i]);
    let at = if rng.random_bool(0.5) { r.start } else { r.end - 1 };
    Some(splice(text, at..at + 1, ""))
}

/// Offsets of the `!` of sheet-qualified references.
fn bangs(text: &str, tokens: &[XlToken<'_>]) -> Vec<usize> {
    tokens
        .iter()
        .filter(|t| t.kind == XlKind::Reference)
        .filter_map(|t| t.text.rfind('!').map(|k| t.offset + k))
        .filter(|&k| k > 0 && text.is_char_boundary(k))
        .collect()
}

fn sheet_bang_double(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let at = pick(&bangs(text, &lex(text)), rng)?;
    Some(splice(text, at..at, "!"))
}

fn sheet_bang_drop(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let at = pick(&bangs(text, &lex(text)), rng)?;
    Some(splice(text, at..at + 1, ""))
}

fn trailing_operator(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    // the end of the formula, or before a closing parenthesis
    let mut places: Vec<usize> = positions(&tokens, |t| t.kind == XlKind::RParen).into_iter().map(|i| tokens[i].offset).collect();
    places.push(text.len());
    let at = pick(&places, rng)?;
    let dangling = pick(&["+", "-", "*", "/", "&", ","], rng)?;
    Some(splice(text, at..at, dangling))
}

fn function_misspell(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    let i = pick(&positions(&tokens, |t| t.kind == XlKind::Function && t.text.len() >= 2 && t.text.is_ascii()), rng)?;
    let name = tokens[i].text.as_bytes();
    let k = rng.random_range(0..name.len());
    let mut out: Vec<u8> = name.to_vec();
    match rng.random_range(0..4) {
        0 if name.len() >= 3 => {
            out.remove(k);
        }
        1 => out.insert(k, name[k]),
        2 if k + 1 < name.len() && name[k] != name[k + 1] => out.swap(k, k + 1),
        _ => {
            let letter = b'A' + rng.random_range(0..26u8);
            if letter == name[k] || !name[k].is_ascii_alphabetic() {
                return None;
            }
            out[k] = letter;
        }
    }
    let misspelt = String::from_utf8(out).ok()?;
    (misspelt.as_bytes() != name).then(|| splice(text, range(&tokens[i]), &misspelt))
}

fn argument_drop(text: &str, rng: &mut dyn RngCore) -> Option<String> {
    let tokens = lex(text);
    // calls with two or more arguments: the top-level commas between their parentheses
    let mut calls: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    for open in positions(&tokens, |t| t.kind == XlKind::LParen) {
        if open == 0 || tokens[open - 1].kind != XlKind::Function {
            continue;
        }
        let mut depth = 0i32;
        let mut commas = Vec::new();
        for (j, t) in tokens.iter().enumerate().skip(open) {
            match t.kind {
                XlKind::LParen | XlKind::LBrace => depth += 1,
                XlKind::RParen | XlKind::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        if !commas.is_empty() {
                            calls.push((open, commas.clone(), j));
                        }
                        break;
                    }
                }
                XlKind::Comma if depth == 1 => commas.push(j),
                _ => {}
            }
        }
    }
    let (open, commas, close) = calls.get(rng.random_range(0..calls.len().max(1)))?.clone();
    // argument k spans from the separator before it to the one after it
    let k = rng.random_range(0..=commas.len());
    let cut = if k == 0 {
        tokens[open + 1].offset..tokens[commas[0]].offset + 1
    } else if k == commas.len() {
        tokens[commas[k - 1]].offset..tokens[close].offset
    } else {
        tokens[commas[k - 1]].offset..tokens[commas[k]].offset
    };
    Some(splice(text, cut, ""))
}
