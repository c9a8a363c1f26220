//! Route selection: placeholder, filled in by the runtime work.
pub struct Facts;
pub struct KeyFacts;
