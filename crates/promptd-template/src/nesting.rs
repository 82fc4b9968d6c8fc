//! Static nesting bounds, checked on minijinja's own tokens before the template is parsed, so
//! that parsing, compiling and rendering never need more stack than promptd gives them.
//!
//! minijinja's parser, code generator and the `Drop` of its syntax tree recurse once per
//! level of an expression (`- - - 1`, `a|f|g|h`, `a.b.c`, `1 + 1 + 1`, `[[[1]]]`) and of
//! `{% elif %}` chains; its own guard covers only brackets and statements. And values that a
//! template builds (`{% set x = [x] %}` written out 30,000 times) are dropped, printed and
//! serialized by recursion too. This module bounds both:
//!
//! - every tag's nesting (its enclosing blocks plus an upper bound of its expression's depth)
//!   is at most [`MAX_NESTING`], else the template is refused before minijinja sees it;
//! - the depth of any value a render can build is bounded by [`Shape::value_depth`], computed
//!   from the same tokens; the render then runs on a stack sized for that depth.
//!
//! The expression bound: each syntax-tree node that nests (an operator, a filter, an
//! attribute, a call, a subscript, a literal list/map/tuple) owns at least one token that is
//! an operator or an opening bracket; a path from the root down passes through at most the
//! operators and bracket groups of one comma-separated element per bracket level. So
//! `cost(group) = 1 + max over elements(operators + groups + max cost of its groups)` bounds
//! the depth from above.

use minijinja::machinery::{Token, tokenize};
use minijinja::syntax::SyntaxConfig;

/// Deepest nesting a tag may have: enclosing blocks plus its expression's depth bound.
/// Measured (see `tests/it/nesting.rs`): a unary chain, the costliest construct, parses,
/// compiles, renders and drops at this depth within 256 KiB of stack, an eighth of the
/// 2 MiB a tokio worker or test thread has.
pub const MAX_NESTING: usize = 200;

/// JSON variables nest at most this deep: serde_json refuses deeper documents.
const INPUT_DEPTH: usize = 128;

/// Values deeper than this are refused at parse time (they would need a 1 GiB stack).
pub const MAX_VALUE_DEPTH: usize = 1_000_000;

/// What the scan learned about a template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// An upper bound on the depth of any value a render of this template can build.
    pub value_depth: usize,
}

/// Why a template was refused: the byte offset of the tag and what nests too deeply.
#[derive(Debug)]
pub(crate) struct TooDeep {
    pub offset: usize,
    pub message: String,
}

/// Bracket group state while walking one tag.
#[derive(Default)]
struct Group {
    /// Largest cost of a finished comma-separated element.
    best: usize,
    /// Operators in the current element.
    ops: usize,
    /// Bracket groups opened in the current element.
    groups: usize,
    /// Largest cost of a closed group inside the current element.
    child: usize,
}

impl Group {
    fn element(&self) -> usize {
        self.ops + self.groups + self.child
    }
    fn end_element(&mut self) {
        self.best = self.best.max(self.element());
        self.ops = 0;
        self.groups = 0;
        self.child = 0;
    }
    fn cost(&self) -> usize {
        1 + self.best.max(self.element())
    }
}

/// Walks the tokens of one `{{ … }}` or `{% … %}` tag.
#[derive(Default)]
struct Tag<'a> {
    stack: Vec<Group>,
    first_ident: Option<&'a str>,
    has_assign: bool,
    recursive: bool,
    tokens: usize,
}

impl<'a> Tag<'a> {
    fn new() -> Tag<'a> {
        Tag {
            stack: vec![Group::default()],
            ..Tag::default()
        }
    }

    /// Feeds one token; the open-bracket depth so far (a lower bound of the final cost).
    fn push(&mut self, token: &Token<'a>) -> usize {
        self.tokens += 1;
        if self.tokens == 1
            && let Token::Ident(name) = token
        {
            self.first_ident = Some(name);
            return self.stack.len();
        }
        let top = self.stack.len() - 1;
        match token {
            Token::BracketOpen | Token::ParenOpen | Token::BraceOpen => {
                self.stack[top].groups += 1;
                self.stack.push(Group::default());
            }
            Token::BracketClose | Token::ParenClose | Token::BraceClose if self.stack.len() > 1 => {
                let closed = self.stack.pop().map_or(1, |g| g.cost());
                let parent = self.stack.len() - 1;
                self.stack[parent].child = self.stack[parent].child.max(closed);
            }
            Token::Comma => self.stack[top].end_element(),
            Token::Assign => {
                self.has_assign |= self.stack.len() == 1;
                self.stack[top].ops += 1;
            }
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::FloorDiv
            | Token::Pow
            | Token::Mod
            | Token::Dot
            | Token::Colon
            | Token::Tilde
            | Token::Pipe
            | Token::Eq
            | Token::Ne
            | Token::Gt
            | Token::Gte
            | Token::Lt
            | Token::Lte => self.stack[top].ops += 1,
            Token::Ident(
                "not" | "and" | "or" | "is" | "in" | "if" | "else" | "elif" | "recursive",
            ) => {
                if matches!(token, Token::Ident("recursive")) {
                    self.recursive = true;
                }
                self.stack[top].ops += 1;
            }
            _ => {}
        }
        self.stack.len()
    }

    /// The depth bound of the whole tag.
    fn cost(mut self) -> usize {
        while self.stack.len() > 1 {
            let closed = self.stack.pop().map_or(1, |g| g.cost());
            let parent = self.stack.len() - 1;
            self.stack[parent].child = self.stack[parent].child.max(closed);
        }
        self.stack.first().map_or(1, Group::cost)
    }
}

