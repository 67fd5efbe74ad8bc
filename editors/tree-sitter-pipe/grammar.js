/**
 * @file Tree-sitter grammar of `.pipe` files: declarative, checked
 * machine-learning pipelines.
 *
 * It follows `grammar/pipe.pest` (the grammar `pipe` itself parses with):
 * the same items, blocks, expressions, operator precedence and tokens.
 * Item keywords (`source`, `train`, ...) are keywords only at the start of
 * an item, so data may be called `train`, as in pest.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// From the loosest to the tightest, as in pipe.pest.
const PREC = {
  then: 1,
  pipe: 2,
  or: 3,
  and: 4,
  not: 5,
  compare: 6,
  range: 7,
  add: 8,
  mul: 9,
  neg: 10,
  call: 11,
};

/** @param {RuleOrLiteral} rule */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)), optional(','));
}

/** @param {RuleOrLiteral} rule */
function commaSep(rule) {
  return optional(commaSep1(rule));
}

module.exports = grammar({
  name: 'pipe',

  extras: $ => [/\s/, $.line_comment, $.block_comment],

  externals: $ => [$.block_comment],

  word: $ => $.identifier,

  rules: {
    program: $ => repeat($._item),

    _item: $ => choice(
      $.import_item,
      $.let_item,
      $.source_item,
      $.stage_item,
      $.split_item,
      $.transform_item,
      $.augment_item,
      $.model_item,
      $.train_item,
      $.evaluate_item,
      $.output_item,
    ),

    // import std.models { mlp }    import "lib.pipe" { prep as shared }
    import_item: $ => seq(
      'import',
      field('from', choice($.string, $.module_path)),
      '{', commaSep1($.import_name), '}',
    ),
    module_path: $ => seq($.identifier, repeat(seq(token.immediate('.'), alias($._immediate_identifier, $.identifier)))),
    import_name: $ => seq(field('name', $.identifier), optional(seq('as', field('alias', $.identifier)))),

    let_item: $ => seq('let', field('name', $.identifier), '=', field('value', $._expr)),
    source_item: $ => seq('source', field('name', $.identifier), '=', field('value', $._expr)),
    stage_item: $ => seq('stage', field('name', $.identifier), '=', field('value', $._expr)),
    split_item: $ => seq(
      'split',
      field('name', $.identifier), repeat(seq(',', field('name', $.identifier))),
      '=', field('value', $._expr),
    ),

    // transform prep = fit(train) { ... }    transform recipe(cols) { ... }
    transform_item: $ => seq(
      'transform',
      field('name', $.identifier),
      choice(seq('=', 'fit', '(', field('fit_on', $._expr), ')'), field('parameters', $.parameters)),
      field('body', $.block),
    ),

    augment_item: $ => seq('augment', field('name', $.identifier), field('body', $.block)),

    model_item: $ => seq(
      'model',
      field('name', $.identifier),
      choice(
        seq('=', field('value', $._expr)),
        seq(optional(field('parameters', $.parameters)), field('body', $.block)),
      ),
    ),
    parameters: $ => seq('(', commaSep($.parameter), ')'),
    parameter: $ => seq(
      field('name', $.identifier),
      optional(seq(':', field('type', $.type))),
      optional(seq('=', field('default', $._expr))),
    ),
    type: $ => seq($.identifier, optional(seq('[', commaSep1($.type), ']'))),

    train_item: $ => seq(
      'train', field('name', $.identifier), '=', field('model', $._expr),
      'on', field('data', $._expr), field('body', $.block),
    ),

    evaluate_item: $ => prec.right(seq(
      'evaluate',
      optional(seq(field('name', $.identifier), '=')),
      field('run', $._expr), 'on', field('data', $._expr),
      optional(field('body', $.block)),
    )),

    output_item: $ => prec.right(seq(
      'output',
      optional(seq(field('name', $.identifier), '=')),
      field('value', $._expr),
    )),

    // -- blocks ----------------------------------------------------------------

    block: $ => seq('{', repeat(seq($._entry, optional(','))), '}'),

    _entry: $ => choice($.for_entry, $.setting, $.nested_step, $.step),

    for_entry: $ => seq('for', field('variable', $.identifier), 'in', field('values', $._expr), field('body', $.block)),

    setting: $ => seq(field('key', $._word), ':', field('value', $._expr)),

    // `residual { ... }`: a step with a body (a name followed by a record
    // would be two entries; the body wins, as in pest).
    nested_step: $ => prec.right(1, seq(
      field('name', $.path),
      optional(field('arguments', $.arguments)),
      field('body', $.block),
      optional(seq('as', field('alias', $.identifier))),
    )),

    step: $ => prec.right(seq(field('value', $._expr), optional(seq('as', field('alias', $.identifier))))),

    // -- expressions -----------------------------------------------------------

    _expr: $ => choice(
      $.binary_expression,
      $.unary_expression,
      $._primary,
    ),

    binary_expression: $ => choice(
      prec.left(PREC.then, seq(field('left', $._expr), field('operator', 'then'), field('right', $._expr))),
      prec.left(PREC.pipe, seq(field('left', $._expr), field('operator', '|>'), field('right', $._expr))),
      prec.left(PREC.or, seq(field('left', $._expr), field('operator', 'or'), field('right', $._expr))),
      prec.left(PREC.and, seq(field('left', $._expr), field('operator', 'and'), field('right', $._expr))),
      prec.left(PREC.compare, seq(
        field('left', $._expr),
        field('operator', choice('==', '!=', '<=', '>=', '<', '>')),
        field('right', $._expr),
      )),
      prec.left(PREC.range, seq(field('left', $._expr), field('operator', '..'), field('right', $._expr))),
      prec.left(PREC.add, seq(field('left', $._expr), field('operator', choice('+', '-')), field('right', $._expr))),
      prec.left(PREC.mul, seq(field('left', $._expr), field('operator', choice('*', '/', '%')), field('right', $._expr))),
    ),

    unary_expression: $ => choice(
      prec(PREC.not, seq(field('operator', 'not'), field('operand', $._expr))),
      prec(PREC.neg, seq(field('operator', '-'), field('operand', $._expr))),
    ),

    _primary: $ => choice(
      $.number,
      $.string,
      $.boolean,
      $.inf,
      $.list,
      $.record,
      $.call,
      $.path,
      $.parenthesized,
    ),

    parenthesized: $ => seq('(', $._expr, ')'),

    // The `(` follows the name directly, as in pest.
    call: $ => prec(PREC.call, seq(field('function', $.path), field('arguments', $.arguments))),
    arguments: $ => seq(token.immediate('('), commaSep($.argument), ')'),
    argument: $ => seq(optional(seq(field('name', $._word), ':')), field('value', $._expr)),

    list: $ => seq('[', commaSep($._expr), ']'),

    record: $ => seq('{', commaSep($.record_field), '}'),
    record_field: $ => seq(field('key', $._word), ':', field('value', $._expr)),

    // `val.loss`, `std.models`: no spaces around the dots.
    path: $ => seq($.identifier, repeat(seq(token.immediate('.'), alias($._immediate_identifier, $.identifier)))),

    // -- tokens ----------------------------------------------------------------

    // 42, 0.5, 1e-3, 1_000_000, 20deg, 0.5rad, 5ms, 30s, 10min, 2h
    number: $ => seq(
      /\d(_?\d)*(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?/,
      optional(alias(token.immediate(choice('deg', 'rad', 'ms', 'min', 's', 'h')), $.unit)),
    ),

    string: $ => seq(
      '"',
      repeat(choice(token.immediate(prec(1, /[^"\\\n]+/)), $.escape_sequence)),
      token.immediate('"'),
    ),
    escape_sequence: _ => token.immediate(seq('\\', choice(/["\\ntr0]/, /u\{[0-9a-fA-F]{1,6}\}/))),

    boolean: _ => choice('true', 'false'),
    inf: _ => 'inf',

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,
    _immediate_identifier: _ => token.immediate(/[A-Za-z_][A-Za-z0-9_]*/),

    // Setting keys and argument names may be any word, keywords included
    // (`patience(3, on: val.loss)`).
    _word: $ => choice(
      $.identifier,
      alias(choice('on', 'in', 'as', 'for', 'then', 'and', 'or', 'not'), $.identifier),
    ),

    line_comment: _ => token(seq('//', /[^\n]*/)),
  },
});
