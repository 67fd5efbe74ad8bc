//! The editor grammars keep up with `grammar/pipe.pest`: every keyword and
//! unit it defines is highlighted by the VS Code (TextMate) grammar and the
//! Vim syntax. (`editors/vscode/tests/*.test.pipe` are the TextMate
//! grammar's own scope tests, run with `vscode-tmgrammar-test`.)

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
    let grammar: serde_json::Value = serde_json::from_str(&textmate).expect("the TextMate grammar is JSON");
    assert_eq!(grammar["scopeName"], "source.pipe");
}
