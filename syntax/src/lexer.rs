//! The lexer: source text to a flat list of tokens, trivia included.
//!
//! Lexing never fails. Every byte of the input lands in exactly one token, so the tokens'
//! lengths add up to the input's length and the tree built from them prints back to the
//! input. Problems (an unknown character, a bad escape, an unterminated string) become
//! [`LexError`]s beside the tokens; the offending text is still a token (an `ERROR_TOKEN`,
//! or a `STRING` with a bad escape inside) so the parser can carry on.
//!
//! The lexer works on bytes: everything meaningful in the language is ASCII, and anything
//! else outside a string or comment is an error token covering whole characters.

use crate::SyntaxKind::{self, *};
use rowan::{TextRange, TextSize};

/// One token: its kind and its length in bytes (its position is the sum of the lengths
/// before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: SyntaxKind,
    /// Its length in bytes.
    pub len: TextSize,
}

/// A problem found while lexing, with the range of the text it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// Where the problem is.
    pub range: TextRange,
    /// What is wrong, for a person.
    pub message: String,
}

/// The UTF-8 byte-order mark, skipped at the start of a file.
pub const BOM: &str = "\u{feff}";

/// Splits `text` into tokens. The lengths of the returned tokens add up to `text.len()`.
pub fn lex(text: &str) -> (Vec<Token>, Vec<LexError>) {
    let mut lexer = Lexer { bytes: text.as_bytes(), text, pos: 0, tokens: Vec::new(), errors: Vec::new() };
    // A byte-order mark that some editors put at the start of a UTF-8 file is whitespace
    // (spec/language.md, 1): kept in the lossless tree, ignored by the grammar, and not
    // counted as a column (see `LineIndex`).
    if text.starts_with(BOM) {
        lexer.pos = BOM.len();
        lexer.tokens.push(Token { kind: WHITESPACE, len: TextSize::of(BOM) });
    }
    while lexer.pos < lexer.bytes.len() {
        let start = lexer.pos;
        let kind = lexer.next_token();
        debug_assert!(lexer.pos > start, "the lexer must always make progress");
        lexer.tokens.push(Token { kind, len: TextSize::from((lexer.pos - start) as u32) });
    }
    (lexer.tokens, lexer.errors)
}

