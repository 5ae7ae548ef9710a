//! A small SMTP server on loopback for tests of a relay that sends email: it takes every
//! message and keeps it for the test to read, or, `stalled`, takes the connection and never
//! answers, as a mail server that hangs would.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    /// Headers and body, soft line breaks and `=3D` of quoted-printable undone.
    pub text: String,
}

pub struct Smtp {
    /// `smtp://127.0.0.1:PORT`, for `SMTP_URL`.
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl Smtp {
    pub async fn start() -> Smtp {
        Smtp::listen(false).await
    }

    pub async fn stalled() -> Smtp {
        Smtp::listen(true).await
    }

    async fn listen(stalled: bool) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = mails.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                if stalled {
                    held.push(sock);
                    continue;
                }
                tokio::spawn(session(sock, kept.clone()));
            }
        });
        Smtp { url, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits for a mail to `to` whose text contains `needle`.
    pub async fn mail(&self, to: &str, needle: &str) -> Mail {
        let mut found = None;
        super::wait_until(&format!("a mail to {to} containing {needle:?}"), || {
            found = self.mails().into_iter().find(|m| m.to == to && m.text.contains(needle));
            let done = found.is_some();
            async move { done }
        })
        .await;
        found.unwrap()
    }
}

async fn session(sock: tokio::net::TcpStream, mails: Arc<Mutex<Vec<Mail>>>) {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r).lines();
    let _ = w.write_all(b"220 test ESMTP\r\n").await;
    let mut to = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 test\r\n",
            "RCPT" => {
                to = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                b"250 OK\r\n"
            }
            "DATA" => {
                let _ = w.write_all(b"354 go on\r\n").await;
                let mut text = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    text.push_str(&l);
                    text.push('\n');
                }
                let text = text.replace("=\n", "").replace("=3D", "=");
                mails.lock().unwrap().push(Mail { to: to.clone(), text });
                b"250 kept\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 OK\r\n",
        };
        if w.write_all(answer).await.is_err() {
            return;
        }
    }
}
