//! Property test: random ASTs, printed by the formatter, parse back to the
//! same tree (spans aside). This checks the grammar, the lowering and the
//! formatter against each other on programs no one would write by hand.

use pipe::source::{FileId, Span};
use pipe::syntax::ast::*;
use pipe::syntax::{self, lex::Comment};
use proptest::prelude::*;

const RESERVED: [&str; 11] = ["as", "on", "then", "for", "in", "and", "or", "not", "true", "false", "inf"];

fn sp() -> Span {
    Span::default()
}

fn ident_named(name: String) -> Ident {
    Ident { name, span: sp() }
}

/// A name that is not reserved.
fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not reserved", |n| !RESERVED.contains(&n.as_str()))
}

fn ident() -> BoxedStrategy<Ident> {
    name().prop_map(ident_named).boxed()
}

/// Setting keys and argument names may be any word, reserved or not.
fn word() -> impl Strategy<Value = Ident> {
    prop_oneof![ident(), prop::sample::select(RESERVED.to_vec()).prop_map(|w| ident_named(w.to_owned()))]
}

fn path() -> impl Strategy<Value = Path> {
    prop::collection::vec(ident(), 1..3).prop_map(|parts| Path { parts, span: sp() })
}

fn number() -> impl Strategy<Value = NumberLit> {
    let text = prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        (1u32..10, -20i32..20).prop_map(|(m, e)| format!("{m}e{e}")),
        (1u32..1000).prop_map(|n| format!("{n}_000")),
    ];
    let unit = prop_oneof![Just(None), prop::sample::select(Unit::ALL.map(|(u, _)| u).to_vec()).prop_map(Some)];
    (text, unit).prop_map(|(text, unit)| {
        let plain: String = text.chars().filter(|c| *c != '_').collect();
        NumberLit {
            value: plain.parse().expect("generated numbers parse"),
            is_int: !text.contains(['.', 'e']),
            text,
            unit,
        }
    })
}

fn expr_of(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        number().prop_map(|n| expr_of(ExprKind::Number(n))),
        any::<String>().prop_map(|value| expr_of(ExprKind::String(StringLit { value, span: sp() }))),
        any::<bool>().prop_map(|value| expr_of(ExprKind::Bool { value })),
        Just(expr_of(ExprKind::Inf)),
        path().prop_map(|p| expr_of(ExprKind::Path(p))),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    use BinaryOp::*;
    prop::sample::select(vec![Or, And, Eq, Ne, Lt, Le, Gt, Ge, Range, Add, Sub, Mul, Div, Rem])
}

fn call_of(inner: impl Strategy<Value = Expr> + Clone) -> impl Strategy<Value = Call> {
    let arg = (prop::option::of(word()), inner).prop_map(|(name, value)| Arg { name, value });
    (path(), prop::collection::vec(arg, 0..4)).prop_map(|(callee, args)| Call { callee, args })
}

/// A pipeline stage: a call or a name.
fn stage_of(inner: impl Strategy<Value = Expr> + Clone) -> impl Strategy<Value = Expr> {
    prop_oneof![
        call_of(inner).prop_map(|c| expr_of(ExprKind::Call(c))),
        path().prop_map(|p| expr_of(ExprKind::Path(p)))
    ]
}

fn expr() -> BoxedStrategy<Expr> {
    leaf()
        .prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| expr_of(ExprKind::List { items })),
                prop::collection::vec((word(), inner.clone()), 0..3).prop_map(|fields| expr_of(ExprKind::Record {
                    fields: fields.into_iter().map(|(key, value)| Field { key, value }).collect()
                })),
                call_of(inner.clone()).prop_map(|c| expr_of(ExprKind::Call(c))),
                (prop::sample::select(vec![UnaryOp::Neg, UnaryOp::Not]), inner.clone())
                    .prop_map(|(op, operand)| expr_of(ExprKind::Unary { op, operand: Box::new(operand) })),
                (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, lhs, rhs)| expr_of(ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs)
                })),
                (inner.clone(), prop::collection::vec(stage_of(inner.clone()), 1..4))
                    .prop_map(|(input, stages)| expr_of(ExprKind::Pipeline { input: Box::new(input), stages })),
                prop::collection::vec(inner.clone(), 2..4).prop_map(|phases| expr_of(ExprKind::Then { phases })),
            ]
        })
        .boxed()
}

