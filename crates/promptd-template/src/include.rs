//! Composition: a prompt that includes other prompts, `{% include "name" %}` in LiteLLM's Jinja
//! dialect and `{{> name}}` in Google Dotprompt. This crate finds the names a template includes
//! (when it is parsed) and compiles a prompt together with the bodies of the prompts those
//! names resolve to ([`Prompt::compose`]); *which* prompt a name resolves to is the server's
//! business (its in-memory index), so the rules here stay pure.
//!
//! A name is a prompt id, floating (`safety`: the latest version) or pinned (`safety.v3`), and
//! must be written literally, so every include is known before any render. An included prompt
//! contributes its body (the text after its frontmatter, trimmed); its frontmatter (model,
//! parameters, input schema) stays its own.

use minijinja::machinery::{Token, tokenize};
use minijinja::syntax::SyntaxConfig;

use crate::{JinjaPrompt, Prompt, TemplateError};

/// Deepest chain of includes (a includes b includes c … ), counted from the including prompt.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Most distinct prompts one prompt may include, directly or through others.
pub const MAX_INCLUDES: usize = 64;

/// The names a Jinja body includes, in order of first appearance; an error (byte offset,
/// message) for an include whose name is not a quoted literal.
pub(crate) fn jinja_includes(body: &str) -> Result<Vec<String>, (usize, String)> {
    let mut names: Vec<String> = Vec::new();
    // 0: outside a statement; 1: just after `{%`; 2: just after `{% include`.
    let mut state = 0u8;
    let mut start = 0usize;
    for item in tokenize(body, false, SyntaxConfig::default()) {
        // A lexer error is reported by the parser.
        let Ok((token, span)) = item else { break };
        let offset = span.start_offset as usize;
        state = match (state, &token) {
            (_, Token::BlockStart) => {
                start = offset;
                1
            }
            (1, Token::Ident("include")) => 2,
            (2, Token::Str(name)) => {
                push_name(&mut names, name);
                0
            }
            (2, Token::String(name)) => {
                push_name(&mut names, name);
                0
            }
            (2, _) => {
                return Err((
                    start,
                    "an include must name the prompt as a quoted string, such as {% include \"safety\" %} or {% include \"safety.v3\" %}; computed names and lists are not supported".into(),
                ));
            }
            _ => 0,
        };
    }
    Ok(names)
}

fn push_name(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_owned());
    }
}

/// The error of rendering a prompt that includes others without its includes.
pub(crate) fn not_composed(names: &[String]) -> TemplateError {
    TemplateError::Render {
        line: None,
        message: format!(
            "a template rendered on its own cannot include other prompts ({}): only a stored prompt's includes are resolved; save it and render it with POST /prompts/{{id}}/render",
            names.join(", ")
        ),
    }
}

impl Prompt {
    /// The prompts this template includes directly, as written (`safety`, `safety.v3`), in
    /// order of first appearance.
    pub fn includes(&self) -> &[String] {
        match self {
            Prompt::Jinja(p) => p.includes(),
            Prompt::Genkit(g) => g.includes(),
        }
    }

    /// This prompt compiled with the bodies of every prompt it includes, directly or through
    /// others: `parts` maps each name written in any of these templates to the compiled prompt
    /// it resolves to. Every part must be in this prompt's dialect. The result renders under
    /// the same limits (fuel, output size, recursion, partial depth) as a single template.
    pub fn compose(&self, parts: &[(String, Prompt)]) -> Result<Prompt, TemplateError> {
        for (name, p) in parts {
            if p.dialect() != self.dialect() {
                return Err(TemplateError::Syntax {
                    line: 1,
                    column: 1,
                    message: format!(
                        "the included prompt '{name}' is written in the {} dialect and this one in the {} dialect; a prompt can include only prompts of its own dialect",
                        p.dialect().as_str(),
                        self.dialect().as_str()
                    ),
                });
            }
        }
        match self {
            Prompt::Jinja(main) => {
                let jinja: Vec<(String, &JinjaPrompt)> = parts
                    .iter()
                    .filter_map(|(n, p)| match p {
                        Prompt::Jinja(j) => Some((n.clone(), j)),
                        Prompt::Genkit(_) => None,
                    })
                    .collect();
                Ok(Prompt::Jinja(main.compose(&jinja)?))
            }
            Prompt::Genkit(main) => {
                let bodies = parts
                    .iter()
                    .map(|(n, p)| (n.clone(), p.content().to_owned()))
                    .collect();
                Ok(Prompt::Genkit(main.compose(bodies)?))
            }
        }
    }
}
