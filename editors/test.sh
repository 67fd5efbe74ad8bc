#!/usr/bin/env bash
# The editor grammars' own tests (run by .ci/run; needs the tree-sitter CLI,
# vscode-tmgrammar-test, vim and nvim on PATH, which .ci/run installs):
#   - the tree-sitter parser in src/ is what grammar.js generates;
#   - tree-sitter's corpus tests (test/corpus) and highlight tests
#     (test/highlight);
#   - every example pipeline, stdlib module and TextMate test file parses
#     with no ERROR node, and highlights;
#   - the TextMate grammar's scope tests (vscode/tests/*.test.pipe);
#   - Vim: the syntax groups at chosen places of the examples
#     (vim/test/highlight.vim);
#   - Neovim: `pipe lsp` driven by Neovim's own LSP client
#     (nvim/test_init.lua), with the pipe binary PIPE_BIN, else
#     $CARGO_TARGET_DIR/debug/pipe (default target/), else `pipe` on PATH.
#     Skipped, saying so, where nvim is not installed.
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

# Real editors, headless. `-n`: no swap files beside the examples; stdin
# from /dev/null so that neither reads it; `timeout` in case one waits for
# input instead of exiting.
timeout 60 vim -Nu NONE -i NONE -n -es -S vim/test/highlight.vim </dev/null

if command -v nvim >/dev/null; then
    pipe_bin="${PIPE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/pipe}"
    [ -x "$pipe_bin" ] || pipe_bin="$(command -v pipe)" || { echo "no pipe binary: build it or set PIPE_BIN" >&2; exit 1; }
    # The Neovim set-up starts `pipe lsp` by name, as a user's would.
    PATH="$(dirname "$pipe_bin"):$PATH" timeout 120 nvim --headless -n -i NONE -u nvim/test_init.lua </dev/null
else
    echo "nvim not found: skipping the Neovim LSP test (nvim/test_init.lua; .ci/run installs Neovim)" >&2
fi
