//! Assignment targets CPython rejects after parsing: `1 = x`, `str(r) = x`,
//! `i = 0, count = 0` (a tuple holding a literal), `f() += 1`, `del 3`,
//! `(a + b) := 1`. rustpython-parser's grammar accepts an expression wherever a
//! target goes and leaves the check to a compiler; CPython's parser does it
//! itself, so the strict check must too.

use rustpython_parser::ast::{self, fold, Expr, Fold, Ranged, Stmt};
use rustpython_parser::text_size::TextRange;

/// The first invalid target of `module`, in source order: its range and
/// CPython's message.
pub(crate) fn first_invalid_target(module: ast::Mod) -> Option<(TextRange, &'static str)> {
    TargetCheck.fold_mod(module).err()
}

/// A fold that only looks: it returns the tree unchanged, or the first invalid
/// target as its error.
struct TargetCheck;

type Invalid = (TextRange, &'static str);

/// What a target of `=`, `for`, `with … as` or a comprehension may be: a
/// name, attribute, subscript, or a starred/tuple/list of those.
fn check_store(target: &Expr) -> Result<(), Invalid> {
    match target {
        Expr::Name(_) | Expr::Attribute(_) | Expr::Subscript(_) => Ok(()),
        Expr::Starred(starred) => check_store(&starred.value),
        Expr::Tuple(tuple) => tuple.elts.iter().try_for_each(check_store),
        Expr::List(list) => list.elts.iter().try_for_each(check_store),
        other => Err((other.range(), assign_message(other))),
    }
}

/// The one target of `+=` and of an annotated assignment.
fn check_single(target: &Expr) -> Result<(), Invalid> {
    match target {
        Expr::Name(_) | Expr::Attribute(_) | Expr::Subscript(_) => Ok(()),
        Expr::Tuple(_) | Expr::List(_) => Err((target.range(), "illegal target for this kind of assignment")),
        other => Err((other.range(), assign_message(other))),
    }
}

/// A target of `del`.
fn check_delete(target: &Expr) -> Result<(), Invalid> {
    match target {
        Expr::Name(_) | Expr::Attribute(_) | Expr::Subscript(_) => Ok(()),
        Expr::Tuple(tuple) => tuple.elts.iter().try_for_each(check_delete),
        Expr::List(list) => list.elts.iter().try_for_each(check_delete),
        other => Err((other.range(), "cannot delete this expression")),
    }
}

fn assign_message(expr: &Expr) -> &'static str {
    match expr {
        Expr::Call(_) => "cannot assign to function call",
        Expr::Constant(_) => "cannot assign to literal",
        _ => "cannot assign to expression",
    }
}

impl Fold<TextRange> for TargetCheck {
    type TargetU = TextRange;
    type Error = Invalid;
    type UserContext = ();

    fn will_map_user(&mut self, _user: &TextRange) -> Self::UserContext {}

    fn map_user(&mut self, user: TextRange, _context: Self::UserContext) -> Result<TextRange, Invalid> {
        Ok(user)
    }

    fn fold_stmt(&mut self, node: Stmt) -> Result<Stmt, Invalid> {
        match &node {
            Stmt::Assign(assign) => assign.targets.iter().try_for_each(check_store)?,
            Stmt::AugAssign(aug) => check_single(&aug.target)?,
            Stmt::AnnAssign(ann) => check_single(&ann.target)?,
            Stmt::For(for_) => check_store(&for_.target)?,
            Stmt::AsyncFor(for_) => check_store(&for_.target)?,
            Stmt::Delete(delete) => delete.targets.iter().try_for_each(check_delete)?,
            _ => {}
        }
        fold::fold_stmt(self, node)
    }

    fn fold_expr(&mut self, node: Expr) -> Result<Expr, Invalid> {
        if let Expr::NamedExpr(named) = &node {
            if !matches!(*named.target, Expr::Name(_)) {
                return Err((named.target.range(), "cannot use assignment expressions with this expression"));
            }
        }
        fold::fold_expr(self, node)
    }

    fn fold_comprehension(&mut self, node: ast::Comprehension) -> Result<ast::Comprehension, Invalid> {
        check_store(&node.target)?;
        fold::fold_comprehension(self, node)
    }

    fn fold_withitem(&mut self, node: ast::WithItem) -> Result<ast::WithItem, Invalid> {
        if let Some(vars) = &node.optional_vars {
            check_store(vars)?;
        }
        fold::fold_withitem(self, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustpython_parser::Mode;

    fn invalid(src: &str) -> Option<&'static str> {
        first_invalid_target(rustpython_parser::parse(src, Mode::Module, "<t>").expect("parses")).map(|(_, m)| m)
    }

    #[test]
    fn finds_targets_cpython_rejects() {
        assert_eq!(invalid("1 = x"), Some("cannot assign to literal"));
        assert_eq!(invalid("x = 1\nstr(rev) = x[::-1]"), Some("cannot assign to function call"));
        assert_eq!(invalid("i=0 , count=0"), Some("cannot assign to literal"));
        assert_eq!(invalid("def f():\n    for g() in x:\n        pass"), Some("cannot assign to function call"));
        assert_eq!(invalid("a + b += 1"), Some("cannot assign to expression"));
        assert_eq!(invalid("a, b += 1"), Some("illegal target for this kind of assignment"));
        assert_eq!(invalid("del 3"), Some("cannot delete this expression"));
        assert_eq!(invalid("y = [1 for f() in x]"), Some("cannot assign to function call"));
        assert_eq!(invalid("with open(p) as f():\n    pass"), Some("cannot assign to function call"));
    }

    #[test]
    fn accepts_valid_targets() {
        for ok in [
            "a = b = 1",
            "a, *b = x",
            "[a, (b, c)] = x",
            "o.x[1] += 2",
            "x: int = 3",
            "del a, b[0], c.d",
            "for i, (k, v) in enumerate(d.items()):\n    pass",
            "if (n := len(a)) > 10:\n    pass",
            "with open(p) as (f, g):\n    pass",
        ] {
            assert_eq!(invalid(ok), None, "{ok}");
        }
    }
}
