//! Every kind of token and node in a custody syntax tree.
//!
//! Tokens come first (trivia, punctuation, keywords, literals), then nodes, whose names
//! follow `custody.ungram` (`FnItem` there is `FN_ITEM` here). The `T!` macro names
//! punctuation and keyword tokens by their spelling, so grammar code reads like the
//! grammar: `p.expect(T![;])`.

/// The kind of a token or node. `#[repr(u16)]` so it converts to `rowan::SyntaxKind`.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum SyntaxKind {
    // Trivia and special tokens.
    WHITESPACE = 0,
    COMMENT,
    /// A character or byte sequence the lexer could not make sense of.
    ERROR_TOKEN,
    EOF,

    // Punctuation.
    L_CURLY,
    R_CURLY,
    L_PAREN,
    R_PAREN,
    L_BRACK,
    R_BRACK,
    COMMA,
    COLON,
    SEMICOLON,
    DOT,
    DOT2,
    THIN_ARROW,
    EQ,
    EQ2,
    NEQ,
    LT,
    LTEQ,
    GT,
    GTEQ,
    PLUS,
    MINUS,
    STAR,
    SLASH,
    PERCENT,
    BANG,
    AMP2,
    PIPE2,
    QUESTION,
    AT,

    // Keywords.
    FN_KW,
    EXTERN_KW,
    GLOBAL_KW,
    CLASS_KW,
    STRUCT_KW,
    LET_KW,
    IF_KW,
    ELSE_KW,
    WHILE_KW,
    FOR_KW,
    IN_KW,
    RETURN_KW,
    BREAK_KW,
    CONTINUE_KW,
    SPAWN_KW,
    ARENA_KW,
    SELF_KW,
    DROP_KW,
    OWN_KW,
    BORROW_KW,
    NULL_KW,
    TRUE_KW,
    FALSE_KW,

    // Literals and identifiers.
    IDENT,
    INT_NUMBER,
    FLOAT_NUMBER,
    STRING,

    // Nodes.
    SOURCE_FILE,
    /// Tokens the parser could not place, wrapped so the tree stays lossless.
    ERROR,
    FN_ITEM,
    EXTERN_FN,
    GLOBAL_ITEM,
    STRUCT_ITEM,
    CLASS_ITEM,
    ATTR,
    MEMBER_LIST,
    FIELD,
    DROP_BLOCK,
    PARAM_LIST,
    PARAM,
    SELF_PARAM,
    PARAM_MODE,
    RET_TYPE,
    NAME_TYPE,
    ARRAY_TYPE,
    NULLABLE_TYPE,
    FN_TYPE,
    PAREN_TYPE,
    BLOCK,
    LET_STMT,
    ASSIGN_STMT,
    EXPR_STMT,
    IF_STMT,
    WHILE_STMT,
    FOR_STMT,
    RANGE_CLAUSE,
    RETURN_STMT,
    BREAK_STMT,
    CONTINUE_STMT,
    ARENA_STMT,
    SPAWN_STMT,
    LITERAL,
    SELF_EXPR,
    PAREN_EXPR,
    ARRAY_EXPR,
    ARRAY_REPEAT_EXPR,
    RECORD_EXPR,
    RECORD_FIELD_LIST,
    RECORD_FIELD,
    CLOSURE_EXPR,
    PREFIX_EXPR,
    BIN_EXPR,
    CALL_EXPR,
    METHOD_CALL_EXPR,
    FIELD_EXPR,
    INDEX_EXPR,
    ARG_LIST,
    NAME,
    NAME_REF,

    #[doc(hidden)]
    __LAST,
}

use SyntaxKind::*;

impl SyntaxKind {
    /// Whitespace and comments: kept in the tree, skipped by the parser.
    pub fn is_trivia(self) -> bool {
        matches!(self, WHITESPACE | COMMENT)
    }

    /// Keywords, by their spelling.
    pub fn from_keyword(ident: &str) -> Option<SyntaxKind> {
        let kw = match ident {
            "fn" => FN_KW,
            "extern" => EXTERN_KW,
            "global" => GLOBAL_KW,
            "class" => CLASS_KW,
            "struct" => STRUCT_KW,
            "let" => LET_KW,
            "if" => IF_KW,
            "else" => ELSE_KW,
            "while" => WHILE_KW,
            "for" => FOR_KW,
            "in" => IN_KW,
            "return" => RETURN_KW,
            "break" => BREAK_KW,
            "continue" => CONTINUE_KW,
            "spawn" => SPAWN_KW,
            "arena" => ARENA_KW,
            "self" => SELF_KW,
            "drop" => DROP_KW,
            "own" => OWN_KW,
            "borrow" => BORROW_KW,
            "null" => NULL_KW,
            "true" => TRUE_KW,
            "false" => FALSE_KW,
            _ => return None,
        };
        Some(kw)
    }

    /// Is this a keyword token?
    pub fn is_keyword(self) -> bool {
        (FN_KW as u16..=FALSE_KW as u16).contains(&(self as u16))
    }

