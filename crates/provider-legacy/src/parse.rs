//! Parses the legacy store (configs, projects and session files) into projected exchanges.

use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{ExchangeSink, ParseContext, ParseError, ParseReport};

/// Parses the whole store as one unit (projects and orchestrator detection need every session).
pub fn parse_unit(
    _unit: &SourceUnit,
    _context: &ParseContext<'_>,
    _sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    Err(ParseError::NotImplemented { provider: crate::NAME.to_string() })
}
