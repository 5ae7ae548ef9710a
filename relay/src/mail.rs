//! Outgoing email (confirmation, password reset, invitations): SMTP when `SMTP_URL` is set,
//! otherwise the link is printed on the relay's console, so a single-host install needs no
//! mail server. Links carry one-time tokens: they go to the recipient (or the operator's
//! console), never to the log. Requests hand mail off (`send_later`) and answer at once: a
//! slow mail server must not hold them up, nor let their timing tell who has an account.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;

#[derive(Clone)]
pub enum Mailer {
    Console,
    Smtp(Arc<Smtp>),
}

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Mailer, String> {
        let Some(url) = smtp_url else {
            return Ok(Mailer::Console);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP_URL is not usable: {e} (expected e.g. smtps://user:pass@mail.example.com)"))?
            .build();
        let from = from.parse().map_err(|e| format!("SMTP_FROM {from:?} is not an email address: {e}"))?;
        Ok(Mailer::Smtp(Arc::new(Smtp { transport, from })))
    }

    /// True when accounts must confirm their email before signing in.
    pub fn confirms(&self) -> bool {
        matches!(self, Mailer::Smtp(_))
    }

    /// Sends in the background; see [`Mailer::send`].
    pub fn send_later(&self, to: String, subject: String, text: String) {
        let mailer = self.clone();
        tokio::spawn(async move { mailer.send(&to, &subject, text).await });
    }

    /// Sends `text` to `to`; on the console, prints what it would send.
    pub async fn send(&self, to: &str, subject: &str, text: String) {
        match self {
            Mailer::Console => {
                println!("[mail to {to}] {subject}\n{text}\n");
            }
            Mailer::Smtp(smtp) => {
                let Smtp { transport, from } = smtp.as_ref();
                let msg = to.parse::<Mailbox>().map_err(|e| e.to_string()).and_then(|to| {
                    Message::builder().from(from.clone()).to(to).subject(subject).body(text).map_err(|e| e.to_string())
                });
                let result = match msg {
                    Ok(m) => transport.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, %subject, "email not sent");
                }
            }
        }
    }
}
