" Vim syntax file for .pipe machine-learning pipelines.
if exists("b:current_syntax")
  finish
endif

syn keyword pipeItem import let source stage split transform augment model train evaluate output
syn keyword pipeKeyword fit as on then for in
syn keyword pipeLogical and or not
syn keyword pipeBoolean true false
syn keyword pipeConstant inf
syn match pipeNumber "\<\d[0-9_]*\(\.\d[0-9_]*\)\=\([eE][+-]\=\d\+\)\=\(deg\|rad\|ms\|min\|s\|h\)\=\>"
syn match pipeOperator "|>\|\.\.\|==\|!=\|<=\|>=\|[-+*/%<>=]"
syn match pipeCall "\<[A-Za-z_][A-Za-z0-9_.]*\ze("
syn match pipeNamedArg "\<[A-Za-z_][A-Za-z0-9_]*\ze\s*:"
syn region pipeString start=+"+ skip=+\\\\\|\\"+ end=+"+ contains=pipeEscape
syn match pipeEscape "\\[\\\"nrt0]" contained
syn match pipeLineComment "//.*$"
syn region pipeBlockComment start="/\*" end="\*/" contains=pipeBlockComment

hi def link pipeItem Structure
hi def link pipeKeyword Keyword
hi def link pipeLogical Operator
hi def link pipeBoolean Boolean
hi def link pipeConstant Constant
hi def link pipeNumber Number
hi def link pipeOperator Operator
hi def link pipeCall Function
hi def link pipeNamedArg Identifier
hi def link pipeString String
hi def link pipeEscape SpecialChar
hi def link pipeLineComment Comment
hi def link pipeBlockComment Comment

let b:current_syntax = "pipe"
