//! Credentials: password hashing, access tokens, random secrets, secrets at rest and rate
//! limits.
//!
//! People sign in with email and password (argon2id) and get a short-lived HS256 access
//! token plus a refresh token that rotates on every use. Connectors hold a 256-bit device
//! token. Only hashes of refresh, device and one-time tokens are stored.

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod seal;
pub mod secrets;
