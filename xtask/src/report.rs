//! Test totals over host and target runs, and the closing summary line.

use std::io::Write;

#[derive(Default, Debug)]
pub struct Report {
    pub passed: u64,
    pub failed: u64,
    /// One line per failed result, for the recap before the summary.
    pub failures: Vec<String>,
}

impl Report {
    pub fn pass(&mut self) {
        self.passed += 1;
    }

    pub fn fail(&mut self, what: impl Into<String>) {
        self.failed += 1;
        self.failures.push(what.into());
    }

    /// Adds counts from a runner that reports only numbers (libtest).
    pub fn add_counts(&mut self, passed: u64, failed: u64, what: &str) {
        self.passed += passed;
        if failed > 0 {
            self.failed += failed;
            self.failures.push(format!("{what}: {failed} failed"));
        }
    }

    /// The closing line: `N passed, N failed`.
    pub fn summary_line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    /// Prints the failure recap, then the summary as the very last line of
    /// output. Returns true if nothing failed.
    pub fn finish(&self) -> bool {
        let mut out = std::io::stdout().lock();
        let _ = std::io::stderr().flush();
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nfailures:");
            for f in &self.failures {
                let _ = writeln!(out, "    {f}");
            }
        }
        let _ = writeln!(out, "\n{}", self.summary_line());
        let _ = out.flush();
        self.failed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let mut r = Report::default();
        r.add_counts(10, 0, "host");
        r.pass();
        r.fail("[virt gicv2 1G] frame::alloc_all: FAILED leak");
        r.add_counts(2, 1, "host");
        assert_eq!(r.summary_line(), "13 passed, 2 failed");
        assert_eq!(r.failures.len(), 2);
    }
}
