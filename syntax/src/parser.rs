//! The event-based parser engine: token cursor, markers, `precede`, errors.
//!
//! The grammar functions (in [`crate::grammar`]) never build a tree. They emit a flat list of
//! [`Event`]s (start a node, take a token, finish a node) through [`Marker`]s, and
//! [`crate::builder`] turns the events into a rowan tree afterwards, re-inserting the trivia.
//! `precede` lets a completed node become the first child of a new one, which is how
//! postfix and binary operators are parsed without backtracking: `a + b` parses `a`,
//! sees `+`, and wraps `a` in a `BIN_EXPR` after the fact.
//!
//! Depth. Every marker knows how deep the subtree below it is, so the parser knows at any
//! moment how deep the tree it is building will be. Nothing may be nested more than
//! [`MAX_DEPTH`] levels: deeper input becomes a syntax error and its tokens are skipped
//! without recursion. This bounds both this parser's recursion and that of every later pass
//! that walks the tree, so no input can overflow a stack.

use crate::SyntaxKind::{self, *};
use crate::lexer::Token;
use rowan::{TextRange, TextSize};

/// The deepest tree the parser builds. Real programs stay far below it (a function body
/// nested twenty blocks deep with long expressions is about 100 levels).
pub const MAX_DEPTH: usize = 512;

/// One step of the parse, replayed by the tree builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Open a node. `forward_parent` points at a later `Start` that must be opened first
    /// (set by `precede`). Abandoned markers leave a `Start` of kind `TOMBSTONE`.
    Start { kind: SyntaxKind, forward_parent: Option<u32> },
    /// Close the innermost open node.
    Finish,
    /// Take the next non-trivia token.
    Token,
}

/// `Start` events of abandoned markers carry this kind and are skipped by the builder.
pub(crate) const TOMBSTONE: SyntaxKind = SyntaxKind::__LAST;

/// A syntax error: a byte range of the input and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    /// Where to point. Empty when something is missing (it then sits where it belongs).
    pub range: TextRange,
    /// What is wrong: "expected `;` after the expression".
    pub message: String,
}

/// A set of token kinds, for lookahead and recovery.
#[derive(Clone, Copy)]
pub(crate) struct TokenSet(u128);

impl TokenSet {
    pub(crate) const EMPTY: TokenSet = TokenSet(0);

    pub(crate) const fn new(kinds: &[SyntaxKind]) -> TokenSet {
        let mut bits = 0u128;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1u128 << kinds[i] as u16;
            i += 1;
        }
        TokenSet(bits)
    }

    pub(crate) const fn union(self, other: TokenSet) -> TokenSet {
        TokenSet(self.0 | other.0)
    }

    pub(crate) const fn contains(self, kind: SyntaxKind) -> bool {
        (kind as u16) < 128 && self.0 & (1u128 << kind as u16) != 0
    }
}

/// A non-trivia token as the parser sees it.
#[derive(Debug, Clone, Copy)]
struct Lexeme {
    kind: SyntaxKind,
    range: TextRange,
    /// Whether a line break separates this token from the previous non-trivia one.
    after_newline: bool,
}

