// Starts `pipe lsp` as the language server of `.pipe` files: diagnostics
// as you type, hover, completion of columns and names, go to definition,
// the outline and formatting. `pipe.path` names the binary (default: the
// `pipe` on PATH); changing it restarts the server.
//
// Tested without VS Code (which CI cannot download) by
// test/activation.test.js, which stands in fakes for `vscode` and
// `vscode-languageclient/node`.
const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;
// Starts and stops run one after another, so that quick successive setting
// changes never leave two servers running; a failed step (a server that
// would not start) does not hold up the next.
let queue = Promise.resolve();
function enqueue(step) {
  queue = queue.catch(() => {}).then(step);
  return queue;
}

function isExecutableFile(file) {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The binary `setting` names, or undefined: a value with a directory part
// is taken as a path (`~/` expanded); a bare name is looked for in each PATH
// entry (with PATHEXT's extensions on Windows), as the shell would. Checked
// here because the language client's own error for a missing binary does
// not say which setting to fix.
function resolveBinary(setting) {
  if (setting === '~' || setting.startsWith('~/')) setting = path.join(os.homedir(), setting.slice(1));
  const extensions = process.platform === 'win32' ? ['', ...(process.env.PATHEXT || '.EXE').split(';')] : [''];
  const dirs = setting.includes('/') || setting.includes(path.sep) ? [''] : (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    for (const ext of extensions) {
      const candidate = dir ? path.join(dir, setting + ext) : setting + ext;
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

async function start() {
  let setting = vscode.workspace.getConfiguration('pipe').get('path') || 'pipe';
  // A relative path (`./target/release/pipe`) is the workspace's, as the
  // language client resolved it before this check existed.
  const folder = (vscode.workspace.workspaceFolders || [])[0];
  if (folder && setting.startsWith('.') && (setting.includes('/') || setting.includes(path.sep))) {
    setting = path.join(folder.uri.fsPath, setting);
  }
  const command = resolveBinary(setting);
  if (!command) {
    const tried = setting.includes('/') || setting.includes(path.sep) ? `\`${setting}\` is not an executable file` : `\`${setting}\` was not found on PATH`;
    vscode.window.showErrorMessage(
      `pipe: cannot start the language server: ${tried}. Install pipe, or set \`pipe.path\` to the pipe binary.`,
    );
    return;
  }
  client = new LanguageClient('pipe', 'pipe language server', { command, args: ['lsp'] }, {
    documentSelector: [{ scheme: 'file', language: 'pipe' }],
  });
  try {
    await client.start();
  } catch (error) {
    // A binary that is not pipe, or exits at once: say so, once, and leave
    // the extension active so that fixing `pipe.path` restarts it.
    client = undefined;
    vscode.window.showErrorMessage(`pipe: the language server \`${command} lsp\` did not start: ${error && error.message ? error.message : error}. Check \`pipe.path\`.`);
  }
}

async function stop() {
  const old = client;
  client = undefined;
  if (old) {
    // A server that already died must not keep its successor from starting.
    try {
      await old.stop();
    } catch {}
  }
}

function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('pipe.path')) return undefined;
      return enqueue(() => stop().then(start));
    }),
  );
  return enqueue(start);
}

function deactivate() {
  return enqueue(stop);
}

module.exports = { activate, deactivate };
