//! `pipe lsp`: a language server over stdin/stdout. Diagnostics come from
//! the same parser and checker as `pipe check`; hover, completion, go to
//! definition, the outline and formatting from their results.
//!
//! One thread answers messages in order; the checks run on another
//! ([`worker`]). A request waits for the check of the current text for at
//! most [`REQUEST_WAIT`], then answers from the newest analysis (offsets
//! mapped to its text), so no request waits on a long check; an edit stops
//! the check of the text it replaces.

mod analysis;
mod complete;
mod document;
mod navigate;
mod text;
mod transport;
mod uri;
mod worker;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionOptions, OneOf, PublishDiagnosticsParams, ServerCapabilities, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit,
};

use document::Document;
use text::LineIndex;

/// Any failure of the connection itself (the editor went away).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves one editor over stdin/stdout until it says `exit`.
pub fn serve() -> Result<(), Error> {
    let (connection, writer) = transport::stdio();
    connection.initialize(serde_json::to_value(capabilities())?)?;
    Server::default().run(&connection)?;
    drop(connection);
    // The reader may still wait on stdin; the writer ends with the server.
    writer.join().map_err(|_| "the writer thread failed")?;
    Ok(())
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), ">".into(), ":".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

/// How long a request waits for the check of the text it is about (a
/// small file's check takes milliseconds; a 5 MB file's, seconds).
pub const REQUEST_WAIT: Duration = Duration::from_millis(500);

/// The open documents, by URI, and the thread that checks them.
struct Server {
    documents: HashMap<String, Document>,
    analyst: worker::Analyst,
    /// The last text generation given out (to any document).
    generation: u64,
}

impl Default for Server {
    fn default() -> Self {
        Server { documents: HashMap::new(), analyst: worker::Analyst::start(), generation: 0 }
    }
}

impl Server {
    fn run(&mut self, connection: &Connection) -> Result<(), Error> {
        loop {
            crossbeam_channel::select! {
                recv(connection.receiver) -> message => {
                    let Ok(message) = message else { return Ok(()) };
                    match message {
                        Message::Request(request) => {
                            if connection.handle_shutdown(&request)? {
                                return Ok(());
                            }
                            let response = self.request(request, connection)?;
                            connection.sender.send(Message::Response(response))?;
                        }
                        Message::Notification(notification) => self.notification(notification, connection)?,
                        Message::Response(_) => {}
                    }
                }
                recv(self.analyst.done) -> done => {
                    // The worker ends only if this loop has (or it broke).
                    let done = done.map_err(|_| "the checking thread stopped")?;
                    self.take(done, connection)?;
                }
            }
        }
    }

    /// Takes a finished analysis; publishes its problems when it is of the
    /// document's current text.
    fn take(&mut self, done: worker::Done, connection: &Connection) -> Result<(), Error> {
        let Some(doc) = self.documents.get_mut(&done.key) else { return Ok(()) };
        let older = doc.latest.as_ref().is_some_and(|(g, _)| *g >= done.generation);
        if older || done.generation < doc.opened {
            return Ok(());
        }
        doc.analysed(done.generation, done.analysis);
        if doc.is_current() {
            self.publish(&done.key, connection)?;
        }
        Ok(())
    }

    /// Waits (at most [`REQUEST_WAIT`]) for the check of a document's
    /// current text.
    fn await_current(&mut self, key: &str, connection: &Connection) -> Result<(), Error> {
        let deadline = Instant::now() + REQUEST_WAIT;
        while self.documents.get(key).is_some_and(|d| !d.is_current()) {
            let Ok(done) = self.analyst.done.recv_deadline(deadline) else { break };
            self.take(done, connection)?;
        }
        Ok(())
    }

    /// Queues the check of a document's current text.
    fn submit(&self, key: &str) {
        if let Some(doc) = self.documents.get(key) {
            self.analyst.submit(key, doc.generation, doc.text.clone(), doc.path.clone());
        }
    }

