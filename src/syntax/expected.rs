//! Turns pest's "expected one of these rules" into a diagnostic a person
//! reads: rule names become words ("a name", "`)`"), the token found is
//! quoted, and common mistakes get a dedicated error or a fix.

use std::collections::BTreeSet;

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::source::{FileId, Span};
use crate::suggest::closest;
use crate::syntax::ast::ITEM_KEYWORDS;
use crate::syntax::error::SyntaxError;
use crate::syntax::grammar::{PipeParser, Rule};

/// What the parser could have accepted, in the order messages list them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Expect {
    Punct(&'static str),
    Keyword(&'static str),
    Name,
    Expression,
    Operation,
    Entry,
    Type,
    Item,
    Operator,
    EndOfFile,
}

impl Expect {
    fn words(&self) -> String {
        match self {
            Expect::Punct(p) => format!("`{p}`"),
            Expect::Keyword(k) => format!("`{k}`"),
            Expect::Name => "a name".into(),
            Expect::Expression => "an expression".into(),
            Expect::Operation => "an operation (such as `filter(...)`)".into(),
            Expect::Entry => "an entry".into(),
            Expect::Type => "a type".into(),
            Expect::Item => "an item".into(),
            Expect::Operator => "an operator".into(),
            Expect::EndOfFile => "the end of the file".into(),
        }
    }
}

fn expect_of_rule(rule: Rule) -> Option<Expect> {
    use Rule::*;
    Some(match rule {
        // pest names the enclosing rule when nothing inside it matched: at
        // the start of the file, that is `program`, which wants an item.
        program | kw_import | kw_let | kw_source | kw_stage | kw_split | kw_transform | kw_augment | kw_model
        | kw_train | kw_evaluate | kw_output => Expect::Item,
        ident | word | path | module_path | import_name | param => Expect::Name,
        expr | number | string | boolean | kw_inf | list | record | call | neg_op | kw_not | arg | record_field => {
            Expect::Expression
        }
        pipe_op | compare_op | add_op | mul_op | range_op | kw_then | kw_or | kw_and => Expect::Operator,
        block => Expect::Punct("{"),
        args | params => Expect::Punct("("),
        setting | nested_step | nested_head | step | for_entry | kw_for => Expect::Entry,
        kw_as => Expect::Keyword("as"),
        kw_on => Expect::Keyword("on"),
        kw_in => Expect::Keyword("in"),
        kw_fit => Expect::Keyword("fit"),
        type_expr => Expect::Type,
        EOI => Expect::EndOfFile,
        _ => return None,
    })
}

fn expect_of_literal(token: &str) -> Option<Expect> {
    const PUNCT: [&str; 9] = ["(", ")", "[", "]", "{", "}", ",", ":", "="];
    PUNCT.iter().find(|p| **p == token).map(|p| Expect::Punct(p))
}

/// The diagnostic for a pest error in the chunk `text[start..end]`.
pub fn describe(error: &Error<Rule>, text: &str, file: FileId, start: usize, end: usize) -> SyntaxError {
    let (at, mut expected) = expectations(error);
    let at = start + at;
    // After `|>` the expression must be an operation: say so.
    if text[start..at].trim_end().ends_with("|>") && expected.remove(&Expect::Expression) {
        expected.insert(Expect::Operation);
    }
    if let Some(bad) = bad_number(text, file, at, end) {
        return bad;
    }
    let found = Found::at(text, file, at, start, end);
    if let Some(special) = special_case(&found, &expected, text) {
        return special;
    }
    let help = help_for(&found, &expected, &text[start..found.span.start]);
    SyntaxError::Unexpected {
        expected: join(&expected),
        label: found.label(),
        found: found.words(),
        span: found.span,
        help,
    }
}

/// Where the parse failed (relative to the chunk) and what would have been
/// accepted there.
///
/// pest's own location is the furthest place a *rule* was tried; a literal
/// (`=`, `{`) after a successful rule can fail further on, and pest's
/// parse attempts record that place, its tokens and the rules around them.
fn expectations(error: &Error<Rule>) -> (usize, BTreeSet<Expect>) {
    let location = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut set = BTreeSet::new();
    let mut at = location;
    let attempts = error.parse_attempts();
    // Only a literal of the grammar's punctuation moves the place: other
    // tokens tried further on were tried inside lookaheads or tokens.
    let literal_further = attempts.as_ref().is_some_and(|a| {
        a.max_position > location && a.expected_tokens().iter().any(|t| expect_of_literal(&t.to_string()).is_some())
    });
    match &attempts {
        Some(a) if literal_further => {
            at = a.max_position;
            // Rules that are single tokens show up here because a character
            // *inside* them was tried (`seed` could go on as `seedx`): skip them.
            let inside_token = |r: &Rule| {
                matches!(r, Rule::ident | Rule::word | Rule::path | Rule::module_path | Rule::number | Rule::boolean)
            };
            for stack in a.call_stacks() {
                set.extend(stack.deepest.get_rule().filter(|r| !inside_token(r)).and_then(|r| expect_of_rule(*r)));
            }
        }
        _ => {
            if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
                set.extend(positives.iter().filter_map(|r| expect_of_rule(*r)));
            }
        }
    }
    // Literal tokens (`)`, `,`) are not rules; pest lists them separately.
    // Their type is not exported, but their text is what the grammar says.
    if let Some(a) = attempts.filter(|a| a.max_position == at) {
        for token in a.expected_tokens() {
            set.extend(expect_of_literal(&token.to_string()));
        }
    }
    if set.contains(&Expect::Expression) {
        // `(`, `[` and `{` open expressions here; "an expression" says it.
        for open in ["(", "[", "{"] {
            set.remove(&Expect::Punct(open));
        }
        set.remove(&Expect::Name);
        set.remove(&Expect::Operation);
    }
    if set.contains(&Expect::Entry) {
        set.remove(&Expect::Expression);
    }
    if set.contains(&Expect::Item) {
        set.remove(&Expect::EndOfFile);
    }
    if set.is_empty() {
        set.insert(Expect::Expression);
    }
    (at, set)
}

