//! Parses a Claude Code project directory's transcripts into projected exchanges.

use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{ExchangeSink, ParseContext, ParseError, ParseReport};

/// Parses one project directory (all its transcripts, so resumes and summaries resolve project-wide).
pub fn parse_unit(
    _unit: &SourceUnit,
    _context: &ParseContext<'_>,
    _sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    Err(ParseError::NotImplemented { provider: crate::NAME.to_string() })
}
