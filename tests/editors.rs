//! The editor grammars keep up with `grammar/pipe.pest`: every keyword and
//! unit it defines is highlighted by the VS Code (TextMate) grammar, the
//! tree-sitter grammar and the Vim syntax. (The grammars' own tests —
//! tree-sitter's corpus and highlight tests, the TextMate scope tests —
//! and the headless tests in real editors — Vim's syntax groups, `pipe
//! lsp` under Neovim's own client — are run by `editors/test.sh`, which
//! `.ci/run` runs.)

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("readable")
}

/// The words the grammar reserves or uses as keywords, and the units.
fn grammar_words() -> Vec<String> {
    let pest = read("grammar/pipe.pest");
    let mut words = Vec::new();
    for line in pest.lines() {
        let rule = line.split('=').next().unwrap_or("").trim();
        if rule.starts_with("kw_") || rule == "reserved" || rule == "unit" {
            words.extend(line.split('"').skip(1).step_by(2).map(str::to_owned));
        }
    }
    words.sort();
    words.dedup();
    words
}

/// The units of numbers (`20deg`).
fn units() -> Vec<String> {
    let pest = read("grammar/pipe.pest");
    let line = pest.lines().find(|l| l.trim_start().starts_with("unit ")).expect("a unit rule");
    line.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn every_keyword_is_highlighted_by_both_editor_grammars() {
    let words = grammar_words();
    assert!(words.len() >= 25, "keywords and units found: {words:?}");
    let textmate = read("editors/vscode/syntaxes/pipe.tmLanguage.json");
    let vim = read("editors/vim/syntax/pipe.vim");
    for word in &words {
        assert!(textmate.contains(word.as_str()), "the TextMate grammar does not mention `{word}`");
        assert!(vim.contains(word.as_str()), "the Vim syntax does not mention `{word}`");
    }
    // Tree-sitter: each word is a token of grammar.js, and highlights.scm
    // captures it, by itself or through the node it makes.
    let tree_sitter = read("editors/tree-sitter-pipe/grammar.js");
    let highlights = read("editors/tree-sitter-pipe/queries/highlights.scm");
    for word in &words {
        assert!(tree_sitter.contains(&format!("'{word}'")), "grammar.js has no token `{word}`");
        let node = match word.as_str() {
            "true" | "false" => "(boolean)",
            "inf" => "(inf)",
            _ if units().contains(word) => "(unit)",
            _ => "",
        };
        let quoted = format!("\"{word}\"");
        assert!(
            highlights.contains(&quoted) || (!node.is_empty() && highlights.contains(node)),
            "highlights.scm does not capture `{word}`"
        );
    }
    let grammar: serde_json::Value = serde_json::from_str(&textmate).expect("the TextMate grammar is JSON");
    assert_eq!(grammar["scopeName"], "source.pipe");
}
