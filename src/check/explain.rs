//! `pipe check --explain`: each item with the schema the checker inferred,
//! the table a user wants beside the file while writing it.

use crate::schema::{Column, DType, Schema};

/// One item's line in the explanation.
#[derive(Clone, Debug)]
pub struct Explained {
    /// `source`, `stage`, ...
    pub keyword: &'static str,
    /// The declared name(s).
    pub names: String,
    /// For a transform, the data it is fitted on.
    pub input: Option<Schema>,
    /// The item's frame, when it is data (or a transform's output).
    pub schema: Option<Schema>,
    /// For a training run: each layer with its input and output shape.
    pub layers: Vec<String>,
    /// For a training run: how many numbers its model learns.
    pub parameters: Option<u64>,
    /// For an output, a transform or a training run: whether it streams,
    /// or why it holds its rows.
    pub memory: Option<crate::ir::Memory>,
    /// For a swept training run: its points and how they were picked
    /// (`12 points (grid)`); the layers shown are the first point's.
    pub sweep: Option<String>,
}

/// The explanation of a file's items.
pub fn render(items: &[Explained]) -> String {
    let mut out = String::new();
    for item in items {
        // An unnamed evaluate or output is its keyword alone.
        let title = match item.names.as_str() {
            "" => item.keyword.to_owned(),
            names => format!("{} {names}", item.keyword),
        };
        match (&item.input, &item.schema) {
            (_, None) if !item.layers.is_empty() => {
                let parameters = item.parameters.map_or_else(String::new, |p| format!(", {} parameters", thousands(p)));
                let sweep = item.sweep.as_ref().map_or_else(String::new, |s| format!("a sweep of {s}, the first: "));
                out.push_str(&format!("{title}: {sweep}{} layers{parameters}\n", item.layers.len()));
                item.layers.iter().for_each(|l| out.push_str(&format!("    {l}\n")));
            }
            (_, None) => out.push_str(&format!("{title}\n")),
            (Some(input), Some(schema)) => {
                out.push_str(&format!(
                    "{title}: {} columns -> {} columns\n",
                    input.columns.len(),
                    schema.columns.len()
                ));
                out.push_str(&columns(schema));
            }
            (None, Some(schema)) => {
                out.push_str(&format!("{title}: {} columns\n", schema.columns.len()));
                out.push_str(&columns(schema));
            }
        }
        match &item.memory {
            Some(crate::ir::Memory::Streams { passes, keeps, picks, always }) => {
                out.push_str(&streams(item.keyword, *passes, keeps, picks, *always))
            }
            Some(crate::ir::Memory::Holds(why)) => out.push_str(&format!("    in memory: {why}\n")),
            Some(crate::ir::Memory::Through) => out.push_str(
                "    streams through: the items that read it run its steps on their own batches when they stream\n",
            ),
            None => {}
        }
        out.push('\n');
    }
    out
}

/// How a streaming item reads its source, as `--explain` says it.
fn streams(keyword: &str, passes: usize, keeps: &[&str], picks: &[&str], always: bool) -> String {
    let how = match (keyword, passes) {
        ("transform", 0) => "it learns nothing from its data".to_owned(),
        ("transform", 1) => "it learns in one pass over its source, batch by batch".to_owned(),
        ("transform", n) => format!("it learns in {n} passes over its source, batch by batch"),
        ("train", n) => format!(
            "its rows go to a file on disk batch by batch ({n} pass{} over its sources), and each epoch reads that file a window of row groups at a time",
            if n == 1 { "" } else { "es" }
        ),
        ("evaluate", n) => format!(
            "its rows go to a file on disk batch by batch ({n} pass{} over its source), and it reads that file a row group at a time",
            if n == 1 { "" } else { "es" }
        ),
        (_, 1) => "read, transformed and written batch by batch".to_owned(),
        (_, n) => format!(
            "{} over its source to learn, then one to write, batch by batch",
            if n == 2 { "one pass".to_owned() } else { format!("{} passes", n.saturating_sub(1)) }
        ),
    };
    let mut line = if always {
        format!("    streams: {how}")
    } else {
        format!("    streams when its source outgrows the memory budget (`pipe run --memory`): {how}")
    };
    let mut kept = Vec::new();
    if !keeps.is_empty() {
        let names: Vec<String> = keeps.iter().map(|k| format!("`{k}`")).collect();
        kept.push(format!("{} keeps a column's values: 8 bytes a row", names.join(", ")));
    }
    if !picks.is_empty() {
        let names: Vec<String> = picks.iter().map(|k| format!("`{k}`")).collect();
        kept.push(format!(
            "{} counts the rows first, and keeps which rows it picks: a byte a row, about 9 while dealing them",
            names.join(", ")
        ));
    }
    if !kept.is_empty() {
        line.push_str(&format!(" ({})", kept.join("; ")));
    }
    line.push('\n');
    line
}

/// The columns, one per line, with numbered runs of one type folded:
/// `f0..f31  f64  (32 columns)`.
fn columns(schema: &Schema) -> String {
    let rows = fold_runs(&schema.columns);
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    rows.iter().map(|(name, kind)| format!("    {name:<width$}  {kind}\n")).collect()
}

fn fold_runs(columns: &[Column]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut i = 0;
    while i < columns.len() {
        let run = run_length(&columns[i..]);
        if run >= 3 {
            let (first, last) = (&columns[i], &columns[i + run - 1]);
            rows.push((format!("{}..{}", first.name, last.name), format!("{}  ({run} columns)", first.dtype)));
            i += run;
        } else {
            // A run of two is shown as two rows: only the first is done here.
            rows.push((columns[i].name.clone(), columns[i].dtype.to_string()));
            i += 1;
        }
    }
    rows
}

/// How many columns from the first are `prefix{n}`, `prefix{n+1}`, ... of
/// one type (1 when the first is not numbered).
fn run_length(columns: &[Column]) -> usize {
    let Some((prefix, start)) = numbered(&columns[0].name) else { return 1 };
    let dtype: &DType = &columns[0].dtype;
    columns
        .iter()
        .enumerate()
        .take_while(|(k, c)| {
            start.checked_add(*k as u64).is_some_and(|n| numbered(&c.name) == Some((prefix, n))) && &c.dtype == dtype
        })
        .count()
}

fn numbered(name: &str) -> Option<(&str, u64)> {
    let prefix = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if prefix.len() == name.len() || prefix.is_empty() {
        return None;
    }
    Some((prefix, name[prefix.len()..].parse().ok()?))
}

/// `83202` as `83,202`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn columns(names: &[&str]) -> Vec<Column> {
        names.iter().map(|n| Column::new(*n, DType::I64, Span::default())).collect()
    }

    #[test]
    fn three_numbered_columns_fold_and_two_are_both_shown() {
        let shown = |names: &[&str]| fold_runs(&columns(names)).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(shown(&["f0", "f1", "y"]), ["f0", "f1", "y"]);
        assert_eq!(shown(&["f0", "f1", "f2", "y"]), ["f0..f2", "y"]);
        assert_eq!(shown(&["n_2", "n_3", "f0", "f1", "f2", "f3"]), ["n_2", "n_3", "f0..f3"]);
    }
}
