//! What a run keeps out of the store: sessions in projects the user's exclude patterns match, and
//! sessions the user told hindcast to forget (their tombstones).

use std::collections::HashSet;
use std::path::Path;

/// One exclude pattern: a glob over project directories (`~/` is the home directory). It matches a
/// session whose working directory is, or lies under, a directory the glob matches, so
/// `~/clients/secret` and `~/clients/secret/**` both keep out the project and its subdirectories.
#[derive(Clone, Debug)]
pub struct ExcludePattern {
    text: String,
    pattern: glob::Pattern,
}

/// A pattern that is not a glob.
#[derive(Debug, thiserror::Error)]
#[error("exclude pattern '{text}' is not a glob: {reason}")]
pub struct PatternError {
    pub text: String,
    pub reason: String,
}

const MATCH: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

impl ExcludePattern {
    /// Parses `text`, with a leading `~/` (or a lone `~`) standing for `home`.
    pub fn parse(text: &str, home: Option<&Path>) -> Result<Self, PatternError> {
        let expanded = match (text.strip_prefix('~'), home) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", home.to_string_lossy().trim_end_matches('/'))
            }
            _ => text.to_string(),
        };
        let trimmed = expanded.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pattern = glob::Pattern::new(trimmed)
            .map_err(|error| PatternError { text: text.to_string(), reason: error.msg.to_string() })?;
        Ok(Self { text: text.to_string(), pattern })
    }

    /// The pattern as the user wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a session in directory `cwd` is kept out: the glob matches it or a directory above it.
    pub fn matches(&self, cwd: &str) -> bool {
        let cwd = cwd.trim_end_matches('/');
        let mut candidate = if cwd.is_empty() { "/" } else { cwd };
        loop {
            if self.pattern.matches_with(candidate, MATCH) || self.pattern.matches_with(&format!("{candidate}/"), MATCH)
            {
                return true;
            }
            match candidate.rfind('/') {
                Some(0) if candidate != "/" => candidate = "/",
                Some(at) if at > 0 => candidate = &candidate[..at],
                _ => return false,
            }
        }
    }
}

/// The sessions a run does not import.
#[derive(Clone, Debug, Default)]
pub struct KeepOut {
    pub patterns: Vec<ExcludePattern>,
    /// Session ids (lowercase hex) with a tombstone.
    pub forgotten: HashSet<String>,
}

/// Why a session was kept out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeptOut {
    Excluded,
    Forgotten,
}

impl KeepOut {
    /// Whether (and why) the session `session_id` in directory `cwd` stays out of the store.
    pub fn judge(&self, session_id: &str, cwd: Option<&str>) -> Option<KeptOut> {
        if self.forgotten.contains(session_id) {
            return Some(KeptOut::Forgotten);
        }
        let cwd = cwd?;
        self.patterns.iter().any(|pattern| pattern.matches(cwd)).then_some(KeptOut::Excluded)
    }

    /// The patterns as one text, to tell whether they changed since the last run.
    pub fn fingerprint(&self) -> String {
        let mut texts: Vec<&str> = self.patterns.iter().map(ExcludePattern::text).collect();
        texts.sort_unstable();
        texts.dedup();
        serde_json::to_string(&texts).expect("strings serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, cwd: &str, expected: bool) {
        let parsed = ExcludePattern::parse(pattern, Some(Path::new("/home/ana"))).expect("a glob");
        assert_eq!(parsed.matches(cwd), expected, "{pattern} against {cwd}");
    }

    #[test]
    fn a_pattern_keeps_out_its_directories_and_everything_under_them() {
        check("~/clients/secret/**", "/home/ana/clients/secret", true);
        check("~/clients/secret/**", "/home/ana/clients/secret/api/v2", true);
        check("~/clients/secret", "/home/ana/clients/secret/api", true);
        check("~/clients/secret/", "/home/ana/clients/secret", true);
        check("~/clients/secret", "/home/ana/clients/secretive", false);
        check("~/clients/*/private", "/home/ana/clients/acme/private/x", true);
        check("~/clients/*/private", "/home/ana/clients/acme/sub/private", false);
        check("**/scratch", "/tmp/a/b/scratch/c", true);
        check("~/work", "/home/bob/work", false);
        check("/", "/anything", true);
    }

    #[test]
    fn a_pattern_that_is_not_a_glob_names_itself() {
        let error = ExcludePattern::parse("~/a/***", None).expect_err("not a glob");
        assert!(error.to_string().contains("'~/a/***'"), "{error}");
    }

    #[test]
    fn tombstones_win_and_a_session_without_a_directory_is_not_excluded() {
        let keep_out = KeepOut {
            patterns: vec![ExcludePattern::parse("/w/**", None).expect("a glob")],
            forgotten: HashSet::from(["ab".to_string()]),
        };
        assert_eq!(keep_out.judge("ab", Some("/elsewhere")), Some(KeptOut::Forgotten));
        assert_eq!(keep_out.judge("cd", Some("/w/x")), Some(KeptOut::Excluded));
        assert_eq!(keep_out.judge("cd", None), None);
        assert_eq!(keep_out.judge("cd", Some("/v")), None);
    }
}
