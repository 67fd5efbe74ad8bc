//! `pipe lsp` driven over stdio as an editor drives it: open, a typo,
//! completion, hover, definition, outline, formatting, shutdown; and the
//! builtin signatures editors are shown, against what the checker accepts.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::run::scratch;

/// A running `pipe lsp` and the messages it sent.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pipe lsp starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            while let Some(message) = read_message(&mut stdout) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut client = Client { child, stdin, messages, next_id: 0 };
        let init = client.request("initialize", json!({ "capabilities": {} }));
        assert!(init["capabilities"]["completionProvider"].is_object(), "{init}");
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its answer (notifications met on the
    /// way are dropped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.next();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let message = self.next();
            if message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn next(&mut self) -> Value {
        self.messages.recv_timeout(Duration::from_secs(20)).expect("pipe lsp answers within 20 s")
    }

    fn open(&mut self, uri: &str, text: &str) {
        let document = json!({ "uri": uri, "languageId": "pipe", "version": 1, "text": text });
        self.notify("textDocument/didOpen", json!({ "textDocument": document }));
    }

    fn change(&mut self, uri: &str, text: &str) {
        let params = json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": text }] });
        self.notify("textDocument/didChange", params);
    }

    /// A request at the place of the first `marker` in `text`, plus `shift`
    /// characters (the text is ASCII, so characters are UTF-16 units).
    fn at(&mut self, method: &str, uri: &str, text: &str, marker: &str, shift: usize) -> Value {
        let offset = text.find(marker).unwrap_or_else(|| panic!("`{marker}` in the text")) + shift;
        let line = text[..offset].matches('\n').count();
        let character = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let position = json!({ "line": line, "character": character });
        self.request(method, json!({ "textDocument": { "uri": uri }, "position": position }))
    }

    fn shutdown(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "pipe lsp exits cleanly after shutdown and exit");
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

const PROGRAM: &str = r#"source people = csv("people.csv")

stage adults = people |> filter(age >= 18) |> drop(city)

model net {
    dense(8)
    relu()
    dense(1)
}

train fit_net = net on adults {
    target: income
    loss: mse
    epochs: 1
}
"#;

fn project(name: &str) -> (std::path::PathBuf, String) {
    let dir = scratch(name);
    std::fs::write(dir.join("people.csv"), "age,income,city\n20,1.5,a\n40,2.5,b\n").unwrap();
    let path = dir.join("main.pipe");
    std::fs::write(&path, PROGRAM).unwrap();
    let uri = format!("file://{}", path.display());
    (dir, uri)
}

fn labels(items: &Value) -> Vec<String> {
    items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap().to_string()).collect()
}

#[test]
fn diagnostics_follow_the_text_as_it_is_typed() {
    let (_dir, uri) = project("lsp_diagnostics");
    let mut client = Client::start();
    client.open(&uri, PROGRAM);
    assert_eq!(client.diagnostics(&uri), Vec::<Value>::new(), "a clean file has no problems");

    let typo = PROGRAM.replace("age >= 18", "agee >= 18");
    client.change(&uri, &typo);
    let problems = client.diagnostics(&uri);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!(problem["code"], "pipe::check::unknown_column");
    assert_eq!(problem["severity"], 1);
    let line = typo.lines().position(|l| l.contains("agee")).unwrap();
    let column = typo.lines().nth(line).unwrap().find("agee").unwrap();
    assert_eq!(problem["range"]["start"], json!({ "line": line, "character": column }));
    assert_eq!(problem["range"]["end"], json!({ "line": line, "character": column + 4 }));
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("did you mean `age`?"), "{message}");
    // The frame that lacks the column is pointed at as related information.
    assert!(problem["relatedInformation"][0]["message"].as_str().unwrap().contains("3 columns"), "{problem}");

    // A syntax error is reported by its own code; fixing it clears it.
    let broken = PROGRAM.replace("filter(age >= 18)", "filter(age >= )");
    client.change(&uri, &broken);
    let problems = client.diagnostics(&uri);
    assert!(problems[0]["code"].as_str().unwrap().starts_with("pipe::syntax::"), "{problems:?}");
    client.change(&uri, PROGRAM);
    assert_eq!(client.diagnostics(&uri), Vec::<Value>::new());
    client.shutdown();
}

