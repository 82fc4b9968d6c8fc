//! promptd-upstream against a real OpenAI-compatible server on loopback (the fake upstream):
//! what is sent, what comes back, every fault, mocks, cancellation and metrics.

mod common;
mod faults;
mod mock;
mod requests;
mod streams;