/// "`)`, `,` or an operator"
fn join(expected: &BTreeSet<Expect>) -> String {
    let words: Vec<String> = expected.iter().map(Expect::words).collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "something else".into(),
    }
}

/// The token at the place the parser stopped.
struct Found {
    text: String,
    span: Span,
    kind: FoundKind,
}

#[derive(PartialEq)]
enum FoundKind {
    EndOfFile,
    NextItem,
    Word,
    Value,
    Punct,
}

impl Found {
    fn at(text: &str, file: FileId, at: usize, chunk_start: usize, end: usize) -> Found {
        let at = skip_blank(text, at, end);
        let rest = &text[at..end];
        let Some(first) = rest.chars().next() else {
            if end < text.len() {
                // The chunk ends where the next item starts: that is what the
                // parser ran into.
                let next = Found::at(text, file, end, end, text.len());
                return Found { kind: FoundKind::NextItem, ..next };
            }
            let place = last_text_end(text, chunk_start, end);
            return Found { text: String::new(), span: Span::point(file, place), kind: FoundKind::EndOfFile };
        };
        let (len, kind) = if first.is_ascii_alphabetic() || first == '_' {
            (rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len()), FoundKind::Word)
        } else if first.is_ascii_digit() {
            (
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len()),
                FoundKind::Value,
            )
        } else if first == '"' {
            (rest[1..].find(['"', '\n']).map_or(rest.len(), |i| i + 2).min(rest.len()), FoundKind::Value)
        } else {
            let two = ["|>", "==", "!=", "<=", ">=", ".."].iter().find(|op| rest.starts_with(**op));
            (two.map_or(first.len_utf8(), |op| op.len()), FoundKind::Punct)
        };
        Found { text: rest[..len].to_owned(), span: Span::new(file, at, at + len), kind }
    }

    fn words(&self) -> String {
        match self.kind {
            FoundKind::EndOfFile => "the end of the file".into(),
            FoundKind::NextItem => format!("the next item (`{}`)", shorten(&self.text)),
            _ if self.text.starts_with('"') => "a string".into(),
            _ => format!("`{}`", shorten(&self.text)),
        }
    }

    fn label(&self) -> String {
        match self.kind {
            FoundKind::EndOfFile => "the file ends here".into(),
            FoundKind::NextItem => "the next item starts here".into(),
            _ => format!("unexpected {}", self.words()),
        }
    }
}

/// Long tokens are cut in messages (a 1 MB string stays out of the message).
fn shorten(token: &str) -> String {
    if token.chars().count() <= 40 {
        return token.to_owned();
    }
    let head: String = token.chars().take(37).collect();
    format!("{head}...")
}

/// Skips whitespace and comments from `at`.
fn skip_blank(text: &str, mut at: usize, end: usize) -> usize {
    loop {
        let rest = &text[at..end];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            at += trimmed.find('\n').unwrap_or(trimmed.len());
        } else if trimmed.starts_with("/*") {
            at += trimmed.find("*/").map_or(trimmed.len(), |i| i + 2);
        } else {
            return at;
        }
    }
}

/// The end of the last token before `end`, ignoring trailing blanks.
fn last_text_end(text: &str, chunk_start: usize, end: usize) -> usize {
    chunk_start + text[chunk_start..end].trim_end().len()
}