#[test]
fn completion_offers_the_columns_of_the_frame_at_the_cursor() {
    let (_dir, uri) = project("lsp_completion");
    let mut client = Client::start();
    client.open(&uri, PROGRAM);
    client.diagnostics(&uri);

    // Inside `filter(...)`: the columns of `people`, in order, first.
    let items = client.at("textDocument/completion", &uri, PROGRAM, "age >= 18", 0);
    assert_eq!(labels(&items)[..3], ["age", "income", "city"]);
    assert_eq!(items[0]["detail"], "i64");
    assert!(labels(&items).contains(&"adults".to_string()), "item names are offered too");

    // In the middle of typing, where the text does not parse: the last
    // analysis that parsed still knows the columns.
    let typing = PROGRAM.replace("filter(age >= 18)", "filter(age >= 18 && in");
    client.change(&uri, &typing);
    client.diagnostics(&uri);
    let items = client.at("textDocument/completion", &uri, &typing, "&& in", 5);
    assert!(labels(&items).contains(&"income".to_string()), "{items}");
    client.change(&uri, PROGRAM);
    client.diagnostics(&uri);

    // After `|>`: operations, with their signatures.
    let piped = PROGRAM.replace("|> filter(age >= 18)", "|> ");
    client.change(&uri, &piped);
    client.diagnostics(&uri);
    let items = client.at("textDocument/completion", &uri, &piped, "|> ", 3);
    let cut = items.as_array().unwrap().iter().find(|i| i["label"] == "cut").expect("cut is offered");
    assert_eq!(cut["detail"], "cut(column, edges, labels:, include_lowest:)");
    assert!(!labels(&items).contains(&"age".to_string()), "no columns right after `|>`");
    client.change(&uri, PROGRAM);
    client.diagnostics(&uri);

    // At the start of a line in a training block: its settings.
    let items = client.at("textDocument/completion", &uri, PROGRAM, "    loss: mse", 4);
    assert!(labels(&items).contains(&"optimizer".to_string()), "{items}");
    // After `target: `: the training data's columns.
    let items = client.at("textDocument/completion", &uri, PROGRAM, "target: income", 8);
    assert_eq!(labels(&items)[..3], ["age", "income", "people"], "`city` was dropped");
    // Named arguments of the call at the cursor.
    let cutting = PROGRAM.replace("filter(age >= 18)", "cut(age, [0, 18, 99], )");
    client.change(&uri, &cutting);
    client.diagnostics(&uri);
    let items = client.at("textDocument/completion", &uri, &cutting, "99], )", 5);
    let named: Vec<String> = labels(&items).into_iter().filter(|l| l == "include_lowest" || l == "labels").collect();
    assert_eq!(named, ["labels", "include_lowest"]);
    client.shutdown();
}

#[test]
fn hover_definition_outline_and_formatting() {
    let (dir, uri) = project("lsp_navigation");
    let mut client = Client::start();
    client.open(&uri, PROGRAM);
    client.diagnostics(&uri);

    let hover = client.at("textDocument/hover", &uri, PROGRAM, "adults =", 0);
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("stage adults: 2 columns") && text.contains("income"), "{text}");
    let hover = client.at("textDocument/hover", &uri, PROGRAM, "dense(8)", 0);
    assert_eq!(hover["contents"]["value"], "```pipe\ndense: [1] -> [8]\n```");
    let hover = client.at("textDocument/hover", &uri, PROGRAM, "age >=", 1);
    assert_eq!(hover["contents"]["value"], "column `age`: `i64`");

    // `adults` in `net on adults` goes to its declaration.
    let location = client.at("textDocument/definition", &uri, PROGRAM, "on adults", 3);
    assert_eq!(location["uri"], uri.as_str());
    assert_eq!(location["range"]["start"], json!({ "line": 2, "character": 6 }));

    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["people", "adults", "net", "fit_net"]);
    assert_eq!(symbols[1]["detail"], "stage: 2 columns");

    // Formatting gives what `pipe fmt` writes.
    let messy = PROGRAM.replace("people |> filter(age >= 18) |>", "people|>filter( age>=18 )|>");
    client.change(&uri, &messy);
    client.diagnostics(&uri);
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(edits.as_array().unwrap().len(), 1);
    std::fs::write(dir.join("messy.pipe"), &messy).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_pipe")).arg("fmt").arg(dir.join("messy.pipe")).status().unwrap();
    assert!(status.success());
    assert_eq!(edits[0]["newText"], std::fs::read_to_string(dir.join("messy.pipe")).unwrap());
    client.shutdown();
}

