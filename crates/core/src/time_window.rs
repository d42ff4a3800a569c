//! The `--since/--until` time window: parsing of RFC 3339 timestamps, plain dates and relative spans.

use jiff::{SignedDuration, Timestamp, civil::Date, tz::TimeZone};
use serde::Serialize;

/// Why a time specification could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeSpecError {
    #[error(
        "'{input}' is not a time: use an RFC 3339 timestamp (2026-01-31T12:00:00Z), a date (2026-01-31) or a relative span (30d, 12h, 45m, 2w)"
    )]
    Unrecognized { input: String },
    #[error("'{input}' is out of range")]
    OutOfRange { input: String },
}

/// Which end of the window a specification is for. A plain date means the start of that UTC day
/// for `--since` and the end of that UTC day for `--until`, so `--since D --until D` covers day D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEdge {
    Since,
    Until,
}

/// Parses one `--since`/`--until` value relative to `now`, a plain date as a UTC day.
pub fn parse_time_spec(input: &str, edge: WindowEdge, now: Timestamp) -> Result<Timestamp, TimeSpecError> {
    parse_time_spec_in(input, edge, now, &TimeZone::UTC)
}

/// Parses one `--since`/`--until` value relative to `now`, a plain date as that day in `zone`
/// (its midnight for `--since`, the next day's for `--until`).
pub fn parse_time_spec_in(
    input: &str,
    edge: WindowEdge,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Timestamp, TimeSpecError> {
    let trimmed = input.trim();
    let unrecognized = || TimeSpecError::Unrecognized { input: input.to_string() };
    if trimmed.is_empty() {
        return Err(unrecognized());
    }
    if let Ok(timestamp) = trimmed.parse::<Timestamp>() {
        return Ok(timestamp);
    }
    if let Ok(date) = trimmed.parse::<Date>() {
        let day = match edge {
            WindowEdge::Since => date,
            WindowEdge::Until => date.tomorrow().map_err(|_| TimeSpecError::OutOfRange { input: input.to_string() })?,
        };
        return day
            .to_zoned(zone.clone())
            .map(|zoned| zoned.timestamp())
            .map_err(|_| TimeSpecError::OutOfRange { input: input.to_string() });
    }
    let span = parse_relative_span(trimmed).ok_or_else(unrecognized)?;
    now.checked_sub(span).map_err(|_| TimeSpecError::OutOfRange { input: input.to_string() })
}

/// Parses `30d`, `12h`, `45m`, `90s`, `2w` into a duration.
fn parse_relative_span(text: &str) -> Option<SignedDuration> {
    let unit_start = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(unit_start);
    let amount: i64 = digits.parse().ok()?;
    let seconds_per_unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    amount.checked_mul(seconds_per_unit).map(SignedDuration::from_secs)
}

/// A half-open interval `[since, until)` of instants; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimeWindow {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// `since` lies after `until`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--since ({since}) is after --until ({until})")]
pub struct InvertedWindow {
    pub since: Timestamp,
    pub until: Timestamp,
}

impl TimeWindow {
    /// The unbounded window.
    pub const ALL: TimeWindow = TimeWindow { since: None, until: None };

    /// Builds a window, rejecting `since > until`.
    pub fn new(since: Option<Timestamp>, until: Option<Timestamp>) -> Result<Self, InvertedWindow> {
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(InvertedWindow { since, until });
        }
        Ok(Self { since, until })
    }

    /// True when `instant` lies inside the window.
    pub fn contains(&self, instant: Timestamp) -> bool {
        self.since.is_none_or(|since| instant >= since) && self.until.is_none_or(|until| instant < until)
    }

    /// True when a file last modified at `modified` may hold anything inside the window: a file
    /// untouched since before `since` cannot.
    pub fn may_contain_file_modified_at(&self, modified: Option<Timestamp>) -> bool {
        match (self.since, modified) {
            (Some(since), Some(modified)) => modified >= since,
            _ => true,
        }
    }

    /// True when the interval `[start, end]` overlaps the window (unknown ends count as overlapping).
    pub fn overlaps(&self, start: Option<Timestamp>, end: Option<Timestamp>) -> bool {
        let ends_before_since = matches!((self.since, end.or(start)), (Some(since), Some(last)) if last < since);
        let starts_after_until = matches!((self.until, start.or(end)), (Some(until), Some(first)) if first >= until);
        !ends_before_since && !starts_after_until
    }
}

/// Formats an instant the way the store keeps it: RFC 3339, UTC, milliseconds.
pub fn format_timestamp(timestamp: jiff::Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-21T12:00:00Z".parse().expect("valid test timestamp")
    }

    fn check(input: &str, edge: WindowEdge, expected: &str) {
        let parsed = parse_time_spec(input, edge, now()).expect("spec parses");
        assert_eq!(parsed.to_string(), expected, "input {input:?}");
    }

    #[test]
    fn accepts_rfc3339_dates_and_relative_spans() {
        check("2026-01-31T10:15:00Z", WindowEdge::Since, "2026-01-31T10:15:00Z");
        check("2026-01-31T10:15:00+02:00", WindowEdge::Since, "2026-01-31T08:15:00Z");
        check("2026-01-31", WindowEdge::Since, "2026-01-31T00:00:00Z");
        check("2026-01-31", WindowEdge::Until, "2026-02-01T00:00:00Z");
        check("30d", WindowEdge::Since, "2026-10-22T12:00:00Z");
        check("12h", WindowEdge::Until, "2026-11-21T00:00:00Z");
        check("2w", WindowEdge::Since, "2026-11-07T12:00:00Z");
        check("90s", WindowEdge::Since, "2026-11-21T11:58:30Z");
    }

    #[test]
    fn rejects_garbage_with_the_input_named() {
        for input in ["yesterday-ish", "", "30", "d", "30y", "2026-13-01", "-5d", "12h30m"] {
            let error = parse_time_spec(input, WindowEdge::Since, now()).expect_err("must fail");
            assert!(error.to_string().contains(&format!("'{input}'")), "{error}");
        }
    }

    #[test]
    fn inverted_window_is_rejected() {
        let since = parse_time_spec("2026-02-01", WindowEdge::Since, now()).ok();
        let until = parse_time_spec("2026-01-01", WindowEdge::Until, now()).ok();
        let error = TimeWindow::new(since, until).expect_err("since after until");
        assert!(error.to_string().contains("--since"));
        assert!(TimeWindow::new(until, since).is_ok());
    }

    #[test]
    fn window_is_half_open() {
        let window = TimeWindow::new(
            Some("2026-01-01T00:00:00Z".parse().unwrap()),
            Some("2026-01-02T00:00:00Z".parse().unwrap()),
        )
        .expect("ordered");
        assert!(window.contains("2026-01-01T00:00:00Z".parse().unwrap()));
        assert!(window.contains("2026-01-01T23:59:59Z".parse().unwrap()));
        assert!(!window.contains("2026-01-02T00:00:00Z".parse().unwrap()));
        assert!(!window.contains("2025-12-31T23:59:59Z".parse().unwrap()));
        assert!(TimeWindow::ALL.contains(now()));
    }

    #[test]
    fn file_prefilter_only_uses_since() {
        let window = TimeWindow::new(Some("2026-01-01T00:00:00Z".parse().unwrap()), None).unwrap();
        assert!(!window.may_contain_file_modified_at(Some("2025-12-01T00:00:00Z".parse().unwrap())));
        assert!(window.may_contain_file_modified_at(Some("2026-02-01T00:00:00Z".parse().unwrap())));
        assert!(window.may_contain_file_modified_at(None));
    }
}
