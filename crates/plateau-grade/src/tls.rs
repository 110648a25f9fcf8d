//! One TLS stack for every HTTPS client Plateau makes: rustls with *ring*,
//! which builds without a C and CMake toolchain (the default, aws-lc, took
//! minutes of a fresh machine's build). reqwest finds no provider of its own:
//! it is installed here, as the process's default, before any client exists.

/// A client builder, the process's TLS provider installed.
pub fn http_client() -> reqwest::ClientBuilder {
    install();
    reqwest::Client::builder()
}

/// Make *ring* the process's TLS provider (once; later calls change nothing).
pub fn install() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
