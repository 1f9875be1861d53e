//! Crate-level tests: RFC test vectors, strictness, builder round trips and
//! property tests.

mod properties;
mod rfc5769;
mod rfc8489;
mod strictness;
