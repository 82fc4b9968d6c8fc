//! The ledger's followers, outside the HTTP layer: [`feed`] keeps the newest ledger events in
//! memory for watch streams, and [`delivery`] sends the webhook outbox's messages, signed the
//! Standard Webhooks way ([`sign`]), to endpoints that [`target`] allows.

pub mod delivery;
pub mod feed;
pub mod sign;
pub mod target;

pub use delivery::{Deliverer, DeliveryOptions};
pub use feed::{Feed, Read};
