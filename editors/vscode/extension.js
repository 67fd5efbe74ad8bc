// Starts `pipe lsp` as the language server of `.pipe` files: diagnostics
// as you type, hover, completion of columns and names, go to definition,
// the outline and formatting. `pipe.path` names the binary (default: the
// `pipe` on PATH).
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function activate() {
  const command = vscode.workspace.getConfiguration('pipe').get('path') || 'pipe';
  const server = { command, args: ['lsp'] };
  client = new LanguageClient('pipe', 'pipe language server', server, {
    documentSelector: [{ scheme: 'file', language: 'pipe' }],
  });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
