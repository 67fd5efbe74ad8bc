-- *.pipe files are pipe pipelines. An autocommand rather than
-- vim.filetype.add: Neovim 0.7 (Debian 12's) detects filetypes with
-- filetype.vim, which ignores vim.filetype.add.
vim.api.nvim_create_autocmd({ 'BufRead', 'BufNewFile' }, {
  group = vim.api.nvim_create_augroup('pipe_ftdetect', { clear = true }),
  pattern = '*.pipe',
  command = 'setfiletype pipe',
})