/// Dedicated errors for reserved words and misspelt item keywords.
fn special_case(found: &Found, expected: &BTreeSet<Expect>, text: &str) -> Option<SyntaxError> {
    if found.kind != FoundKind::Word {
        return None;
    }
    let wants_name = expected.contains(&Expect::Name) || expected.contains(&Expect::Expression);
    if wants_name && is_reserved(&found.text) {
        return Some(SyntaxError::ReservedWord { word: found.text.clone(), span: found.span });
    }
    let at_line_start = found.span.start == 0 || text[..found.span.start].ends_with('\n');
    if expected.contains(&Expect::Item) && at_line_start {
        let help = match closest(&found.text, ITEM_KEYWORDS) {
            Some(keyword) => format!("did you mean `{keyword}`?"),
            None => format!("every item starts with a keyword: {}", ITEM_KEYWORDS.map(|k| format!("`{k}`")).join(", ")),
        };
        return Some(SyntaxError::UnknownItem { word: found.text.clone(), help, span: found.span });
    }
    None
}

fn is_reserved(word: &str) -> bool {
    ["as", "on", "then", "for", "in", "and", "or", "not", "true", "false", "inf"].contains(&word)
}

/// A fix for common slips.
fn help_for(found: &Found, expected: &BTreeSet<Expect>, before: &str) -> Option<String> {
    let starts_value =
        matches!(found.kind, FoundKind::Word | FoundKind::Value) || found.text == "[" || found.text == "(";
    let text = found.text.as_str();
    let help = if text == ">" && before.ends_with('-') {
        "data flows with `|>`, as in `people |> filter(age > 0)`"
    } else if expected.contains(&Expect::Punct(",")) && starts_value {
        "add a `,` before it: arguments and list elements are separated by commas"
    } else if text == "=" && expected.contains(&Expect::Entry) {
        "settings in a block are written `key: value`"
    } else if text == ":" && expected.contains(&Expect::Punct("=")) {
        "items bind their name with `=`, as in `let seed = 42`"
    } else if text == "|>" && (expected.contains(&Expect::Expression) || expected.contains(&Expect::Operation)) {
        "`|>` must be followed by an operation; remove the extra `|>`"
    } else if text == "'" {
        "strings are written with double quotes: \"text\""
    } else if text == "." && expected.contains(&Expect::Expression) {
        "a number needs a digit before the point: write `0.5`"
    } else if text == ";" {
        "entries are separated by new lines or commas, not `;`"
    } else {
        return None;
    };
    Some(help.to_owned())
}

/// A malformed number around `at`: digits followed by letters, a second
/// point, an exponent without digits, or an unknown unit.
fn bad_number(text: &str, file: FileId, at: usize, end: usize) -> Option<SyntaxError> {
    let is_part = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let bytes = text.as_bytes();
    let mut start = skip_blank(text, at, end);
    while start > 0 && is_part(bytes[start - 1]) && !text[..start].ends_with("..") {
        start -= 1;
    }
    // Only a run that begins with a digit is a number.
    while start < at && !bytes[start].is_ascii_digit() && is_part(bytes[start]) {
        let next = start + 1;
        if bytes[start].is_ascii_alphabetic() || bytes[start] == b'_' {
            return None;
        }
        start = next;
    }
    if start >= end || !bytes[start].is_ascii_digit() {
        return None;
    }
    let mut stop = start;
    while stop < end && is_part(bytes[stop]) && !text[stop..].starts_with("..") {
        stop += 1;
    }
    let token = &text[start..stop];
    if is_number(token) {
        return None;
    }
    let (reason, help) = number_problem(token);
    Some(SyntaxError::BadNumber { text: shorten(token), help, reason, span: Span::new(file, start, stop) })
}

fn is_number(token: &str) -> bool {
    use pest::Parser;
    PipeParser::parse(Rule::number, token).is_ok_and(|mut p| p.next().is_some_and(|n| n.as_str().len() == token.len()))
}

/// Why a number-like token is not a number, and how to write it.
fn number_problem(token: &str) -> (String, String) {
    let digits_end = token.find(|c: char| !(c.is_ascii_digit() || c == '_')).unwrap_or(token.len());
    let rest = &token[digits_end..];
    let units = "units are deg, rad, ms, s, min and h";
    if token.starts_with("0x") || token.starts_with("0b") {
        return ("hexadecimal and binary numbers are not supported".into(), "write the number in decimal".into());
    }
    if token.matches('.').count() > 1 {
        return ("more than one decimal point".into(), "a number has at most one `.`".into());
    }
    if rest.starts_with('.') && !rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return ("a decimal point needs digits after it".into(), format!("write `{}.0`", &token[..digits_end]));
    }
    let after_fraction = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let exponent = after_fraction.strip_prefix(['e', 'E']);
    if let Some(exp) = exponent
        && !exp.trim_start_matches(['+', '-']).starts_with(|c: char| c.is_ascii_digit())
    {
        return ("the exponent has no digits".into(), "write the exponent's digits, as in `1e-3`".into());
    }
    if token.contains("__") || token.ends_with('_') {
        return ("misplaced `_`".into(), "`_` may only separate digits, as in `1_000_000`".into());
    }
    let unit =
        after_fraction.trim_start_matches(|c: char| c == 'e' || c == 'E' || c == '+' || c == '-' || c.is_ascii_digit());
    (format!("unknown unit `{}`", shorten(unit)), units.into())
}