fn entry_of(block: impl Strategy<Value = Block> + Clone) -> impl Strategy<Value = Entry> {
    let alias = prop::option::of(ident());
    let kind = prop_oneof![
        (word(), expr()).prop_map(|(key, value)| EntryKind::Setting { key, value }),
        (stage_of(expr()), alias.clone()).prop_map(|(expr, alias)| EntryKind::Step { expr, alias }),
        (
            path(),
            prop::option::of(prop::collection::vec(
                (prop::option::of(word()), expr()).prop_map(|(name, value)| Arg { name, value }),
                0..3
            )),
            block.clone(),
            alias
        )
            .prop_map(|(name, args, body, alias)| EntryKind::Nested { name, args, body, alias }),
        (ident(), expr(), block).prop_map(|(var, iter, body)| EntryKind::For { var, iter, body }),
    ];
    kind.prop_map(|kind| Entry { kind, span: sp() })
}

fn block() -> impl Strategy<Value = Block> {
    let empty = Just(Block { entries: vec![], span: sp() });
    empty.prop_recursive(3, 12, 4, |inner| {
        prop::collection::vec(entry_of(inner), 0..4).prop_map(|entries| Block { entries, span: sp() })
    })
}

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    let leaf = ident().prop_map(|name| TypeExpr { name, args: vec![], span: sp() });
    leaf.prop_recursive(2, 4, 2, |inner| {
        (ident(), prop::collection::vec(inner, 1..3)).prop_map(|(name, args)| TypeExpr { name, args, span: sp() })
    })
}

fn item_kind() -> impl Strategy<Value = ItemKind> {
    let binding = || (ident(), expr()).prop_map(|(name, value)| Binding { name, value });
    let import_name = (ident(), prop::option::of(ident())).prop_map(|(name, alias)| ImportName { name, alias });
    let import_from = prop_oneof![
        prop::collection::vec(ident(), 1..3).prop_map(ImportSource::Module),
        "[a-z/._]{1,12}".prop_map(|value| ImportSource::File(StringLit { value, span: sp() })),
    ];
    let param = || {
        (ident(), prop::option::of(type_expr()), prop::option::of(expr())).prop_map(|(name, ty, default)| Param {
            name,
            ty,
            default,
        })
    };
    let model = prop_oneof![
        (ident(), expr()).prop_map(|(name, e)| ModelItem { name, params: None, body: ModelBody::Expr(e) }),
        (ident(), prop::option::of(prop::collection::vec(param(), 0..3)), block())
            .prop_map(|(name, params, b)| ModelItem { name, params, body: ModelBody::Layers(b) }),
    ];
    prop_oneof![
        (import_from, prop::collection::vec(import_name, 1..3))
            .prop_map(|(from, names)| ItemKind::Import(Import { from, names })),
        binding().prop_map(ItemKind::Let),
        binding().prop_map(ItemKind::Source),
        binding().prop_map(ItemKind::Stage),
        (prop::collection::vec(ident(), 2..4), expr()).prop_map(|(names, value)| ItemKind::Split(SplitItem {
            names,
            value,
            folds: None
        })),
        (ident(), expr(), block()).prop_map(|(name, fit_on, body)| ItemKind::Transform(TransformItem {
            name,
            form: TransformForm::Fitted(fit_on),
            body
        })),
        (ident(), prop::collection::vec(param(), 0..3), block()).prop_map(|(name, params, body)| {
            ItemKind::Transform(TransformItem { name, form: TransformForm::Recipe(params), body })
        }),
        (ident(), block()).prop_map(|(name, body)| ItemKind::Augment(AugmentItem { name, body })),
        model.prop_map(ItemKind::Model),
        (ident(), expr(), expr(), block()).prop_map(|(name, model, data, body)| ItemKind::Train(TrainItem {
            name,
            model,
            data,
            body
        })),
        (prop::option::of(ident()), expr(), expr(), prop::option::of(block()))
            .prop_map(|(name, model, data, body)| ItemKind::Evaluate(EvaluateItem { name, model, data, body })),
        (prop::option::of(ident()), expr()).prop_map(|(name, value)| ItemKind::Output(OutputItem { name, value })),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    prop::collection::vec(item_kind().prop_map(|kind| Item { kind, span: sp() }), 1..5)
        .prop_map(|items| Program { items })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn printed_programs_parse_back_to_the_same_tree(program in program()) {
        let no_comments: [Comment; 0] = [];
        let printed = pipe::format::format(&program, &no_comments, "");
        let parsed = syntax::parse(&printed, FileId(0));
        prop_assert!(parsed.errors.is_empty(), "printed program does not parse:\n{}\n{:?}", printed, parsed.errors);
        prop_assert_eq!(syntax::spanless(&parsed.program), syntax::spanless(&program), "printed:\n{}", printed);
    }
}
