//! hindcast's import pipeline: discovery, the manifest plan per unit, parallel parsing (rayon),
//! materializing, and the single writer thread that applies rows to the store; the run envelope
//! and the discovery preview of `backfill --plan`.

pub mod backfill;
pub mod envelope;
pub mod keep_out;
pub mod preview;