/// An open block: its weight in the nesting (an `if` gains one per `elif`) and whether its
/// body can run again from inside itself (macros, call blocks, recursive loops, blocks).
struct Block {
    weight: usize,
    reentrant: bool,
}

fn too_deep(offset: usize, depth: usize) -> TooDeep {
    TooDeep {
        offset,
        message: format!(
            "this tag nests deeper than {MAX_NESTING} levels (enclosing blocks, elif branches, brackets, \
             operators, filters and attributes each count one, found at least {depth}); \
             split the expression with {{% set %}} or flatten the blocks"
        ),
    }
}

/// Scans `body` and checks every tag against [`MAX_NESTING`]; `recursion` is the render's
/// recursion limit, which bounds how often a macro body can run inside itself.
pub(crate) fn check(body: &str, recursion: usize) -> Result<Shape, TooDeep> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut depth = 0usize; // sum of the open blocks' weights
    let mut reentrant_open = 0usize; // open blocks whose body can re-enter
    let mut total = 0usize; // sum of all tags' costs
    let mut reentrant_total = 0usize; // sum of the costs of tags inside re-entrant blocks
    let mut tag: Option<(Tag<'_>, usize, bool)> = None; // (tag, offset, is a statement)
    for item in tokenize(body, false, SyntaxConfig::default()) {
        // A lexer error is reported by the parser, which sees only the (checked) tokens
        // before it.
        let Ok((token, span)) = item else { break };
        let offset = span.start_offset as usize;
        match token {
            Token::VariableStart | Token::BlockStart => {
                tag = Some((Tag::new(), offset, matches!(token, Token::BlockStart)));
            }
            Token::VariableEnd | Token::BlockEnd => {
                let Some((t, start, statement)) = tag.take() else {
                    continue;
                };
                let keyword = t.first_ident;
                let recursive = t.recursive;
                let has_assign = t.has_assign;
                let cost = t.cost();
                let mut opens = false;
                if statement {
                    match keyword {
                        Some(
                            "if" | "for" | "macro" | "call" | "filter" | "with" | "autoescape"
                            | "block",
                        ) => opens = true,
                        Some("set") if !has_assign => opens = true,
                        Some("elif") => {
                            if let Some(b) = blocks.last_mut() {
                                b.weight += 1;
                                depth += 1;
                            }
                        }
                        Some(k) if k.starts_with("end") => {
                            if let Some(b) = blocks.pop() {
                                depth -= b.weight;
                                reentrant_open -= usize::from(b.reentrant);
                            }
                        }
                        _ => {}
                    }
                }
                let nesting = depth + cost + usize::from(opens);
                if nesting > MAX_NESTING {
                    return Err(too_deep(start, nesting));
                }
                total = total.saturating_add(cost);
                if reentrant_open > 0 {
                    reentrant_total = reentrant_total.saturating_add(cost);
                }
                if opens {
                    let reentrant = matches!(keyword, Some("macro" | "call" | "block"))
                        || (keyword == Some("for") && recursive);
                    if reentrant {
                        reentrant_open += 1;
                        reentrant_total = reentrant_total.saturating_add(cost);
                    }
                    blocks.push(Block {
                        weight: 1,
                        reentrant,
                    });
                    depth += 1;
                }
            }
            ref other => {
                if let Some((t, start, _)) = tag.as_mut() {
                    let open = t.push(other);
                    if depth + open > MAX_NESTING {
                        return Err(too_deep(*start, depth + open));
                    }
                }
            }
        }
    }
    let value_depth = INPUT_DEPTH
        .saturating_add(total)
        .saturating_add(reentrant_total.saturating_mul(recursion.max(1)));
    if value_depth > MAX_VALUE_DEPTH {
        return Err(TooDeep {
            offset: 0,
            message: format!(
                "the template could build values nested about {value_depth} levels deep (more than \
                 {MAX_VALUE_DEPTH}): it is very long, or its macros are; split it into smaller prompts"
            ),
        });
    }
    Ok(Shape { value_depth })
}
