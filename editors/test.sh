#!/usr/bin/env bash
# The editor grammars' own tests (run by .ci/run; needs the tree-sitter CLI,
# vscode-tmgrammar-test, vsce, node, vim and nvim on PATH, which .ci/run
# installs):
#   - the tree-sitter parser in src/ is what grammar.js generates;
#   - tree-sitter's corpus tests (test/corpus) and highlight tests
#     (test/highlight);
#   - every example pipeline, stdlib module and TextMate test file parses
#     with no ERROR node, and highlights;
#   - the TextMate grammar's scope tests (vscode/tests/*.test.pipe);
#   - VS Code: extension.js against fake vscode modules
#     (vscode/test/activation.test.js), then `vsce package` (needs vsce on
#     PATH and `npm ci` run in vscode/): the .vsix holds the manifest, the
#     grammar, the icon, the licence and vscode-languageclient, and its
#     extension.js loads (vscode/test/packaged.test.js);
#   - Vim: the syntax groups at chosen places of the examples
#     (vim/test/highlight.vim);
#   - Neovim: `pipe lsp` driven by Neovim's own LSP client
#     (nvim/test_init.lua), with the pipe binary PIPE_BIN, else
#     $CARGO_TARGET_DIR/debug/pipe (default target/), else `pipe` on PATH.
#     Skipped, saying so, where nvim is not installed.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
# A relative CARGO_TARGET_DIR is the repository's (cargo's own reading).
case "${CARGO_TARGET_DIR:-}" in
    "" | /*) ;;
    *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;;
esac
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

    # extension.js's behaviour, against fake `vscode` and
    # `vscode-languageclient/node` modules: VS Code cannot be downloaded here.
    node test/activation.test.js

    # The .vsix, as `code --install-extension` takes it, written outside the
    # clone. vsce bundles the production dependencies from node_modules,
    # which `npm ci` installs from package-lock.json (.ci/run does).
    [ -d node_modules/vscode-languageclient ] || { echo "editors/vscode/node_modules is missing: run \`npm ci\` in editors/vscode" >&2; exit 1; }
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    # No repository URL to name; stdin closed so that vsce never waits on a
    # question.
    vsce package --allow-missing-repository --out "$scratch/" </dev/null >"$scratch/vsce.log" 2>&1 || { cat "$scratch/vsce.log" >&2; exit 1; }
    vsix=("$scratch"/pipe-language-*.vsix)
    [ -f "${vsix[0]}" ] || { echo "vsce wrote no .vsix" >&2; exit 1; }
    listing="$(unzip -Z1 "${vsix[0]}")"
    # vsce renames LICENSE to LICENSE.txt and README.md to readme.md.
    for entry in extension/package.json extension/extension.js extension/syntaxes/pipe.tmLanguage.json \
        extension/language-configuration.json extension/snippets/pipe.json extension/LICENSE.txt \
        extension/readme.md extension/images/icon.png extension/node_modules/vscode-languageclient/node.js; do
        grep -qx "$entry" <<<"$listing" || { echo "the .vsix lacks $entry" >&2; exit 1; }
    done
    # .vscodeignore keeps the tests, the icon's generator and the lock file out.
    if grep -E '^extension/(tests?|scripts)/|^extension/package-lock\.json$' <<<"$listing" >&2; then
        echo "the .vsix holds files .vscodeignore should keep out (above)" >&2
        exit 1
    fi
    # The packaged extension.js loads with the packaged dependencies only.
    unzip -q "${vsix[0]}" -d "$scratch/unpacked"
    node test/packaged.test.js "$scratch/unpacked"
    echo "vscode: $(basename "${vsix[0]}"), $(wc -c <"${vsix[0]}") bytes, $(wc -l <<<"$listing") entries"
)

# Real editors, headless. `-n`: no swap files beside the examples; stdin
# from /dev/null so that neither reads it; `timeout` in case one waits for
# input instead of exiting.
if command -v vim >/dev/null; then
    timeout 60 vim -Nu NONE -i NONE -n -es -S vim/test/highlight.vim </dev/null
else
    echo "vim not found: skipping the Vim syntax test (vim/test/highlight.vim; .ci/run installs Vim)" >&2
fi

if command -v nvim >/dev/null; then
    pipe_bin="${PIPE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/pipe}"
    [ -x "$pipe_bin" ] || pipe_bin="$(command -v pipe)" || { echo "no pipe binary: build it or set PIPE_BIN" >&2; exit 1; }
    # The Neovim set-up starts `pipe lsp` by name, as a user's would.
    PATH="$(dirname "$pipe_bin"):$PATH" timeout 120 nvim --headless -n -i NONE -u nvim/test_init.lua </dev/null
else
    echo "nvim not found: skipping the Neovim LSP test (nvim/test_init.lua; .ci/run installs Neovim)" >&2
fi
