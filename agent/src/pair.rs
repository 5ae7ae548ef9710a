//! Pairing: trade a one-time code for device credentials with one `POST {api}/pair-device`.
//!
//! The request is a single HTTP/1.1 exchange with `Connection: close` over `transport.rs`
//! (head parsing in `http.rs`), so the binary carries no HTTP client crate. The answer is the
//! relay's JSON: on 2xx `{device_id, token, relay_url}`, which `main.rs` saves with
//! `config.rs`; otherwise `{"error": code, "message": sentence}`, whose sentence is what the
//! person sees.

use crate::config::Config;
use crate::http;
use crate::transport::{self, Endpoint, Tls};
use miniserde::{Deserialize, Serialize, json};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use std::time::Duration;

/// A pairing answer is a few hundred bytes; anything this big is not our relay.
const MAX_RESPONSE: u64 = 64 << 10;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize)]
struct Request<'a> {
    pairing_code: &'a str,
    /// `None` keeps the name the device was given in the web app.
    name: Option<&'a str>,
}

/// The relay's answer. Only the credentials: a relay cannot configure AI-node commands.
#[derive(Deserialize)]
struct Paired {
    device_id: String,
    token: String,
    relay_url: String,
}

#[derive(Deserialize)]
struct Refusal {
    message: Option<String>,
    error: Option<String>,
}

pub async fn pair(api: &str, code: &str, name: Option<&str>, tls: &Tls) -> Result<Config, String> {
    let endpoint = Endpoint::parse(api)?.join("pair-device");
    let body = json::to_string(&Request { pairing_code: code, name });
    let exchange = post_json(&endpoint, &body, tls);
    let timeout = async {
        smol::Timer::after(TIMEOUT).await;
        Err(format!("no answer from {api} within {} s", TIMEOUT.as_secs()))
    };
    let (status, body) = smol::future::or(exchange, timeout).await?;
    if (200..300).contains(&status) {
        let paired: Paired = json::from_str(&body).map_err(|_| {
            format!("unexpected answer from {api} (HTTP {status}): expected device_id, token and relay_url")
        })?;
        let Paired { device_id, token, relay_url } = paired;
        return Ok(Config { device_id, token, relay_url, node: None });
    }
    Err(match json::from_str::<Refusal>(&body) {
        Ok(Refusal { message: Some(m), .. }) => m,
        Ok(Refusal { error: Some(code), .. }) => format!("the relay refused pairing: {code}"),
        _ => format!("the relay refused pairing (HTTP {status})"),
    })
}

/// Sends the POST and returns the status code and body.
async fn post_json(endpoint: &Endpoint, body: &str, tls: &Tls) -> Result<(u16, String), String> {
    let fail = |e: std::io::Error| format!("cannot reach {}: {e}", endpoint.authority());
    let mut stream = transport::connect(endpoint, tls).await.map_err(fail)?;
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: relay-connector/{}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        endpoint.path,
        endpoint.authority(),
        env!("CARGO_PKG_VERSION"),
        body.len(),
    );
    stream.write_all(request.as_bytes()).await.map_err(fail)?;
    stream.flush().await.map_err(fail)?;
    let (head, mut answer) = http::read_head(&mut stream).await.map_err(fail)?;
    // `Connection: close`: the body ends with the stream. Some servers close TLS without
    // close_notify, which reads as an error after the whole answer has arrived.
    let _ = (&mut stream).take(MAX_RESPONSE).read_to_end(&mut answer).await;
    let chunked = head.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        answer = http::dechunk(&answer).unwrap_or_default();
    } else if let Some(length) = head.header("content-length").and_then(|v| v.parse().ok()) {
        answer.truncate(length);
    }
    Ok((head.status, String::from_utf8_lossy(&answer).into_owned()))
}