struct Lexer<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<LexError>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn error(&mut self, start: usize, end: usize, message: impl Into<String>) {
        self.errors.push(LexError {
            range: TextRange::new((start as u32).into(), (end as u32).into()),
            message: message.into(),
        });
    }

    fn eat_while(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek(0).is_some_and(&pred) {
            self.pos += 1;
        }
    }

    fn next_token(&mut self) -> SyntaxKind {
        let start = self.pos;
        let b = self.bytes[self.pos];
        if is_whitespace(b) {
            self.eat_while(is_whitespace);
            return WHITESPACE;
        }
        if is_ident_start(b) {
            self.eat_while(is_ident_continue);
            return SyntaxKind::from_keyword(&self.text[start..self.pos]).unwrap_or(IDENT);
        }
        if b.is_ascii_digit() {
            return self.number(start);
        }
        if b == b'"' {
            return self.string(start);
        }
        if b == b'/' && self.peek(1) == Some(b'/') {
            self.eat_while(|b| b != b'\n');
            return COMMENT;
        }
        let two = |second: u8, double: SyntaxKind, single: SyntaxKind, this: &mut Self| {
            if this.peek(1) == Some(second) {
                this.pos += 2;
                double
            } else {
                this.pos += 1;
                single
            }
        };
        match b {
            b'{' => self.single(L_CURLY),
            b'}' => self.single(R_CURLY),
            b'(' => self.single(L_PAREN),
            b')' => self.single(R_PAREN),
            b'[' => self.single(L_BRACK),
            b']' => self.single(R_BRACK),
            b',' => self.single(COMMA),
            b':' => self.single(COLON),
            b';' => self.single(SEMICOLON),
            b'+' => self.single(PLUS),
            b'*' => self.single(STAR),
            b'/' => self.single(SLASH),
            b'%' => self.single(PERCENT),
            b'?' => self.single(QUESTION),
            b'@' => self.single(AT),
            b'.' => two(b'.', DOT2, DOT, self),
            b'-' => two(b'>', THIN_ARROW, MINUS, self),
            b'=' => two(b'=', EQ2, EQ, self),
            b'!' => two(b'=', NEQ, BANG, self),
            b'<' => two(b'=', LTEQ, LT, self),
            b'>' => two(b'=', GTEQ, GT, self),
            b'&' if self.peek(1) == Some(b'&') => {
                self.pos += 2;
                AMP2
            }
            b'|' if self.peek(1) == Some(b'|') => {
                self.pos += 2;
                PIPE2
            }
            b'&' | b'|' => {
                self.pos += 1;
                let c = b as char;
                self.error(start, self.pos, format!("unexpected `{c}`: the operator is `{c}{c}`"));
                ERROR_TOKEN
            }
            _ => self.unknown(start),
        }
    }

    fn single(&mut self, kind: SyntaxKind) -> SyntaxKind {
        self.pos += 1;
        kind
    }

    /// A run of characters that start no token becomes one error token and one error.
    fn unknown(&mut self, start: usize) -> SyntaxKind {
        let starts_token =
            |b: u8| is_whitespace(b) || is_ident_continue(b) || b"{}()[],:;.+-*/%?@=!<>&|\"".contains(&b);
        let mut end = start;
        while end < self.bytes.len() && !starts_token(self.bytes[end]) {
            end += 1;
            while !self.text.is_char_boundary(end) {
                end += 1;
            }
        }
        self.pos = end;
        let what = &self.text[start..end];
        let message = match what.chars().count() {
            1 => format!("unexpected character `{}`", what.escape_debug()),
            _ => format!("unexpected characters `{}`", what.escape_debug()),
        };
        self.error(start, end, message);
        ERROR_TOKEN
    }

    /// `42`, `1_000`, `3.5`, `1e9`, `2.5e-3`. A `.` is part of a number only when a digit
    /// follows, so `0..10` is `0` `..` `10`.
    fn number(&mut self, start: usize) -> SyntaxKind {
        let digits = |b: u8| b.is_ascii_digit() || b == b'_';
        self.eat_while(digits);
        let mut kind = INT_NUMBER;
        if self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            self.eat_while(digits);
            kind = FLOAT_NUMBER;
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
            if self.peek(1 + sign).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1 + sign;
                self.eat_while(digits);
                kind = FLOAT_NUMBER;
            }
        }
        if !self.peek(0).is_some_and(is_ident_continue) {
            let digits: String = self.text[start..self.pos].chars().filter(|c| *c != '_').collect();
            if kind == INT_NUMBER && digits.parse::<i64>().is_err() {
                self.error(
                    start,
                    self.pos,
                    "integer literal too large: the largest `int` is 9223372036854775807",
                );
            } else if kind == FLOAT_NUMBER && digits.parse::<f64>().is_ok_and(|f| f.is_infinite()) {
                self.error(start, self.pos, "float literal too large: it is beyond the range of `float`");
            }
        }
        if self.peek(0).is_some_and(is_ident_continue) {
            let suffix_start = self.pos;
            self.eat_while(is_ident_continue);
            let suffix = &self.text[suffix_start..self.pos];
            self.error(
                start,
                self.pos,
                format!(
                    "invalid number `{}`: unexpected `{suffix}` after the digits",
                    &self.text[start..self.pos]
                ),
            );
        }
        kind
    }

    /// A string literal. It may not contain a raw line break (write `\n`): an unclosed
    /// quote then costs one line, not the rest of the file.
    fn string(&mut self, start: usize) -> SyntaxKind {
        self.pos += 1;
        loop {
            match self.peek(0) {
                None | Some(b'\n') => {
                    let end =
                        if self.bytes.get(self.pos.wrapping_sub(1)) == Some(&b'\r') && self.pos - 1 > start {
                            self.pos - 1
                        } else {
                            self.pos
                        };
                    self.pos = end;
                    self.error(
                        start,
                        end,
                        "unterminated string: add a closing `\"` before the end of the line",
                    );
                    return STRING;
                }
                Some(b'"') => {
                    self.pos += 1;
                    return STRING;
                }
                Some(b'\\') => self.escape(),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn escape(&mut self) {
        let start = self.pos;
        self.pos += 1;
        match self.peek(0) {
            Some(b'n' | b't' | b'r' | b'\\' | b'"' | b'0') => self.pos += 1,
            Some(b'u') => {
                self.pos += 1;
                if self.peek(0) != Some(b'{') {
                    self.error(
                        start,
                        self.pos,
                        "invalid escape `\\u`: write `\\u{...}` with 1 to 6 hex digits",
                    );
                    return;
                }
                self.pos += 1;
                let digits_start = self.pos;
                self.eat_while(|b| b.is_ascii_hexdigit());
                let digits = &self.text[digits_start..self.pos];
                if self.peek(0) != Some(b'}') {
                    self.error(
                        start,
                        self.pos,
                        "invalid escape: `\\u{` must be closed by `}` after 1 to 6 hex digits",
                    );
                    return;
                }
                self.pos += 1;
                let valid = (1..=6).contains(&digits.len())
                    && u32::from_str_radix(digits, 16).ok().and_then(char::from_u32).is_some();
                if !valid {
                    let escape = &self.text[start..self.pos];
                    self.error(
                        start,
                        self.pos,
                        format!("invalid escape `{escape}`: not a Unicode scalar value"),
                    );
                }
            }
            None | Some(b'\n') => {
                self.error(start, self.pos, "a `\\` at the end of the line escapes nothing");
            }
            Some(_) => {
                let mut end = self.pos + 1;
                while !self.text.is_char_boundary(end) {
                    end += 1;
                }
                self.pos = end;
                let escape = &self.text[start..end];
                self.error(
                    start,
                    end,
                    format!(
                        "unknown escape `{escape}`: the escapes are \\n \\t \\r \\\\ \\\" \\0 and \\u{{...}}"
                    ),
                );
            }
        }
    }
}

/// The value of a string literal token's text (quotes included), with escapes resolved.
/// Invalid escapes (already reported by [`lex`]) are kept as written.
pub fn string_value(token_text: &str) -> String {
    let inner = token_text.strip_prefix('"').unwrap_or(token_text);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let rest = &inner[i + 2..];
                let decoded = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)))
                    .and_then(|(len, v)| char::from_u32(v).map(|c| (len, c)));
                match decoded {
                    Some((len, c)) => {
                        out.push(c);
                        // Skip `u`, `{`, the digits and `}`.
                        for _ in 0..len + 3 {
                            chars.next();
                        }
                        continue;
                    }
                    None => out.push('\\'),
                }
                continue;
            }
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};
    use std::fmt::Write;

    fn check(input: &str, expect: Expect) {
        let (tokens, errors) = lex(input);
        let mut out = String::new();
        let mut pos = 0usize;
        for t in &tokens {
            let len = usize::from(t.len);
            writeln!(out, "{:?} {:?}", t.kind, &input[pos..pos + len]).unwrap();
            pos += len;
        }
        assert_eq!(pos, input.len());
        for e in &errors {
            writeln!(out, "error {:?}: {}", e.range, e.message).unwrap();
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn numbers_and_ranges() {
        check(
            "0..10 3.5 1e9 2.5e-3 1_000 1E+3 7.x 12ab 9223372036854775808 1e400",
            expect![[r#"
                INT_NUMBER "0"
                DOT2 ".."
                INT_NUMBER "10"
                WHITESPACE " "
                FLOAT_NUMBER "3.5"
                WHITESPACE " "
                FLOAT_NUMBER "1e9"
                WHITESPACE " "
                FLOAT_NUMBER "2.5e-3"
                WHITESPACE " "
                INT_NUMBER "1_000"
                WHITESPACE " "
                FLOAT_NUMBER "1E+3"
                WHITESPACE " "
                INT_NUMBER "7"
                DOT "."
                IDENT "x"
                WHITESPACE " "
                INT_NUMBER "12ab"
                WHITESPACE " "
                INT_NUMBER "9223372036854775808"
                WHITESPACE " "
                FLOAT_NUMBER "1e400"
                error 36..40: invalid number `12ab`: unexpected `ab` after the digits
                error 41..60: integer literal too large: the largest `int` is 9223372036854775807
                error 61..66: float literal too large: it is beyond the range of `float`
            "#]],
        );
    }

    #[test]
    fn punctuation_longest_match() {
        check(
            "->-==!=<=>=&&||&|@?..",
            expect![[r#"
                THIN_ARROW "->"
                MINUS "-"
                EQ2 "=="
                NEQ "!="
                LTEQ "<="
                GTEQ ">="
                AMP2 "&&"
                PIPE2 "||"
                ERROR_TOKEN "&"
                ERROR_TOKEN "|"
                AT "@"
                QUESTION "?"
                DOT2 ".."
                error 15..16: unexpected `&`: the operator is `&&`
                error 16..17: unexpected `|`: the operator is `||`
            "#]],
        );
    }

    #[test]
    fn strings_and_escapes() {
        check(
            r#""a\n\u{1F980}" "bad \q" "open
"#,
            expect![[r#"
                STRING "\"a\\n\\u{1F980}\""
                WHITESPACE " "
                STRING "\"bad \\q\""
                WHITESPACE " "
                STRING "\"open"
                WHITESPACE "\n"
                error 20..22: unknown escape `\q`: the escapes are \n \t \r \\ \" \0 and \u{...}
                error 24..29: unterminated string: add a closing `"` before the end of the line
            "#]],
        );
        assert_eq!(string_value(r#""a\n\u{1F980}\"\\""#), "a\n\u{1F980}\"\\");
        assert_eq!(string_value(r#""\u{110000}""#), "\\u{110000}");
    }

    #[test]
    fn keywords_comments_and_unknown_characters() {
        check(
            "fn self // note\nint é€ x",
            expect![[r#"
                FN_KW "fn"
                WHITESPACE " "
                SELF_KW "self"
                WHITESPACE " "
                COMMENT "// note"
                WHITESPACE "\n"
                IDENT "int"
                WHITESPACE " "
                ERROR_TOKEN "é€"
                WHITESPACE " "
                IDENT "x"
                error 20..25: unexpected characters `é€`
            "#]],
        );
    }
}