    /// How a person would name this token in an error message: "`;`", "an identifier".
    pub fn describe(self) -> &'static str {
        match self {
            WHITESPACE => "whitespace",
            COMMENT => "a comment",
            ERROR_TOKEN => "an invalid character",
            EOF => "the end of the file",
            L_CURLY => "`{`",
            R_CURLY => "`}`",
            L_PAREN => "`(`",
            R_PAREN => "`)`",
            L_BRACK => "`[`",
            R_BRACK => "`]`",
            COMMA => "`,`",
            COLON => "`:`",
            SEMICOLON => "`;`",
            DOT => "`.`",
            DOT2 => "`..`",
            THIN_ARROW => "`->`",
            EQ => "`=`",
            EQ2 => "`==`",
            NEQ => "`!=`",
            LT => "`<`",
            LTEQ => "`<=`",
            GT => "`>`",
            GTEQ => "`>=`",
            PLUS => "`+`",
            MINUS => "`-`",
            STAR => "`*`",
            SLASH => "`/`",
            PERCENT => "`%`",
            BANG => "`!`",
            AMP2 => "`&&`",
            PIPE2 => "`||`",
            QUESTION => "`?`",
            AT => "`@`",
            FN_KW => "`fn`",
            EXTERN_KW => "`extern`",
            GLOBAL_KW => "`global`",
            CLASS_KW => "`class`",
            STRUCT_KW => "`struct`",
            LET_KW => "`let`",
            IF_KW => "`if`",
            ELSE_KW => "`else`",
            WHILE_KW => "`while`",
            FOR_KW => "`for`",
            IN_KW => "`in`",
            RETURN_KW => "`return`",
            BREAK_KW => "`break`",
            CONTINUE_KW => "`continue`",
            SPAWN_KW => "`spawn`",
            ARENA_KW => "`arena`",
            SELF_KW => "`self`",
            DROP_KW => "`drop`",
            OWN_KW => "`own`",
            BORROW_KW => "`borrow`",
            NULL_KW => "`null`",
            TRUE_KW => "`true`",
            FALSE_KW => "`false`",
            IDENT => "an identifier",
            INT_NUMBER => "an integer",
            FLOAT_NUMBER => "a float",
            STRING => "a string",
            _ => "a syntax node",
        }
    }
}

impl From<SyntaxKind> for rowan::SyntaxKind {
    fn from(kind: SyntaxKind) -> Self {
        rowan::SyntaxKind(kind as u16)
    }
}

/// The rowan language tag for custody trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CustodyLanguage {}

impl rowan::Language for CustodyLanguage {
    type Kind = SyntaxKind;

    fn kind_from_raw(raw: rowan::SyntaxKind) -> SyntaxKind {
        assert!(raw.0 < SyntaxKind::__LAST as u16, "invalid syntax kind {}", raw.0);
        // SAFETY-free conversion: look the value up in a table built from the enum.
        KINDS[raw.0 as usize]
    }

    fn kind_to_raw(kind: SyntaxKind) -> rowan::SyntaxKind {
        kind.into()
    }
}

/// Every kind in discriminant order, so raw values convert back without `unsafe`.
const KINDS: [SyntaxKind; SyntaxKind::__LAST as usize] = {
    let mut table = [SyntaxKind::ERROR; SyntaxKind::__LAST as usize];
    let all = ALL_KINDS;
    let mut i = 0;
    while i < all.len() {
        table[all[i] as usize] = all[i];
        i += 1;
    }
    table
};

const ALL_KINDS: [SyntaxKind; SyntaxKind::__LAST as usize] = [
    WHITESPACE,
    COMMENT,
    ERROR_TOKEN,
    EOF,
    L_CURLY,
    R_CURLY,
    L_PAREN,
    R_PAREN,
    L_BRACK,
    R_BRACK,
    COMMA,
    COLON,
    SEMICOLON,
    DOT,
    DOT2,
    THIN_ARROW,
    EQ,
    EQ2,
    NEQ,
    LT,
    LTEQ,
    GT,
    GTEQ,
    PLUS,
    MINUS,
    STAR,
    SLASH,
    PERCENT,
    BANG,
    AMP2,
    PIPE2,
    QUESTION,
    AT,
    FN_KW,
    EXTERN_KW,
    GLOBAL_KW,
    CLASS_KW,
    STRUCT_KW,
    LET_KW,
    IF_KW,
    ELSE_KW,
    WHILE_KW,
    FOR_KW,
    IN_KW,
    RETURN_KW,
    BREAK_KW,
    CONTINUE_KW,
    SPAWN_KW,
    ARENA_KW,
    SELF_KW,
    DROP_KW,
    OWN_KW,
    BORROW_KW,
    NULL_KW,
    TRUE_KW,
    FALSE_KW,
    IDENT,
    INT_NUMBER,
    FLOAT_NUMBER,
    STRING,
    SOURCE_FILE,
    ERROR,
    FN_ITEM,
    EXTERN_FN,
    GLOBAL_ITEM,
    STRUCT_ITEM,
    CLASS_ITEM,
    ATTR,
    MEMBER_LIST,
    FIELD,
    DROP_BLOCK,
    PARAM_LIST,
    PARAM,
    SELF_PARAM,
    PARAM_MODE,
    RET_TYPE,
    NAME_TYPE,
    ARRAY_TYPE,
    NULLABLE_TYPE,
    FN_TYPE,
    PAREN_TYPE,
    BLOCK,
    LET_STMT,
    ASSIGN_STMT,
    EXPR_STMT,
    IF_STMT,
    WHILE_STMT,
    FOR_STMT,
    RANGE_CLAUSE,
    RETURN_STMT,
    BREAK_STMT,
    CONTINUE_STMT,
    ARENA_STMT,
    SPAWN_STMT,
    LITERAL,
    SELF_EXPR,
    PAREN_EXPR,
    ARRAY_EXPR,
    ARRAY_REPEAT_EXPR,
    RECORD_EXPR,
    RECORD_FIELD_LIST,
    RECORD_FIELD,
    CLOSURE_EXPR,
    PREFIX_EXPR,
    BIN_EXPR,
    CALL_EXPR,
    METHOD_CALL_EXPR,
    FIELD_EXPR,
    INDEX_EXPR,
    ARG_LIST,
    NAME,
    NAME_REF,
];