    /// Handles a notification; only a closed connection is an error (a
    /// notification the server cannot use is told on stderr and skipped).
    fn notification(&mut self, notification: Notification, connection: &Connection) -> Result<(), Error> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Some(params) = params::<lsp_types::DidOpenTextDocumentParams>(notification) else { return Ok(()) };
                let key = params.text_document.uri.as_str().to_string();
                self.generation += 1;
                let doc = Document::open(params.text_document.uri, params.text_document.text, self.generation);
                self.documents.insert(key.clone(), doc);
                self.submit(&key);
            }
            DidChangeTextDocument::METHOD => {
                let Some(params) = params::<lsp_types::DidChangeTextDocumentParams>(notification) else {
                    return Ok(());
                };
                let key = params.text_document.uri.as_str().to_string();
                let Some(text) = params.content_changes.into_iter().last().map(|c| c.text) else { return Ok(()) };
                if let Some(doc) = self.documents.get_mut(&key) {
                    self.generation += 1;
                    doc.change(text, self.generation);
                    self.submit(&key);
                }
            }
            DidCloseTextDocument::METHOD => {
                let Some(params) = params::<lsp_types::DidCloseTextDocumentParams>(notification) else { return Ok(()) };
                self.analyst.forget(params.text_document.uri.as_str());
                if let Some(doc) = self.documents.remove(params.text_document.uri.as_str()) {
                    // Problems of a closed file are no longer shown.
                    for file in doc.published {
                        send_diagnostics(connection, &file, Vec::new())?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Publishes a document's problems (and clears those of files that no
    /// longer have any).
    fn publish(&mut self, key: &str, connection: &Connection) -> Result<(), Error> {
        let Some(doc) = self.documents.get_mut(key) else { return Ok(()) };
        let Some(analysis) = doc.current() else { return Ok(()) };
        let by_file = analysis.diagnostics(&doc.uri);
        let stale: Vec<String> = doc.published.iter().filter(|f| !by_file.contains_key(*f)).cloned().collect();
        for file in stale {
            send_diagnostics(connection, &file, Vec::new())?;
        }
        doc.published = by_file.keys().cloned().collect();
        for (file, diagnostics) in by_file {
            send_diagnostics(connection, &file, diagnostics)?;
        }
        Ok(())
    }

    fn request(&mut self, request: Request, connection: &Connection) -> Result<Response, Error> {
        if let Some(key) = request.params.pointer("/textDocument/uri").and_then(|u| u.as_str()) {
            self.await_current(key, connection)?;
        }
        Ok(self.answer(request))
    }

    fn answer(&self, request: Request) -> Response {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            HoverRequest::METHOD => self.at_position(request, |doc, at| serde_json::to_value(navigate::hover(doc, at))),
            Completion::METHOD => {
                self.at_position(request, |doc, at| serde_json::to_value(complete::complete(doc, at)))
            }
            GotoDefinition::METHOD => {
                self.at_position(request, |doc, at| serde_json::to_value(navigate::definition(doc, at)))
            }
            DocumentSymbolRequest::METHOD => {
                self.in_document(request, |doc| serde_json::to_value(navigate::symbols(doc)))
            }
            Formatting::METHOD => self.in_document(request, |doc| serde_json::to_value(format_edits(doc))),
            _ => return Response::new_err(id, ErrorCode::MethodNotFound as i32, format!("`{}`", request.method)),
        };
        respond(id, result)
    }

    /// Answers a request about a place in a document.
    fn at_position(
        &self,
        request: Request,
        answer: impl Fn(&Document, usize) -> serde_json::Result<serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let params: TextDocumentPositionParams = position_params(request.params).map_err(|e| e.to_string())?;
        let Some(doc) = self.documents.get(params.text_document.uri.as_str()) else {
            return Ok(serde_json::Value::Null);
        };
        let offset = LineIndex::new(&doc.text).offset(params.position);
        answer(doc, offset).map_err(|e| e.to_string())
    }

    /// Answers a request about a whole document.
    fn in_document(
        &self,
        request: Request,
        answer: impl Fn(&Document) -> serde_json::Result<serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let uri = request.params.pointer("/textDocument/uri").and_then(|u| u.as_str()).unwrap_or_default();
        match self.documents.get(uri) {
            Some(doc) => answer(doc).map_err(|e| e.to_string()),
            None => Ok(serde_json::Value::Null),
        }
    }
}

/// The position part of a request's parameters (hover, completion and
/// definition all carry `textDocument` and `position` at the top).
fn position_params(params: serde_json::Value) -> serde_json::Result<TextDocumentPositionParams> {
    serde_json::from_value(params)
}

fn respond(id: RequestId, result: Result<serde_json::Value, String>) -> Response {
    match result {
        Ok(value) => Response::new_ok(id, value),
        Err(message) => Response::new_err(id, ErrorCode::InvalidParams as i32, message),
    }
}

/// The whole document in the canonical layout, as one edit (none when it is
/// already formatted, or does not parse).
fn format_edits(doc: &Document) -> Vec<TextEdit> {
    // The current text's parse: the check's, or one made now while it runs.
    let parsed_now;
    let parsed = match doc.current() {
        Some(analysis) => &analysis.parsed,
        None => {
            parsed_now = crate::syntax::parse(&doc.text, crate::source::FileId(0));
            &parsed_now
        }
    };
    if parsed.has_errors() {
        return Vec::new();
    }
    let formatted = crate::format::format(&parsed.program, &parsed.comments, &doc.text);
    // The formatter must not change what the file means; if it would, leave
    // the text alone (`pipe fmt` reports this case).
    let reparsed = crate::syntax::parse(&formatted, crate::source::FileId(0));
    if formatted == doc.text
        || reparsed.has_errors()
        || !crate::syntax::same_program(&reparsed.program, &parsed.program)
    {
        return Vec::new();
    }
    vec![TextEdit { range: LineIndex::new(&doc.text).full_range(), new_text: formatted }]
}

/// A notification's params, or `None` (told on stderr) when they are not
/// what its method takes.
fn params<T: serde::de::DeserializeOwned>(notification: Notification) -> Option<T> {
    let method = notification.method;
    serde_json::from_value(notification.params)
        .map_err(|e| eprintln!("pipe lsp: skipped a `{method}` notification: {e}"))
        .ok()
}

fn send_diagnostics(connection: &Connection, file: &str, diagnostics: Vec<lsp_types::Diagnostic>) -> Result<(), Error> {
    let Ok(uri) = file.parse() else {
        eprintln!("pipe lsp: no diagnostics for `{file}`: not a URI");
        return Ok(());
    };
    let params = PublishDiagnosticsParams { uri, diagnostics, version: None };
    let notification = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
    connection.sender.send(Message::Notification(notification))?;
    Ok(())
}
