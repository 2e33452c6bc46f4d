//! Lines that must reach the console whole: `whole-line <tag> <n> ` then
//! `n` times the one-character `tag` (utest-syscall's
//! `console_lines_stay_whole` writes them from two threads at once). One
//! cut by another's output has a second `whole-line` in it or the wrong
//! length. Whatever came before (`test … ... `, the runner's prefix) is
//! not the line's.

use crate::testrun::{Outcome, TestResult};

const MARK: &str = "whole-line ";

#[derive(Default, Debug)]
pub struct WholeLines {
    seen: u64,
    /// The first line found cut.
    cut: Option<String>,
}

impl WholeLines {
    /// A console line (cleaned).
    pub fn line(&mut self, line: &str) {
        let Some(at) = line.find(MARK) else {
            return;
        };
        self.seen += 1;
        if self.cut.is_none() && !is_whole(&line[at + MARK.len()..]) {
            self.cut = Some(line.chars().take(120).collect());
        }
    }

    /// `console::lines_stay_whole`, if any such line was seen.
    pub fn finish(&self) -> Option<TestResult> {
        (self.seen > 0).then(|| TestResult {
            name: "console::lines_stay_whole".into(),
            outcome: match &self.cut {
                None => Outcome::Ok,
                Some(l) => Outcome::Failed(format!(
                    "a line was cut by other output ({} seen): {l}",
                    self.seen
                )),
            },
        })
    }
}

/// `<tag> <n> <tag × n>` and nothing else.
fn is_whole(rest: &str) -> bool {
    let mut parts = rest.splitn(3, ' ');
    let (Some(tag), Some(n), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(n) = n.parse::<usize>() else {
        return false;
    };
    let mut tag_chars = tag.chars();
    let (Some(c), None) = (tag_chars.next(), tag_chars.next()) else {
        return false;
    };
    body.len() == n * c.len_utf8() && body.chars().all(|b| b == c)
}

#[cfg(test)]
mod tests {
    use super::WholeLines;
    use crate::testrun::Outcome;

    #[test]
    fn cut_lines_are_found() {
        let mut w = WholeLines::default();
        assert!(w.finish().is_none(), "nothing seen, nothing said");
        w.line("test utest_syscall::x ... whole-line A 3 AAA");
        w.line("whole-line B 2 BB");
        assert_eq!(w.finish().map(|r| r.outcome), Some(Outcome::Ok));
        for cut in [
            "whole-line A 3 AAwhole-line B 2 BB",
            "whole-line A 3 AA",
            "whole-line A 3 AAAA",
            "whole-line A 3 ABA",
            "whole-line A x AAA",
            "whole-line AB 3 AAA",
        ] {
            let mut w = WholeLines::default();
            w.line(cut);
            assert!(
                matches!(w.finish().map(|r| r.outcome), Some(Outcome::Failed(_))),
                "{cut:?} passed"
            );
        }
    }
}
