//! The security policy compiler (host). A policy file (the language is
//! taught in `docs/policy.md`) is parsed ([`ast`]), checked against the
//! system's declarations ([`world`]) and compiled ([`compile`]) into the
//! tables of `policy-table`, which xtask embeds in the kernel image. The
//! policy's own tests ([`testing`]) and `explain` ([`explain`]) run the
//! kernel's evaluator on those same tables.

pub mod ast;
pub mod compile;
pub mod explain;
pub mod testing;
pub mod world;

use std::ops::Range;
use std::path::Path;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;

pub use compile::{BOARDS, Compiled, compile};

/// A policy file: its name (as errors show it) and text.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path, shown_as: &str) -> std::io::Result<Source> {
        Ok(Source {
            name: shown_as.to_string(),
            text: std::fs::read_to_string(path)?,
        })
    }

    /// `name:line:column` (1-based) of a byte offset.
    pub fn location(&self, at: usize) -> String {
        let (line, col) = self.line_col(at);
        format!("{}:{line}:{col}", self.name)
    }

    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// An error in a policy, at a span of its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub span: Range<usize>,
    pub message: String,
}

impl Diag {
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Diag {
        Diag {
            span,
            message: message.into(),
        }
    }
}

/// Errors as rustc shows them: `error: ...`, `--> file:line:column`, the
/// line with the span underlined. No colour (output goes to logs too).
pub fn render(src: &Source, diags: &[Diag]) -> String {
    let file = SimpleFile::new(src.name.clone(), src.text.clone());
    let config = term::Config::default();
    let mut out = String::new();
    for d in diags {
        let diagnostic = Diagnostic::error()
            .with_message(&d.message)
            .with_labels(vec![Label::primary((), d.span.clone())]);
        term::emit_to_string(&mut out, &config, &file, &diagnostic).expect("writing to memory");
    }
    out
}
