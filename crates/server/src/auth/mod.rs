//! Authentication: password hashing, access-token JWTs, login rate limits, and
//! the request extractor that turns a bearer token into a [`Caller`].

pub mod password;
pub mod rate_limit;
pub mod tokens;

pub use tokens::{Caller, Claims, TokenKeys};
