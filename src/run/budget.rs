//! The memory budget (`pipe run --memory 2GB`; by default half of this
//! machine's memory). An item that can stream ([`crate::ir::Memory`]) and
//! learns from its data (so that streaming reads the source more than
//! once) streams when its source would not fit in the budget, and holds it
//! otherwise, which is faster. With a budget given, an item that must hold
//! a source larger than the budget is an error before anything runs.

use crate::ir::{ItemId, ItemKind, Memory, Program, Source, SourceFiles};
use crate::run::error::RunError;

/// The budget in bytes: the one given, or half of this machine's memory.
pub fn bytes(given: Option<u64>) -> u64 {
    given.unwrap_or_else(|| crate::files::machine_memory().map_or(u64::MAX, |m| m / 2))
}

/// About how many bytes the rows of a source take in memory: a CSV's
/// text (numbers take about as many bytes as text as they do as values),
/// a Parquet file's rows times the width of its columns (its own bytes are
/// compressed); a URL's, as the checker weighed it. Images: unknown, 0.
pub fn source_bytes(source: &Source) -> u64 {
    match source {
        Source::Csv { files, .. } | Source::Parquet { files } if files.is_url() => {
            files.files.iter().filter_map(|f| f.held_bytes).fold(0, u64::saturating_add)
        }
        Source::Csv { files, .. } => on_disk(files),
        Source::Parquet { files } => files
            .files
            .iter()
            .map(|f| {
                let rows = crate::files::parquet::rows(&f.path).unwrap_or(0);
                let width: u64 = crate::files::parquet::columns(&f.path)
                    .map(|columns| columns.iter().map(|(_, dtype)| dtype.held_width()).sum())
                    .unwrap_or(0);
                rows.saturating_mul(width)
            })
            .fold(0, u64::saturating_add),
        Source::Images { .. } => 0,
    }
}

/// The files' sizes when checked.
fn on_disk(files: &SourceFiles) -> u64 {
    files.files.iter().filter_map(|f| f.stamp.as_ref()).map(|s| s.len).fold(0, u64::saturating_add)
}

/// "3.1 GB", "512 MB", "20 KB".
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} KB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

/// A size as written on the command line: `2GB`, `1.5 GB`, `512MB`,
/// `64k`, or bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("`{text}` is not a size: write `2GB` or `512MB`"))?;
    let unit = unit.trim();
    // `KiB`, `MiB`, ...: powers of 1024.
    let base: f64 = if unit.ends_with("ib") { 1024.0 } else { 1000.0 };
    let scale = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => base,
        "m" => base.powi(2),
        "g" => base.powi(3),
        "t" => base.powi(4),
        _ => return Err(format!("`{text}`: the unit is one of KB, MB, GB, TB (or KiB, MiB, GiB, TiB)")),
    };
    let bytes = number * scale;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(format!("`{text}` is not a size a machine has"));
    }
    Ok(bytes as u64)
}

/// The items among `needed` (of which `targets` are run by name) that
/// hold a source larger than `budget`: an error each, at the item, with
/// why it holds the rows.
pub fn over(program: &Program, needed: &[ItemId], targets: &[ItemId], budget: u64, in_memory: bool) -> Vec<RunError> {
    let mut errors = Vec::new();
    for &id in needed {
        let Some(item) = program.items.get(id).and_then(Option::as_ref) else { continue };
        let ItemKind::Source(source) = &item.kind else { continue };
        let bytes = source_bytes(source);
        if bytes <= budget {
            continue;
        }
        // Only the items this run needs count.
        let Some(holder_id) = holder(program, needed, targets, id, in_memory) else { continue };
        let Some(holder) = program.items.get(holder_id).and_then(Option::as_ref) else { continue };
        let why = match (in_memory, &holder.kind, program.memory(holder_id)) {
            (true, _, _) => "`--in-memory` holds every item's rows".to_owned(),
            (false, ItemKind::Stage(_) | ItemKind::Split { .. }, _) => {
                "a stage or split run by name holds its rows".to_owned()
            }
            (false, _, Some(Memory::Holds(why))) => why,
            (false, _, _) => "training and evaluation hold their data".to_owned(),
        };
        errors.push(RunError::OverBudget {
            message: format!(
                "`{}` holds the rows of `{}`, about {}: over the memory budget of {}",
                holder.name,
                item.name,
                size(bytes),
                size(budget)
            ),
            span: holder.span,
            help: format!("it cannot stream: {why}; raise `--memory`, or change it so that it streams (`pipe check --explain` says which items do)"),
        });
    }
    errors
}

/// The item among `needed` that holds the rows of source `id` in memory,
/// if any: one whose rows cannot stream. Stages and splits hold rows for
/// the items that read them, which are found themselves; one run by name
/// holds its own. (Items outside the run hold nothing: the run follows
/// [`Program::memory_within`] the items it needs.)
fn holder(program: &Program, needed: &[ItemId], targets: &[ItemId], id: ItemId, in_memory: bool) -> Option<ItemId> {
    let holds = |r: ItemId| match program.items.get(r).and_then(Option::as_ref).map(|i| &i.kind) {
        Some(ItemKind::Stage(_) | ItemKind::Split { .. }) => {
            targets.contains(&r) || !needed.iter().any(|&reader| program.reads_directly(reader, r))
        }
        _ => in_memory || !program.streams_itself(r),
    };
    needed.iter().copied().find(|&r| program.reads_source(r, id) && holds(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_people_write_them() {
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("512mb"), Ok(512_000_000));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("lots").is_err() && parse_size("2 parsecs").is_err() && parse_size("0").is_err());
        assert_eq!(size(3_100_000_000), "3.1 GB");
        assert_eq!(size(512_000_000), "512 MB");
        assert_eq!(size(276), "276 bytes");
    }
}
