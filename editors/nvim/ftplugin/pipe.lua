-- For each pipe buffer, start `pipe lsp` (`pipe` on PATH) with Neovim's
-- built-in client, or attach the buffer to the one already running for
-- its folder: diagnostics, completion, hover, go to definition, outline
-- and formatting (`pipe lsp` in editors/README.md).
local bufnr = vim.api.nvim_get_current_buf()
local name = vim.api.nvim_buf_get_name(bufnr)
if name == '' then
  return -- an unnamed buffer: no folder to resolve its relative paths from
end
local config = { name = 'pipe', cmd = { 'pipe', 'lsp' }, root_dir = vim.fn.fnamemodify(name, ':p:h') }

if vim.lsp.start then
  -- Neovim 0.8+: reuses a client with the same name and root_dir.
  vim.lsp.start(config)
  return
end
-- Neovim 0.7 (Debian 12's) has no vim.lsp.start: the same by hand.
for _, client in pairs(vim.lsp.get_active_clients()) do
  if client.name == config.name and client.config.root_dir == config.root_dir then
    vim.lsp.buf_attach_client(bufnr, client.id)
    return
  end
end
local client_id = vim.lsp.start_client(config)
if client_id then
  vim.lsp.buf_attach_client(bufnr, client_id)
end
