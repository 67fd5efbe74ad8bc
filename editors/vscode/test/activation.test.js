// extension.js's activation, without VS Code (which CI cannot download):
// `vscode` and `vscode-languageclient/node` are fakes, served by
// intercepting Module._load, that record what the extension asks of them.
// Run with plain `node test/activation.test.js` (editors/test.sh does);
// exits non-zero on the first failed assertion.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');

const fake = {
  settings: {}, // `pipe.path` and the like
  errors: [], // showErrorMessage's messages
  clients: [], // every LanguageClient made
  listeners: [], // onDidChangeConfiguration callbacks
};

class FakeLanguageClient {
  constructor(id, name, server, options) {
    Object.assign(this, { id, name, server, options, started: false, stopped: false });
    fake.clients.push(this);
  }
  start() {
    this.started = true;
    // A binary that is not pipe: the start fails.
    if (this.server.command.endsWith('not-pipe')) return Promise.reject(new Error('the server exited'));
    return Promise.resolve();
  }
  stop() {
    this.stopped = true;
    return Promise.resolve();
  }
}

const fakeVscode = {
  workspace: {
    get workspaceFolders() {
      return fake.folder ? [{ uri: { fsPath: fake.folder } }] : undefined;
    },
    getConfiguration: (section) => ({ get: (key) => fake.settings[`${section}.${key}`] }),
    onDidChangeConfiguration(listener) {
      fake.listeners.push(listener);
      return { dispose() {} };
    },
  },
  window: {
    showErrorMessage(message) {
      fake.errors.push(message);
      return Promise.resolve(undefined);
    },
  },
};

const realLoad = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'vscode') return fakeVscode;
  if (request === 'vscode-languageclient/node') return { LanguageClient: FakeLanguageClient };
  return realLoad.call(this, request, ...rest);
};

// A fresh copy of the extension (its module state) and of the fakes' records.
function freshExtension(settings, folder) {
  Object.assign(fake, { settings, folder, errors: [], clients: [], listeners: [] });
  const file = require.resolve('../extension.js');
  delete require.cache[file];
  return require(file);
}

const changed = (...sections) => ({ affectsConfiguration: (s) => sections.includes(s) });

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pipe-vscode-test-'));
const script = path.join(scratch, 'pipe');
fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const notExecutable = path.join(scratch, 'not-executable');
fs.writeFileSync(notExecutable, '', { mode: 0o644 });
const notPipe = path.join(scratch, 'not-pipe');
fs.writeFileSync(notPipe, '#!/bin/sh\nexit 1\n', { mode: 0o755 });

async function main() {
  const savedPath = process.env.PATH;
  try {
    // A missing binary, named by path: an error naming it and the setting,
    // and no client.
    const missing = path.join(scratch, 'no', 'such', 'pipe');
    let ext = freshExtension({ 'pipe.path': missing });
    await ext.activate({ subscriptions: [] });
    assert.equal(fake.clients.length, 0, 'no client starts without a binary');
    assert.equal(fake.errors.length, 1);
    assert.ok(fake.errors[0].includes(missing), `the error names the path: ${fake.errors[0]}`);
    assert.ok(fake.errors[0].includes('pipe.path'), `the error names the setting: ${fake.errors[0]}`);

    // A file that is not executable counts as missing.
    ext = freshExtension({ 'pipe.path': notExecutable });
    await ext.activate({ subscriptions: [] });
    assert.equal(fake.clients.length, 0);
    assert.ok(fake.errors[0]?.includes(notExecutable));

    // The default `pipe`, not on PATH: the error says PATH and the setting.
    process.env.PATH = path.join(scratch, 'empty');
    ext = freshExtension({});
    await ext.activate({ subscriptions: [] });
    assert.equal(fake.clients.length, 0);
    assert.match(fake.errors[0] ?? '', /`pipe` was not found on PATH.*pipe\.path/);

    // The default `pipe`, found on PATH: `<that file> lsp` starts.
    process.env.PATH = [path.join(scratch, 'empty'), scratch].join(path.delimiter);
    ext = freshExtension({});
    const subscriptions = [];
    await ext.activate({ subscriptions });
    assert.deepEqual(fake.errors, []);
    assert.equal(fake.clients.length, 1);
    assert.deepEqual(fake.clients[0].server, { command: script, args: ['lsp'] });
    assert.ok(fake.clients[0].started);
    assert.equal(subscriptions.length, 1, 'the configuration listener is disposed with the extension');

    // Other settings changing leave the server alone.
    fake.settings['pipe.path'] = '/bin/true';
    await fake.listeners[0](changed('editor.tabSize'));
    assert.equal(fake.clients.length, 1);
    assert.ok(!fake.clients[0].stopped);

    // `pipe.path` changing: the old client stops, one on the new binary starts.
    await fake.listeners[0](changed('pipe', 'pipe.path'));
    assert.ok(fake.clients[0].stopped, 'the old client stops');
    assert.equal(fake.clients.length, 2);
    assert.deepEqual(fake.clients[1].server, { command: '/bin/true', args: ['lsp'] });
    assert.ok(fake.clients[1].started && !fake.clients[1].stopped);

    // Changed to a missing binary: the old client stops, the error shows.
    fake.settings['pipe.path'] = missing;
    await fake.listeners[0](changed('pipe.path'));
    assert.ok(fake.clients[1].stopped);
    assert.equal(fake.clients.length, 2);
    assert.ok(fake.errors[0]?.includes(missing));

    // Deactivation stops the running client.
    fake.settings['pipe.path'] = script;
    await fake.listeners[0](changed('pipe.path'));
    assert.equal(fake.clients.length, 3);
    await ext.deactivate();
    assert.ok(fake.clients[2].stopped, 'deactivate stops the client');

    // A relative path is the workspace folder's.
    ext = freshExtension({ 'pipe.path': './pipe' }, scratch);
    await ext.activate({ subscriptions: [] });
    assert.deepEqual(fake.errors, []);
    assert.deepEqual(fake.clients[0]?.server, { command: script, args: ['lsp'] }, 'found in the workspace folder');

    // A binary whose server does not start: activation still succeeds, the
    // error names the command and the setting.
    ext = freshExtension({ 'pipe.path': notPipe });
    await ext.activate({ subscriptions: [] });
    assert.equal(fake.errors.length, 1);
    assert.ok(fake.errors[0].includes(notPipe) && fake.errors[0].includes('pipe.path'), fake.errors[0]);
  } finally {
    process.env.PATH = savedPath;
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  console.log('vscode extension: activation, missing binary, pipe.path restart and deactivation pass');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
