//! HTTP clients: one place where `reqwest` is set up, so every client (connectors, CC-Agency,
//! Kiosk) verifies TLS the same way and has timeouts.
//!
//! reqwest is built with rustls and no crypto provider of its own (`rustls-no-provider`), so that
//! only `ring` is linked; [`install_tls`] makes it the process's provider before any client.

use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Make `ring` the process-wide rustls provider. Idempotent.
pub fn install_tls() {
    // An error means a provider is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A blocking client builder with the TLS provider installed, a connect timeout and red's
/// user agent. `insecure` turns certificate verification off (an access block's explicit
/// `disableSSLVerification: true`).
pub fn blocking_builder(insecure: bool) -> reqwest::blocking::ClientBuilder {
    install_tls();
    reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("red/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(insecure)
}

/// The async counterpart of [`blocking_builder`].
pub fn async_builder(insecure: bool) -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("red/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(insecure)
}

/// An async client for a remote API (CC-Agency, the Kiosk): every request ends within
/// `timeout`, and connecting within the shorter of `timeout` and [`CONNECT_TIMEOUT`].
///
/// # Errors
/// When the TLS back end cannot be set up.
pub fn api_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    async_builder(false)
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .build()
}
