#!/usr/bin/env bash
# The editor grammars' own tests (run by .ci/run; needs the tree-sitter CLI
# and vscode-tmgrammar-test on PATH, which .ci/run installs):
#   - the tree-sitter parser in src/ is what grammar.js generates;
#   - tree-sitter's corpus tests (test/corpus) and highlight tests
#     (test/highlight);
#   - every example pipeline, stdlib module and TextMate test file parses
#     with no ERROR node, and highlights;
#   - the TextMate grammar's scope tests (vscode/tests/*.test.pipe).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
files=("$root"/pipelines/*.pipe "$root"/stdlib/*.pipe "$root"/editors/vscode/tests/*.test.pipe)

(
    cd tree-sitter-pipe
    # Generate into a scratch copy: the committed parser must be current.
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    cp -r grammar.js tree-sitter.json src "$scratch"/
    (cd "$scratch" && tree-sitter generate)
    for generated in parser.c grammar.json node-types.json; do
        if ! cmp -s "src/$generated" "$scratch/src/$generated"; then
            echo "editors/tree-sitter-pipe/src/$generated is stale: run \`tree-sitter generate\` there" >&2
            exit 1
        fi
    done
    tree-sitter test -p .
    tree-sitter parse -p . --quiet "${files[@]}"
    for file in "${files[@]}"; do
        tree-sitter highlight -p . "$file" >/dev/null 2>&1 || { echo "highlighting failed: $file" >&2; exit 1; }
    done
    echo "tree-sitter: corpus, highlight tests and ${#files[@]} files parsed without errors"
)

(
    cd vscode
    vscode-tmgrammar-test -g syntaxes/pipe.tmLanguage.json "tests/*.test.pipe"
)
