//! The pure domain of pushmirror: everything here is deterministic, does no I/O, reads no clock it
//! was not handed, and knows nothing of JSON or SQL. Most unit tests live here.

pub mod plan;
pub mod refmatch;