/// A token kind by its spelling: `T![;]`, `T![fn]`, `T![ident]`.
#[macro_export]
macro_rules! T {
    ['{'] => { $crate::SyntaxKind::L_CURLY };
    ['}'] => { $crate::SyntaxKind::R_CURLY };
    ['('] => { $crate::SyntaxKind::L_PAREN };
    [')'] => { $crate::SyntaxKind::R_PAREN };
    ['['] => { $crate::SyntaxKind::L_BRACK };
    [']'] => { $crate::SyntaxKind::R_BRACK };
    [,] => { $crate::SyntaxKind::COMMA };
    [:] => { $crate::SyntaxKind::COLON };
    [;] => { $crate::SyntaxKind::SEMICOLON };
    [.] => { $crate::SyntaxKind::DOT };
    [..] => { $crate::SyntaxKind::DOT2 };
    [->] => { $crate::SyntaxKind::THIN_ARROW };
    [=] => { $crate::SyntaxKind::EQ };
    [==] => { $crate::SyntaxKind::EQ2 };
    [!=] => { $crate::SyntaxKind::NEQ };
    [<] => { $crate::SyntaxKind::LT };
    [<=] => { $crate::SyntaxKind::LTEQ };
    [>] => { $crate::SyntaxKind::GT };
    [>=] => { $crate::SyntaxKind::GTEQ };
    [+] => { $crate::SyntaxKind::PLUS };
    [-] => { $crate::SyntaxKind::MINUS };
    [*] => { $crate::SyntaxKind::STAR };
    [/] => { $crate::SyntaxKind::SLASH };
    [%] => { $crate::SyntaxKind::PERCENT };
    [!] => { $crate::SyntaxKind::BANG };
    [&&] => { $crate::SyntaxKind::AMP2 };
    [||] => { $crate::SyntaxKind::PIPE2 };
    [?] => { $crate::SyntaxKind::QUESTION };
    [@] => { $crate::SyntaxKind::AT };
    [fn] => { $crate::SyntaxKind::FN_KW };
    [extern] => { $crate::SyntaxKind::EXTERN_KW };
    [global] => { $crate::SyntaxKind::GLOBAL_KW };
    [class] => { $crate::SyntaxKind::CLASS_KW };
    [struct] => { $crate::SyntaxKind::STRUCT_KW };
    [let] => { $crate::SyntaxKind::LET_KW };
    [if] => { $crate::SyntaxKind::IF_KW };
    [else] => { $crate::SyntaxKind::ELSE_KW };
    [while] => { $crate::SyntaxKind::WHILE_KW };
    [for] => { $crate::SyntaxKind::FOR_KW };
    [in] => { $crate::SyntaxKind::IN_KW };
    [return] => { $crate::SyntaxKind::RETURN_KW };
    [break] => { $crate::SyntaxKind::BREAK_KW };
    [continue] => { $crate::SyntaxKind::CONTINUE_KW };
    [spawn] => { $crate::SyntaxKind::SPAWN_KW };
    [arena] => { $crate::SyntaxKind::ARENA_KW };
    [self] => { $crate::SyntaxKind::SELF_KW };
    [drop] => { $crate::SyntaxKind::DROP_KW };
    [own] => { $crate::SyntaxKind::OWN_KW };
    [borrow] => { $crate::SyntaxKind::BORROW_KW };
    [null] => { $crate::SyntaxKind::NULL_KW };
    [true] => { $crate::SyntaxKind::TRUE_KW };
    [false] => { $crate::SyntaxKind::FALSE_KW };
    [ident] => { $crate::SyntaxKind::IDENT };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_kinds_round_trip() {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i, "ALL_KINDS out of order at {kind:?}");
            let raw: rowan::SyntaxKind = (*kind).into();
            assert_eq!(<CustodyLanguage as rowan::Language>::kind_from_raw(raw), *kind);
        }
    }
}
