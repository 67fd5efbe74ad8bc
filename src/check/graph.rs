//! The dependency graph between items: cycles are errors, items nothing
//! uses are warnings.

use crate::check::error::CheckError;
use crate::check::resolve::Use;
use crate::check::scope::{Kind, Scope};
use crate::source::Span;
use crate::syntax::ast::Item;

/// Cycle errors for one file, and (for the file being checked, not for the
/// modules it imports) unused-item warnings.
pub fn problems(items: &[Item], scope: &Scope, uses: &[Use], report_unused: bool) -> Vec<CheckError> {
    let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); items.len()];
    for u in uses {
        let target = scope.symbol(u.to);
        if !target.imported {
            edges[u.from].push((target.item, u.span));
        }
    }
    let mut problems = cycles(items, &edges);
    if report_unused {
        problems.extend(unused(scope, uses));
    }
    problems
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    New,
    Open,
    Done,
}

/// One error per cycle, found by depth-first search (an explicit stack, so
/// a long chain of items cannot overflow the call stack).
fn cycles(items: &[Item], edges: &[Vec<(usize, Span)>]) -> Vec<CheckError> {
    let mut marks = vec![Mark::New; items.len()];
    let mut errors = Vec::new();
    for root in 0..items.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // (node, next edge to follow, the span of the edge that led here)
        let mut stack: Vec<(usize, usize, Span)> = vec![(root, 0, Span::default())];
        marks[root] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let Some(&(to, span)) = edges[node].get(top.1) else {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match marks[to] {
                Mark::New => {
                    marks[to] = Mark::Open;
                    stack.push((to, 0, span));
                }
                Mark::Open => errors.push(cycle_error(items, &stack, to, span)),
                Mark::Done => {}
            }
        }
    }
    errors
}

/// The cycle closed by the edge `stack.last() -> to` (at `span`).
fn cycle_error(items: &[Item], stack: &[(usize, usize, Span)], to: usize, span: Span) -> CheckError {
    let start = stack.iter().position(|(node, _, _)| *node == to).unwrap_or(0);
    let path: Vec<usize> = stack[start..].iter().map(|(node, _, _)| *node).collect();
    // The spans of the uses along the cycle: each entry's arrival span is
    // the use in the previous node; the closing use is `span`.
    let mut use_spans: Vec<Span> = stack[start + 1..].iter().map(|(_, _, s)| *s).collect();
    use_spans.push(span);
    let names: Vec<String> = path.iter().map(|&i| item_name(&items[i])).collect();
    let mut cycle = names.join(" -> ");
    cycle.push_str(&format!(" -> {}", names[0]));
    let second = names.get(1).unwrap_or(&names[0]).clone();
    CheckError::Cycle { cycle, span: use_spans[0], first: names[0].clone(), second, others: use_spans[1..].to_vec() }
}

fn item_name(item: &Item) -> String {
    let names: Vec<&str> = item.kind.declared_names().iter().map(|i| i.name.as_str()).collect();
    if names.is_empty() { item.kind.keyword().to_owned() } else { names.join(", ") }
}

/// Declared or imported names that no item uses. Training runs, named
/// evaluations and outputs are ends in themselves.
fn unused(scope: &Scope, uses: &[Use]) -> Vec<CheckError> {
    let mut used = vec![false; scope.symbols().len()];
    for u in uses {
        used[u.to] = true;
    }
    scope
        .symbols()
        .iter()
        .enumerate()
        .filter(|(id, s)| !used[*id] && !matches!(s.kind, Kind::Train | Kind::Evaluate | Kind::Output))
        .map(|(_, s)| CheckError::UnusedItem { name: s.name.clone(), span: s.span })
        .collect()
}

/// The items in an order where each comes after the items it uses (cycles
/// broken anywhere), found without recursion so a long chain of items
/// cannot overflow the stack. Computing schemas in this order keeps the
/// checker's own recursion shallow.
pub fn order(count: usize, scope: &Scope, uses: &[Use]) -> Vec<usize> {
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); count];
    for u in uses {
        let target = scope.symbol(u.to);
        if !target.imported && target.item < count {
            edges[u.from].push(target.item);
        }
    }
    let mut marks = vec![Mark::New; count];
    let mut order = Vec::with_capacity(count);
    for root in 0..count {
        if marks[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        marks[root] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            match edges[node].get(top.1) {
                Some(&next) => {
                    top.1 += 1;
                    if marks[next] == Mark::New {
                        marks[next] = Mark::Open;
                        stack.push((next, 0));
                    }
                }
                None => {
                    marks[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    order
}
