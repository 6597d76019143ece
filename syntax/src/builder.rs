//! Turns the parser's events and the lexer's tokens into a rowan green tree.
//!
//! The parser only saw non-trivia tokens; here the trivia go back in. Trivia before a
//! node's first token are placed outside the node (in its parent), so a node's range is
//! exactly its own tokens; trivia at the end of the file belong to the root. The builder
//! is iterative, whatever the depth of the tree.

use crate::SyntaxKind;
use crate::lexer::Token;
use crate::parser::{Event, TOMBSTONE};
use rowan::{GreenNode, GreenNodeBuilder, TextRange, TextSize};

pub(crate) fn build_tree(text: &str, tokens: &[Token], mut events: Vec<Event>) -> GreenNode {
    let mut builder =
        Builder { text, tokens, pos: 0, offset: TextSize::from(0), inner: GreenNodeBuilder::new() };
    let mut forward_parents = Vec::new();
    let mut open = 0usize;
    for i in 0..events.len() {
        match std::mem::replace(&mut events[i], Event::Start { kind: TOMBSTONE, forward_parent: None }) {
            Event::Start { kind: TOMBSTONE, forward_parent: None } => {}
            Event::Start { kind, forward_parent } => {
                // `precede` recorded the new parent later in the list: open the chain of
                // parents outermost first.
                forward_parents.push(kind);
                let mut idx = i;
                let mut fp = forward_parent;
                while let Some(delta) = fp {
                    idx += delta as usize;
                    fp = match std::mem::replace(
                        &mut events[idx],
                        Event::Start { kind: TOMBSTONE, forward_parent: None },
                    ) {
                        Event::Start { kind, forward_parent } => {
                            forward_parents.push(kind);
                            forward_parent
                        }
                        _ => unreachable!("forward parents point at Start events"),
                    };
                }
                for kind in forward_parents.drain(..).rev() {
                    if kind == TOMBSTONE {
                        continue;
                    }
                    if open > 0 {
                        builder.eat_trivia();
                    }
                    builder.inner.start_node(kind.into());
                    open += 1;
                }
            }
            Event::Finish => {
                open -= 1;
                if open == 0 {
                    builder.eat_trivia();
                }
                builder.inner.finish_node();
            }
            Event::Token => {
                builder.eat_trivia();
                builder.token();
            }
        }
    }
    builder.inner.finish()
}

struct Builder<'a> {
    text: &'a str,
    tokens: &'a [Token],
    pos: usize,
    offset: TextSize,
    inner: GreenNodeBuilder<'static>,
}

impl Builder<'_> {
    fn eat_trivia(&mut self) {
        while self.tokens.get(self.pos).is_some_and(|t| t.kind.is_trivia()) {
            self.token();
        }
    }

    fn token(&mut self) {
        let token = self.tokens[self.pos];
        let range = TextRange::at(self.offset, token.len);
        self.inner.token(SyntaxKind::into(token.kind), &self.text[range]);
        self.offset += token.len;
        self.pos += 1;
    }
}
