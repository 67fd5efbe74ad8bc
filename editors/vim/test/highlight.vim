" Headless test of the Vim syntax in a real Vim (run by editors/test.sh):
"   vim -Nu NONE -i NONE -n -es -S editors/vim/test/highlight.vim </dev/null
" Loads editors/vim the way a user installs it (runtimepath, then filetype
" detection and syntax), opens example pipelines and checks the highlight
" group at chosen places. Exits 0 when every check holds; otherwise prints
" each failure (where, expected, actual) and exits 1 (`cquit`).

" This file is editors/vim/test/highlight.vim: the plugin is two folders up.
let s:vim_dir = fnamemodify(expand('<sfile>:p'), ':h:h')
let s:root = fnamemodify(s:vim_dir, ':h:h')
let s:failures = []

" Silent Ex mode shows only what `:print` prints (on stdout; `:echo` is
" silent, and writefile() to /dev/stderr may be overwritten in a log file
" by later output): the report goes into a new buffer, printed from there.
function! s:Say(lines) abort
  new
  call setline(1, a:lines)
  %print
endfunction

" Find `text` (literally) in `file`, then check the syntax group of the
" character `offset` bytes into it: `group` is the pipe syntax group (what
" syntax/pipe.vim matched), `linked` the standard group it links to (what
" colour schemes colour; synIDtrans() would follow the default colours'
" own links further, e.g. Structure to Type).
function! s:Check(file, text, offset, group, linked) abort
  let path = s:root . '/' . a:file
  " Open each file once: after a reload (`:edit` of the current file, Vim
  " 9.0), synID() answered a second column of the same line with the group
  " it had found at the first.
  if expand('%:p') !=# path
    execute 'edit ' . fnameescape(path)
  endif
  if &filetype !=# 'pipe'
    call add(s:failures, a:file . ": filetype is '" . &filetype . "', expected 'pipe' (ftdetect/pipe.vim)")
    return
  endif
  call cursor(1, 1)
  let [line, col] = searchpos('\V' . escape(a:text, '\'), 'cW')
  if line == 0
    call add(s:failures, a:file . ': `' . a:text . '` not found (was the example edited?)')
    return
  endif
  let col += a:offset
  let id = synID(line, col, 1)
  let actual = synIDattr(id, 'name')
  let actual_linked = empty(actual) ? '' : matchstr(execute('highlight ' . actual), 'links to \zs\w\+')
  if actual !=# a:group || actual_linked !=# a:linked
    call add(s:failures, printf('%s:%d:%d (`%s`, +%d): expected %s -> %s, got %s -> %s',
          \ a:file, line, col, a:text, a:offset, a:group, a:linked,
          \ empty(actual) ? '(none)' : actual, empty(actual_linked) ? '(none)' : actual_linked))
  endif
endfunction

try
  " As a user's ~/.vim would: the plugin folder on the runtimepath, then
  " filetype detection (reads ftdetect/) and syntax.
  let &runtimepath = s:vim_dir . ',' . &runtimepath
  filetype on
  syntax on

  " Item keywords.
  call s:Check('pipelines/people.pipe', 'source people', 0, 'pipeItem', 'Structure')
  call s:Check('pipelines/people.pipe', 'train fit_net', 0, 'pipeItem', 'Structure')
  " Other keywords: `on` between a model and its data.
  call s:Check('pipelines/people.pipe', 'net on prep', 4, 'pipeKeyword', 'Keyword')
  " A string, at its opening quote and inside.
  call s:Check('pipelines/people.pipe', '"../data/people.csv"', 0, 'pipeString', 'String')
  call s:Check('pipelines/people.pipe', '"../data/people.csv"', 5, 'pipeString', 'String')
  " Numbers: plain, and the unit of `12deg` is part of the number.
  call s:Check('pipelines/people.pipe', 'seed = 42', 7, 'pipeNumber', 'Number')
  call s:Check('pipelines/digits.pipe', 'rotate(12deg)', 7, 'pipeNumber', 'Number')
  call s:Check('pipelines/digits.pipe', 'rotate(12deg)', 10, 'pipeNumber', 'Number')
  " Comments: a whole-line one and one after code.
  call s:Check('pipelines/people.pipe', '// Everything learned', 3, 'pipeLineComment', 'Comment')
  call s:Check('pipelines/people.pipe', '// schema read', 5, 'pipeLineComment', 'Comment')
  " The pipeline operator, both characters.
  call s:Check('pipelines/people.pipe', 'people |> drop_nulls', 7, 'pipeOperator', 'Operator')
  call s:Check('pipelines/people.pipe', 'people |> drop_nulls', 8, 'pipeOperator', 'Operator')
  " A call and a named argument.
  call s:Check('pipelines/people.pipe', 'drop_nulls(income)', 0, 'pipeCall', 'Function')
  call s:Check('pipelines/people.pipe', 'stratify: label', 0, 'pipeNamedArg', 'Identifier')
catch
  call add(s:failures, 'error in the test: ' . v:exception . ' (' . v:throwpoint . ')')
endtry

if empty(s:failures)
  call s:Say(['vim: syntax highlighting checks passed'])
  qall!
endif
call s:Say(map(s:failures, '"vim highlight test FAILED: " . v:val'))
cquit
