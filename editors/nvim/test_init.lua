-- Headless test of `pipe lsp` in a real Neovim (run by editors/test.sh):
--   nvim --headless -n -i NONE -u editors/nvim/test_init.lua </dev/null
-- with `pipe` on PATH. It loads editors/nvim as the README shows, opens a
-- copy of pipelines/people.pipe (and the data it reads) in a temporary
-- folder, and drives the server through Neovim's own LSP client:
-- diagnostics as a column is misspelt and fixed, completion, hover,
-- go to definition, formatting, and malformed notifications. Exits 0 when
-- every check holds; otherwise prints what failed to stderr and exits 1.
-- Works with Neovim 0.7 (Debian 12's) and later.

local timeout = 20000 -- ms; the first check of a file takes a few seconds

-- This file is editors/nvim/test_init.lua.
local nvim_dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local root = vim.fn.fnamemodify(nvim_dir, ':h:h')

-- The set-up of editors/README.md: the folder on the runtimepath
-- (ftdetect/pipe.lua, ftplugin/pipe.lua start the server).
vim.opt.runtimepath:prepend(nvim_dir)

local function fail(message, ...)
  error(string.format(message, ...), 0)
end

local function check(condition, message, ...)
  if not condition then
    fail(message, ...)
  end
end

-- Copy people.pipe to <tmp>/pipelines/ and its data to <tmp>/data/, so
-- that its `csv("../data/people.csv")` resolves as in the repository.
local function copy_example()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. '/pipelines', 'p')
  vim.fn.mkdir(dir .. '/data', 'p')
  for _, path in ipairs({ 'pipelines/people.pipe', 'data/people.csv' }) do
    check(vim.fn.writefile(vim.fn.readfile(root .. '/' .. path, 'b'), dir .. '/' .. path, 'b') == 0, 'cannot copy %s', path)
  end
  return dir
end

-- The pipe client attached to `buf` (get_active_clients takes no filter
-- in 0.7; get_clients replaces it in 0.10).
local function pipe_client(buf)
  for _, client in pairs((vim.lsp.get_clients or vim.lsp.get_active_clients)()) do
    if client.name == 'pipe' and vim.lsp.buf_is_attached(buf, client.id) then
      return client
    end
  end
end

-- Count the server's diagnostics publications for `uri`: after an edit,
-- waiting for the next one means the server has checked the new text.
local published = 0
local function count_publications(uri)
  local default = vim.lsp.handlers['textDocument/publishDiagnostics']
  vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
    if result and result.uri == uri then
      published = published + 1
    end
    return default(err, result, ctx, config)
  end
end

local function wait_for(what, predicate)
  check(vim.wait(timeout, predicate, 20), 'timed out (%d ms) waiting for %s', timeout, what)
end

-- Replace lines [first, last) (0-based) and wait until the server has
-- published diagnostics for the new text.
local function edit(buf, first, last, lines)
  local before = published
  vim.api.nvim_buf_set_lines(buf, first, last, true, lines)
  wait_for('diagnostics after an edit', function()
    return published > before
  end)
end

-- A request answered by the pipe server; fails on an error or no answer.
local function request(buf, method, params)
  local answers, err = vim.lsp.buf_request_sync(buf, method, params, timeout)
  check(answers, '%s: no answer (%s)', method, tostring(err))
  for _, answer in pairs(answers) do
    check(not answer.err, '%s: error %s', method, vim.inspect(answer.err))
    return answer.result
  end
  fail('%s: no answer', method)
end

-- 0-based line of the first line containing `text` (literally), and the
-- 0-based column of `text` in it (+ offset).
local function find(buf, text, offset)
  for index, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, true)) do
    local col = line:find(text, 1, true)
    if col then
      return index - 1, col - 1 + (offset or 0)
    end
  end
  fail('`%s` not found in the buffer (was pipelines/people.pipe edited?)', text)
end

local function position(buf, text, offset)
  local line, character = find(buf, text, offset)
  return { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = line, character = character } }
end

local function diagnostics_with_code(buf, code)
  return vim.tbl_filter(function(d)
    return d.code == code
  end, vim.diagnostic.get(buf))
end

local function hover_text(buf, text, offset)
  local hover = request(buf, 'textDocument/hover', position(buf, text, offset))
  check(hover and hover.contents, 'hover on `%s`: no answer', text)
  return type(hover.contents) == 'table' and (hover.contents.value or '') or hover.contents
end

