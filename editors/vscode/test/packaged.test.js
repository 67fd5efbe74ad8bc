// The packaged extension loads: requires the extension.js inside an
// unpacked .vsix (argument: the folder it was unpacked into), so that its
// `vscode-languageclient/node`, and all that it needs, resolve from the
// package's own node_modules (a dependency left out by vsce or
// .vscodeignore fails here, not in a user's VS Code). `vscode` itself is a
// stub whose every member is an empty class: vscode-languageclient only
// subclasses a few of them at load time.
const assert = require('node:assert/strict');
const Module = require('node:module');
const path = require('node:path');

const stub = new Proxy({}, { get: (_, key) => (key === 'then' ? undefined : class {}) });
const realLoad = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? stub : realLoad.call(this, request, ...rest);
};

const unpacked = process.argv[2];
assert.ok(unpacked, 'usage: node test/packaged.test.js <unpacked .vsix folder>');
const extension = require(path.resolve(unpacked, 'extension', 'extension.js'));
assert.equal(typeof extension.activate, 'function');
assert.equal(typeof extension.deactivate, 'function');
const client = require.cache[require.resolve(path.resolve(unpacked, 'extension', 'node_modules', 'vscode-languageclient', 'node.js'))];
assert.ok(client, 'extension.js loaded the packaged vscode-languageclient');
console.log('vscode extension: the packaged extension.js loads with its bundled vscode-languageclient');
