//! The dependencies between `src/`'s modules point one way: each module
//! names (as `crate::x`) only the modules the table in
//! `docs/architecture.md` ("Layers") allows it. The table is the rule; this
//! test reads it and every source file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The allowed uses, by module, read from the architecture document.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let section = doc.split("## Layers").nth(1).expect("a `## Layers` section");
    let mut table = BTreeMap::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [modules, uses] = cells.as_slice() else { continue };
        if modules.starts_with("---") || *modules == "module" {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split(',')
                .map(|n| n.trim().trim_matches('`').to_owned())
                .filter(|n| !n.is_empty() && n != "—")
                .collect()
        };
        for module in names(modules) {
            table.insert(module, names(uses));
        }
    }
    assert!(table.len() >= 10, "the Layers table lists every module: {table:?}");
    table
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, module, used module)` for every `crate::x` a file names
/// outside its own module.
fn uses() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let pattern = regex::Regex::new(r"crate::([a-z_]+)").expect("pattern");
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
        let module = relative.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
        // The crate root and the binary assemble everything.
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for used in pattern.captures_iter(line) {
                let used = used[1].to_owned();
                if used != module {
                    found.push((relative.clone(), module.clone(), used));
                }
            }
        }
    }
    found
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let table = allowed();
    let mut wrong = BTreeSet::new();
    for (file, module, used) in uses() {
        let Some(may) = table.get(&module) else {
            wrong.insert(format!("{file}: module `{module}` is not in the Layers table"));
            continue;
        };
        if !may.contains(&used) && !may.contains("everything") {
            wrong.insert(format!("{file}: `{module}` uses `crate::{used}`, which the Layers table does not allow"));
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against docs/architecture.md:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The table itself points one way: no two modules may use each other.
#[test]
fn the_layers_table_has_no_cycle() {
    let table = allowed();
    for (module, uses) in &table {
        for used in uses {
            if let Some(back) = table.get(used) {
                assert!(!back.contains(module), "`{module}` and `{used}` may use each other");
            }
        }
    }
}