pub(crate) struct Parser<'t> {
    text: &'t str,
    lexemes: Vec<Lexeme>,
    pos: usize,
    events: Vec<Event>,
    errors: Vec<SyntaxError>,
    /// One entry per open marker: the depth of the deepest completed child so far.
    open: Vec<u32>,
    /// Guards against a grammar bug looping without consuming input.
    steps: u32,
    /// Set once a too-deep error has been reported.
    too_deep_reported: bool,
    /// The token at which the last error was reported.
    last_error_at: Option<usize>,
    /// Ranges of the lexer's errors, in order.
    lex_errors: Vec<TextRange>,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl<'t> Parser<'t> {
    pub(crate) fn new(text: &'t str, tokens: &[Token], lex_errors: Vec<TextRange>) -> Parser<'t> {
        let mut lexemes = Vec::with_capacity(tokens.len() / 2 + 1);
        let mut offset = TextSize::from(0);
        let mut newline = false;
        for token in tokens {
            let range = TextRange::at(offset, token.len);
            offset += token.len;
            if token.kind.is_trivia() {
                newline |= text[range].contains('\n');
                continue;
            }
            lexemes.push(Lexeme { kind: token.kind, range, after_newline: newline });
            newline = false;
        }
        let eof = TextRange::empty(offset);
        lexemes.push(Lexeme { kind: EOF, range: eof, after_newline: newline });
        Parser {
            text,
            lexemes,
            pos: 0,
            events: Vec::with_capacity(tokens.len() * 2),
            errors: Vec::new(),
            open: Vec::new(),
            steps: 0,
            too_deep_reported: false,
            last_error_at: None,
            lex_errors,
            line_starts: std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect(),
        }
    }

    pub(crate) fn finish(self) -> (Vec<Event>, Vec<SyntaxError>) {
        (self.events, self.errors)
    }

    // ---- looking at tokens -------------------------------------------------------------

    /// The kind of the token `n` ahead of the current one (`EOF` past the end).
    pub(crate) fn nth(&self, n: usize) -> SyntaxKind {
        self.lexemes.get(self.pos + n).map_or(EOF, |l| l.kind)
    }

    pub(crate) fn current(&mut self) -> SyntaxKind {
        self.steps += 1;
        assert!(self.steps < 10_000_000 + self.lexemes.len() as u32 * 64, "the parser is stuck");
        self.nth(0)
    }

    pub(crate) fn at(&mut self, kind: SyntaxKind) -> bool {
        self.current() == kind
    }

    pub(crate) fn at_ts(&mut self, set: TokenSet) -> bool {
        set.contains(self.current())
    }

    /// The text of the current token.
    pub(crate) fn current_text(&self) -> &'t str {
        let range = self.lexemes[self.pos.min(self.lexemes.len() - 1)].range;
        &self.text[range]
    }

    /// Whether a line break separates the current token from the previous one.
    pub(crate) fn at_line_start(&self) -> bool {
        self.lexemes[self.pos.min(self.lexemes.len() - 1)].after_newline
    }

    /// The indentation (in bytes) of the line the current token is on.
    pub(crate) fn current_indent(&self) -> usize {
        let start = usize::from(self.current_range().start());
        self.indent_of(start)
    }

    /// The indentation of the line containing `offset`: a binary search in the line
    /// starts (computed once), so this stays cheap on a file that is one long line.
    pub(crate) fn indent_of(&self, offset: usize) -> usize {
        let line = self.line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
        let line_start = self.line_starts.get(line).copied().unwrap_or(0);
        self.text[line_start..].bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
    }

    pub(crate) fn text_of(&self, range: TextRange) -> &'t str {
        &self.text[range]
    }

    pub(crate) fn current_range(&self) -> TextRange {
        self.lexemes[self.pos.min(self.lexemes.len() - 1)].range
    }

    /// Where the previous non-trivia token ends.
    pub(crate) fn previous_end(&self) -> TextSize {
        match self.pos.checked_sub(1) {
            Some(prev) => self.lexemes[prev].range.end(),
            None => TextSize::from(0),
        }
    }

    // ---- consuming tokens --------------------------------------------------------------

    /// Consumes the current token, which must be `kind`.
    pub(crate) fn bump(&mut self, kind: SyntaxKind) {
        assert!(self.eat(kind), "bump of {kind:?} at {:?}", self.current());
    }

    /// Consumes the current token whatever it is (not EOF).
    pub(crate) fn bump_any(&mut self) {
        if self.nth(0) == EOF {
            return;
        }
        self.pos += 1;
        self.events.push(Event::Token);
    }

    pub(crate) fn eat(&mut self, kind: SyntaxKind) -> bool {
        if !self.at(kind) {
            return false;
        }
        self.bump_any();
        true
    }

    /// Consumes `kind` or reports "expected `kind` `context`". The error points just after
    /// the previous token when the current one starts a new line (the usual place of a
    /// forgotten `;`), and at the current token otherwise.
    pub(crate) fn expect(&mut self, kind: SyntaxKind, context: &str) -> bool {
        if self.eat(kind) {
            return true;
        }
        self.error_expected(kind.describe(), context);
        false
    }

    pub(crate) fn error_expected(&mut self, what: &str, context: &str) {
        let sep = if context.is_empty() { "" } else { " " };
        let current = self.nth(0);
        if self.at_line_start() || current == EOF {
            let at = TextRange::empty(self.previous_end());
            self.push_error(at, format!("expected {what}{sep}{context}"));
        } else {
            let found = self.describe_current();
            self.push_error(self.current_range(), format!("expected {what}{sep}{context}, found {found}"));
        }
    }

    pub(crate) fn describe_current(&self) -> String {
        match self.nth(0) {
            IDENT => format!("`{}`", self.current_text()),
            INT_NUMBER | FLOAT_NUMBER => format!("the number `{}`", self.current_text()),
            STRING => "a string".to_string(),
            ERROR_TOKEN => format!("`{}`", self.current_text()),
            kind if kind.is_keyword() => format!("the keyword {}", kind.describe()),
            kind => kind.describe().to_string(),
        }
    }

    /// Reports an error at the current token.
    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.push_error(self.current_range(), message.into());
    }

    pub(crate) fn error_at(&mut self, range: TextRange, message: impl Into<String>) {
        self.push_error(range, message.into());
    }

    /// Errors are kept in source order and at most one per position: the second complaint
    /// about the same place is almost always a consequence of the first.
    fn push_error(&mut self, range: TextRange, message: String) {
        // Near the depth limit, after a too-deep error, everything else is a consequence
        // of the skipped tokens.
        if self.too_deep_reported && self.open.len() + 32 > MAX_DEPTH {
            return;
        }
        // One complaint per token: a second one at the same place is a consequence.
        if self.last_error_at == Some(self.pos) {
            return;
        }
        // A parser error touching text the lexer already rejected (the `)` swallowed by an
        // unterminated string, the operand after an invalid character) is a consequence.
        let touches = |lex: &TextRange| lex.start() <= range.end() && range.start() <= lex.end();
        let first_after = self.lex_errors.partition_point(|lex| lex.end() < range.start());
        if self.lex_errors.get(first_after).is_some_and(touches) {
            return;
        }
        self.last_error_at = Some(self.pos);
        // An error token already carries a lexer error: don't add a parser error on top.
        if self.nth(0) == ERROR_TOKEN && range == self.current_range() {
            return;
        }
        self.errors.push(SyntaxError { range, message });
    }

    /// Reports `message` at the current token and wraps it in an `ERROR` node, unless the
    /// token is in `recovery` (or closes a block), in which case it is left for an
    /// enclosing rule.
    pub(crate) fn err_recover(&mut self, message: impl Into<String>, recovery: TokenSet) {
        let message = message.into();
        if self.at_ts(recovery) || self.at(T!['}']) || self.at(EOF) {
            self.error_expected_raw(message);
            return;
        }
        self.error(message);
        let m = self.start();
        self.bump_any();
        m.complete(self, ERROR);
    }

    fn error_expected_raw(&mut self, message: String) {
        if self.at_line_start() || self.nth(0) == EOF {
            let at = TextRange::empty(self.previous_end());
            self.push_error(at, message);
        } else {
            self.push_error(self.current_range(), message);
        }
    }

    /// Skips tokens into one `ERROR` node until one of `stop` at bracket depth zero (or an
    /// unmatched closing bracket, or EOF). Iterative: it is what deep input falls back to.
    pub(crate) fn skip_balanced(&mut self, stop: TokenSet) {
        let m = self.start();
        let mut depth = 0usize;
        loop {
            let kind = self.current();
            match kind {
                EOF => break,
                L_PAREN | L_BRACK | L_CURLY => depth += 1,
                R_PAREN | R_BRACK | R_CURLY => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ if depth == 0 && stop.contains(kind) => break,
                _ => {}
            }
            self.bump_any();
        }
        m.complete(self, ERROR);
    }

    // ---- depth ---------------------------------------------------------------------------

    /// True (after reporting it once) when a node opened here would be nested deeper than
    /// [`MAX_DEPTH`]. The caller then skips the construct with [`Parser::skip_balanced`].
    pub(crate) fn too_deep(&mut self, extra: u32) -> bool {
        if self.open.len() + (extra as usize) < MAX_DEPTH {
            return false;
        }
        self.too_deep_reported = false;
        self.error(format!(
            "this is nested too deeply: custody accepts at most {MAX_DEPTH} levels of syntax; \
             split it into smaller pieces"
        ));
        self.too_deep_reported = true;
        true
    }

    // ---- markers -------------------------------------------------------------------------

    pub(crate) fn start(&mut self) -> Marker {
        let pos = self.events.len() as u32;
        self.events.push(Event::Start { kind: TOMBSTONE, forward_parent: None });
        self.open.push(0);
        Marker { pos, open_index: self.open.len() - 1, done: false }
    }
}

