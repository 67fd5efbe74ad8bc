; Scopes and definitions, for editors that resolve names (go to the
; declaration of an item, or of a parameter inside a model or recipe).

(program) @local.scope
(model_item) @local.scope
(transform_item) @local.scope
(for_entry) @local.scope

(let_item name: (identifier) @local.definition)
(source_item name: (identifier) @local.definition)
(stage_item name: (identifier) @local.definition)
(split_item name: (identifier) @local.definition)
(transform_item name: (identifier) @local.definition)
(augment_item name: (identifier) @local.definition)
(model_item name: (identifier) @local.definition)
(train_item name: (identifier) @local.definition)
(evaluate_item name: (identifier) @local.definition)
(output_item name: (identifier) @local.definition)
(import_name name: (identifier) @local.definition)
(import_name alias: (identifier) @local.definition)
(parameter name: (identifier) @local.definition)
(for_entry variable: (identifier) @local.definition)

(path . (identifier) @local.reference)