/// Every builtin's signature, as editors show it, names exactly the
/// parameters the checker accepts: an unknown argument's help lists them.
#[test]
fn builtin_signatures_name_the_parameters_the_checker_accepts() {
    use pipe::check::builtins::{self, Place};
    let dir = scratch("lsp_signatures");
    std::fs::write(dir.join("d.csv"), "x,y\n1.0,2.0\n").unwrap();
    let data_ops = builtins::data_operations().into_iter().filter(|op| !matches!(*op, "rename" | "with" | "predict"));
    let mut programs: Vec<(&str, String)> = data_ops
        .map(|op| match op {
            // `split` ends a `split` item (anywhere else it is refused).
            "split" => (op, "source d = csv(\"d.csv\")\nsplit a, b = d |> split(zzz_unknown: 1)\n".to_string()),
            "kfold" => (op, "source d = csv(\"d.csv\")\nsplit a = d |> kfold(zzz_unknown: 1)\n".to_string()),
            _ => (op, format!("source d = csv(\"d.csv\")\noutput d |> {op}(zzz_unknown: 1) |> write(\"o.csv\")\n")),
        })
        .collect();
    programs
        .extend(builtins::names(Place::Source).into_iter().map(|s| (s, format!("source d = {s}(zzz_unknown: 1)\n"))));
    let steps = builtins::names(Place::Augmentation).into_iter();
    programs.extend(steps.map(|a| (a, format!("augment light {{\n    {a}(zzz_unknown: 1)\n}}\n"))));
    programs.extend(builtins::names(Place::ModelOperation).into_iter().map(|op| {
        let program = format!(
            "source d = csv(\"d.csv\")\nmodel m {{\n    dense(1)\n}}\n\
             train r = m |> {op}(zzz_unknown: 1) on d {{\n    target: y\n    loss: mse\n}}\n"
        );
        (op, program)
    }));
    programs.extend(builtins::names(Place::Layer).into_iter().filter(|l| *l != "residual").map(|layer| {
        let program = format!(
            "source d = csv(\"d.csv\")\nmodel m {{\n    {layer}(zzz_unknown: 1)\n}}\n\
             train r = m on d {{\n    target: y\n    loss: mse\n}}\n"
        );
        (layer, program)
    }));
    for (name, program) in programs {
        let (signature, _) = builtins::signature(name).unwrap_or_else(|| panic!("`{name}` has a signature"));
        let expected: Vec<String> = builtins::parameter_names(&signature).iter().map(|p| format!("`{p}`")).collect();
        let help = unknown_argument_help(&dir, &program)
            .unwrap_or_else(|| panic!("`{name}(zzz_unknown: 1)` is an unknown argument:\n{program}"));
        let accepted = match help.split_once(" takes: ") {
            Some((_, list)) => list.split(", ").map(str::to_string).collect(),
            None => {
                assert!(help.ends_with("takes no arguments"), "{name}: {help}");
                Vec::new()
            }
        };
        assert_eq!(accepted, expected, "the signature of `{name}`: {signature}");
    }
}

fn unknown_argument_help(dir: &Path, program: &str) -> Option<String> {
    std::fs::write(dir.join("main.pipe"), program).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["check", "--format", "json"])
        .arg(dir.join("main.pipe"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|d| d["code"] == "pipe::check::unknown_argument")
        .and_then(|d| d["help"].as_str().map(str::to_string))
}