/// An open node. It must be completed or abandoned (debug builds check).
pub(crate) struct Marker {
    pos: u32,
    open_index: usize,
    done: bool,
}

impl Marker {
    pub(crate) fn complete(mut self, p: &mut Parser<'_>, kind: SyntaxKind) -> CompletedMarker {
        self.done = true;
        debug_assert_eq!(p.open.len() - 1, self.open_index, "markers completed out of order");
        let depth = p.open.pop().unwrap_or(0) + 1;
        if let Some(parent) = p.open.last_mut() {
            *parent = (*parent).max(depth);
        }
        match &mut p.events[self.pos as usize] {
            Event::Start { kind: slot, .. } => *slot = kind,
            _ => unreachable!("a marker always points at a Start event"),
        }
        p.events.push(Event::Finish);
        CompletedMarker { pos: self.pos, kind, depth }
    }

    pub(crate) fn abandon(mut self, p: &mut Parser<'_>) {
        self.done = true;
        let children = p.open.pop().unwrap_or(0);
        if let Some(parent) = p.open.last_mut() {
            *parent = (*parent).max(children);
        }
        if self.pos as usize == p.events.len() - 1 {
            p.events.pop();
        }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        if !self.done && !std::thread::panicking() {
            debug_assert!(false, "a marker was neither completed nor abandoned");
        }
    }
}

/// A finished node, which can still be wrapped by a new parent (`precede`).
#[derive(Clone, Copy)]
pub(crate) struct CompletedMarker {
    pos: u32,
    kind: SyntaxKind,
    depth: u32,
}

impl CompletedMarker {
    pub(crate) fn kind(&self) -> SyntaxKind {
        self.kind
    }

    /// How many levels the subtree rooted here has.
    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }

    /// Opens a new node that will have this one as its first child.
    pub(crate) fn precede(self, p: &mut Parser<'_>) -> Marker {
        let new = p.start();
        if let Some(parent) = p.open.last_mut() {
            *parent = self.depth;
        }
        match &mut p.events[self.pos as usize] {
            Event::Start { forward_parent, .. } => *forward_parent = Some(new.pos - self.pos),
            _ => unreachable!("a marker always points at a Start event"),
        }
        new
    }
}