local function main()
  local dir = copy_example()
  local file = dir .. '/pipelines/people.pipe'
  count_publications(vim.uri_from_fname(file))
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  check(vim.bo[buf].filetype == 'pipe', "filetype is '%s', expected 'pipe' (ftdetect/pipe.lua)", vim.bo[buf].filetype)

  -- The server starts, checks the file and finds nothing.
  wait_for('the pipe client to attach (ftplugin/pipe.lua)', function()
    return pipe_client(buf) ~= nil
  end)
  local client = pipe_client(buf)
  wait_for('the first diagnostics', function()
    return published > 0
  end)
  check(#vim.diagnostic.get(buf) == 0, 'people.pipe: unexpected diagnostics %s', vim.inspect(vim.diagnostic.get(buf)))

  -- A misspelt column in a filter: an unknown_column diagnostic at it.
  local original = 'filter(age >= 0)'
  local line = find(buf, original)
  local text = vim.api.nvim_buf_get_lines(buf, line, line + 1, true)[1]
  edit(buf, line, line + 1, { (text:gsub('filter%(age ', 'filter(agee ')) })
  local code = 'pipe::check::unknown_column'
  wait_for('a ' .. code .. ' diagnostic', function()
    return #diagnostics_with_code(buf, code) > 0
  end)
  local misspelt = diagnostics_with_code(buf, code)[1]
  local _, col = find(buf, 'agee')
  check(misspelt.lnum == line and misspelt.col == col, '%s at %d:%d, expected %d:%d', code, misspelt.lnum, misspelt.col, line, col)

  -- Malformed notifications (no document, a document never opened, an
  -- unknown method) change nothing: the server still answers and the
  -- diagnostic stays.
  client.notify('textDocument/didChange', { bogus = true })
  client.notify('textDocument/didChange', {
    textDocument = { uri = vim.uri_from_fname(dir .. '/never-opened.pipe'), version = 7 },
    contentChanges = { { text = 'source broken = csv(' } },
  })
  client.notify('pipe/noSuchNotification', { 1, 2, 3 })
  check(hover_text(buf, 'stage clean', 6):find('stage clean', 1, true), 'hover after malformed notifications: no schema of `clean`')
  vim.wait(500) -- time for a wrongly triggered publication to arrive
  check(not client.is_stopped(), 'the server stopped after malformed notifications')
  check(#diagnostics_with_code(buf, code) == 1, 'after malformed notifications, diagnostics are %s', vim.inspect(vim.diagnostic.get(buf)))

  -- Fixed: the diagnostic goes.
  edit(buf, line, line + 1, { text })
  wait_for('the diagnostics to clear', function()
    return #vim.diagnostic.get(buf) == 0
  end)

  -- Completion inside `filter(`: the columns of people.csv, in order.
  local completion = request(buf, 'textDocument/completion', position(buf, original, #'filter('))
  local labels = {}
  for _, item in ipairs(completion.items or completion) do
    table.insert(labels, item.label)
  end
  local header = vim.fn.readfile(dir .. '/data/people.csv', '', 1)[1]
  local next_label = 1
  for column in header:gmatch('"([^"]+)"') do
    while labels[next_label] and labels[next_label] ~= column do
      next_label = next_label + 1
    end
    check(labels[next_label], 'completion in filter(: column `%s` missing or out of order in %s', column, table.concat(labels, ' '))
  end

  -- Go to definition: `clean`, used by the split, is declared by the stage.
  local declared_line, declared_col = find(buf, 'stage clean', #'stage ')
  local definition = request(buf, 'textDocument/definition', position(buf, '= clean |>', 2))
  definition = definition and (definition[1] or definition) -- Location or Location[]
  check(definition and definition.range, 'definition of `clean`: none')
  local start = definition.range.start
  check(definition.uri == vim.uri_from_bufnr(buf) and start.line == declared_line and start.character == declared_col,
    'definition of `clean`: %s, expected line %d, column %d', vim.inspect(definition), declared_line, declared_col)

  -- Hover on a layer: its shapes. (people.pipe's model is std.models' mlp,
  -- whose layers are in another file: add a model here.)
  local last = vim.api.nvim_buf_line_count(buf)
  edit(buf, last, last, {
    '',
    'model small {',
    '    dense(8)',
    '    relu()',
    '    dense(2)',
    '}',
    '',
    'train fit_small = small on prep(train) {',
    '    target: label',
    '}',
  })
  check(#vim.diagnostic.get(buf) == 0, 'the added model: diagnostics %s', vim.inspect(vim.diagnostic.get(buf)))
  local shapes = hover_text(buf, 'dense(8)', 0)
  check(shapes:find('dense: [', 1, true) and shapes:find('-> [8]', 1, true), 'hover on dense(8): %s', shapes)

  -- Formatting: what `pipe fmt` writes for the same text.
  local let_line = find(buf, 'let seed = 42')
  edit(buf, let_line, let_line + 1, { 'let   seed=42' })
  local unformatted = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
  local expected_file = dir .. '/pipelines/formatted.pipe'
  vim.fn.writefile(unformatted, expected_file)
  local output = vim.fn.system({ 'pipe', 'fmt', expected_file })
  check(vim.v.shell_error == 0, 'pipe fmt failed: %s', output)
  local expected = table.concat(vim.fn.readfile(expected_file), '\n')
  check(expected ~= table.concat(unformatted, '\n'), 'pipe fmt changed nothing: the test needs unformatted text')
  local edits = request(buf, 'textDocument/formatting', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    options = { tabSize = 4, insertSpaces = true },
  })
  check(edits and #edits > 0, 'formatting: no edits')
  vim.lsp.util.apply_text_edits(edits, buf, client.offset_encoding or 'utf-16')
  local formatted = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), '\n')
  check(formatted == expected, 'formatting differs from pipe fmt:\n--- formatting\n%s\n--- pipe fmt\n%s', formatted, expected)

  vim.fn.delete(dir, 'rf')
end

-- After start-up, when filetype detection is on; `nested` so that opening
-- the file runs its autocommands (filetype detection, ftplugin).
vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  nested = true,
  callback = function()
    local ok, err = xpcall(main, debug.traceback)
    if ok then
      io.stdout:write('nvim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor)
        .. ': pipe lsp checks passed (diagnostics, malformed notifications, completion, definition, hover, formatting)\n')
      vim.cmd('qall!')
    else
      io.stderr:write('nvim pipe lsp test FAILED: ' .. tostring(err) .. '\n')
      vim.cmd('cquit 1')
    end
  end,
})