/// Messages an editor (or a broken plugin) may send that the server cannot
/// use: each is skipped (a request answered with an error), and the server
/// keeps answering: bodies that are not JSON or not UTF-8, a JSON array,
/// notifications with wrong params, a URI with a bad percent-escape, a
/// request that is not a message.
#[test]
fn bad_messages_do_not_end_the_session() {
    let mut client = Client::start();
    let raw = |client: &mut Client, body: &[u8]| {
        write!(client.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        client.stdin.write_all(body).unwrap();
        client.stdin.flush().unwrap();
    };
    raw(&mut client, b"this is not json");
    raw(&mut client, b"{\"jsonrpc\": \"2.0\", \"method\": \"\xff\xfe\"}");
    raw(&mut client, b"[1, 2, 3]");
    client.notify("textDocument/didOpen", json!({ "textDocument": 5 }));
    client.notify("textDocument/didChange", json!({ "contentChanges": "nothing" }));
    client.notify("textDocument/didClose", json!(null));
    let bad_uri = json!({ "uri": "file:///tmp/%zz.pipe", "languageId": "pipe", "version": 1, "text": "let x = 1\n" });
    client.notify("textDocument/didOpen", json!({ "textDocument": bad_uri }));
    client.send(json!({ "jsonrpc": "2.0", "id": 99, "method": 5 }));
    let refused = loop {
        let message = client.next();
        if message["id"] == 99 {
            break message;
        }
    };
    assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("not an LSP message"), "{refused}");
    // Still serving: a document opens and gets its diagnostics.
    let uri = "file:///tmp/still_here.pipe";
    client.open(uri, "stage s = missing\n");
    let diagnostics = client.diagnostics(uri);
    assert!(!diagnostics.is_empty(), "the server still checks documents");
    client.shutdown();
}

/// A long check runs beside the message loop: a request during it is
/// answered (from the last analysis, within half a second) before the
/// check's diagnostics come, and a later edit stops it. The document: the
/// program repeated to about 2 MB, a check of seconds.
#[test]
fn requests_are_answered_while_a_long_check_runs() {
    let (_dir, uri) = project("lsp_long_check");
    let mut client = Client::start();
    client.open(&uri, PROGRAM);
    client.diagnostics(&uri);
    let mut big = String::from(PROGRAM);
    let mut n = 0;
    while big.len() < 2_000_000 {
        big.push_str(&format!("\nstage adults{n} = people |> filter(age >= {n}) |> drop(city)\n"));
        big.push_str(&format!("output kept{n} = adults{n} |> write(\"out/a{n}.csv\")\n"));
        n += 1;
    }
    client.change(&uri, &big);
    client.next_id += 1;
    let id = client.next_id;
    let position = json!({ "line": 2, "character": 8 });
    let params = json!({ "textDocument": { "uri": uri }, "position": position });
    client.send(json!({ "jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": params }));
    loop {
        let message = client.next();
        assert_ne!(message["method"], "textDocument/publishDiagnostics", "the check ended before the hover's answer");
        if message["id"] == id {
            let text = message["result"]["contents"]["value"].as_str().unwrap_or_default().to_owned();
            assert!(text.contains("stage adults: 2 columns"), "answered from the analysis there is: {text}");
            break;
        }
    }
    // An edit that breaks the file: its diagnostics come, not the big text's.
    client.change(&uri, &PROGRAM.replace("filter(age >= 18)", "filter(agee >= 18)"));
    let diagnostics = client.diagnostics(&uri);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0]["message"].as_str().unwrap().contains("agee"), "{diagnostics:?}");
    client.shutdown();
}

/// A document closed and opened again is checked afresh: results of its
/// earlier texts (numbered before it was opened again) are not taken for
/// the new one's.
#[test]
fn a_document_opened_again_shows_its_new_text_diagnostics() {
    let (_dir, uri) = project("lsp_reopen");
    let mut client = Client::start();
    client.open(&uri, PROGRAM);
    client.diagnostics(&uri);
    for n in 0..5 {
        client.change(&uri, &PROGRAM.replace("filter(age >= 18)", &format!("filter(age >= {n})")));
    }
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
    client.open(&uri, &PROGRAM.replace("filter(age >= 18)", "filter(agee >= 18)"));
    loop {
        let diagnostics = client.diagnostics(&uri);
        // The close clears the old ones; the reopened text has one error.
        if diagnostics.is_empty() {
            continue;
        }
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0]["message"].as_str().unwrap().contains("agee"), "{diagnostics:?}");
        break;
    }
    let hover = client.at("textDocument/hover", &uri, PROGRAM, "adults =", 0);
    assert!(hover["contents"]["value"].as_str().unwrap().contains("stage adults"), "{hover}");
    client.shutdown();
}

