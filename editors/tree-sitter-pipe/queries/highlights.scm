; Highlighting of `.pipe` files, with the standard capture names that
; Neovim, Helix and Zed map to their themes.

(identifier) @variable

(line_comment) @comment
(block_comment) @comment

(string) @string
(escape_sequence) @string.escape
(number) @number
(unit) @type.builtin
(boolean) @boolean
(inf) @constant.builtin

; Item keywords start items; the rest are control words and operators.
[
  "import"
  "let"
  "source"
  "stage"
  "split"
  "transform"
  "augment"
  "model"
  "train"
  "evaluate"
  "output"
] @keyword.storage.type

[
  "fit"
  "as"
  "on"
  "then"
  "in"
] @keyword

"for" @keyword.repeat

[
  "and"
  "or"
  "not"
] @keyword.operator

"|>" @operator
".." @operator
[
  "=="
  "!="
  "<="
  ">="
  "<"
  ">"
  "+"
  "-"
  "*"
  "/"
  "%"
  "="
] @operator

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  ":"
  "."
] @punctuation.delimiter

; Names an item declares.
(let_item name: (identifier) @constant)
(source_item name: (identifier) @function)
(stage_item name: (identifier) @function)
(split_item name: (identifier) @function)
(transform_item name: (identifier) @function)
(augment_item name: (identifier) @function)
(model_item name: (identifier) @type)
(train_item name: (identifier) @function)
(evaluate_item name: (identifier) @function)
(output_item name: (identifier) @function)
(import_item from: (module_path (identifier) @module))
(import_name name: (identifier) @function)
(import_name alias: (identifier) @function)

; Parameters and named arguments.
(parameter name: (identifier) @variable.parameter)
(type (identifier) @type)
(argument name: (identifier) @variable.parameter)
(setting key: (identifier) @property)
(record_field key: (identifier) @property)
(for_entry variable: (identifier) @variable)

; Calls: operations, layers, models, transforms.
(call function: (path (identifier) @function.call .))
(nested_step name: (path (identifier) @function.call .))
(step alias: (identifier) @variable)
(nested_step alias: (identifier) @variable)