/// Positions no text has (a line past the end, a character past a line's
/// end or inside a character of two UTF-16 units, the largest numbers a
/// position holds, a negative one) get an answer, never the end of the
/// session: requests at them answer (or fail as invalid params), and the
/// server goes on serving the document.
#[test]
fn positions_out_of_range_are_answered() {
    let (_dir, uri) = project("lsp_positions");
    let text = format!("// 🦀 crab\n{PROGRAM}");
    let mut client = Client::start();
    client.open(&uri, &text);
    client.diagnostics(&uri);
    let lines = text.lines().count() as u64;
    let positions = [
        json!({ "line": lines + 5, "character": 0 }),
        json!({ "line": 1, "character": 10_000 }),
        json!({ "line": 0, "character": 4 }),
        json!({ "line": u32::MAX, "character": u32::MAX }),
        json!({ "line": lines, "character": u32::MAX }),
    ];
    let methods = ["textDocument/hover", "textDocument/definition", "textDocument/completion"];
    for (i, position) in positions.iter().enumerate() {
        for method in methods {
            let params = json!({ "textDocument": { "uri": uri }, "position": position });
            let answer = client.request(method, params);
            assert!(answer.is_null() || answer.is_object() || answer.is_array(), "{method} at {position}: {answer}");
            // Past the text's end there is nothing to show or go to.
            if [0, 3].contains(&i) && method != "textDocument/completion" {
                assert!(answer.is_null(), "{method} at {position}: {answer}");
            }
        }
    }
    // A position that is not one is refused as invalid params.
    client.next_id += 1;
    let id = client.next_id;
    let position = json!({ "line": -1, "character": 0 });
    let params = json!({ "textDocument": { "uri": uri }, "position": position });
    client.send(json!({ "jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": params }));
    let refused = loop {
        let message = client.next();
        if message["id"] == id {
            break message;
        }
    };
    assert!(refused["error"]["code"].is_i64(), "{refused}");
    // Still serving the document: a hover where there is something.
    let hover = client.at("textDocument/hover", &uri, &text, "dense(8)", 0);
    assert_eq!(hover["contents"]["value"], "```pipe\ndense: [1] -> [8]\n```");
    client.shutdown();
}

/// Files on disk that are not text (an imported `.pipe` and a CSV with
/// bytes that are not UTF-8) and a change to a document never opened:
/// the server reports what it can, as diagnostics, and answers the next
/// request.
#[test]
fn files_that_are_not_text_and_unknown_documents_are_survived() {
    let (dir, uri) = project("lsp_not_text");
    std::fs::write(dir.join("lib.pipe"), b"let x = \xff\xfe 1\n").unwrap();
    std::fs::write(dir.join("bad.csv"), b"a,b\n1,\xff\n").unwrap();
    let text = format!("import \"lib.pipe\" {{ x }}\nsource bad = csv(\"bad.csv\")\n{PROGRAM}");
    let mut client = Client::start();
    let never = format!("{uri}.never");
    let params =
        json!({ "textDocument": { "uri": never, "version": 2 }, "contentChanges": [{ "text": "let y = 1\n" }] });
    client.notify("textDocument/didChange", params);
    client.open(&uri, &text);
    // Each file's problems are published under its own URI.
    // (The server percent-encodes URIs: the imported file's is found by its name.)
    let (mut main, mut lib) = (None, None);
    while main.is_none() || lib.is_none() {
        let message = client.next();
        if message["method"] == "textDocument/publishDiagnostics" {
            let found = message["params"]["diagnostics"].as_array().unwrap().iter();
            let found: Vec<String> = found.filter_map(|d| d["code"].as_str().map(str::to_owned)).collect();
            let published = message["params"]["uri"].as_str().unwrap();
            if published == uri {
                main = Some(found);
            } else if published.ends_with("/lib.pipe") {
                lib = Some(found);
            }
        }
    }
    assert!(lib.as_ref().unwrap().contains(&"pipe::syntax::invalid_utf8".to_owned()), "{lib:?}");
    assert!(main.as_ref().unwrap().contains(&"pipe::check::source_unreadable".to_owned()), "{main:?}");
    let hover = client.at("textDocument/hover", &uri, &text, "dense(8)", 0);
    assert_eq!(hover["contents"]["value"], "```pipe\ndense: [1] -> [8]\n```");
    client.shutdown();
}
