//! Where alert messages land in tests and in the demo: a local SMTP server (the protocol of
//! RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT; no STARTTLS offered), and an HTTP server that
//! answers like the Telegram Bot API (`POST /bot<token>/sendMessage`) and receives webhooks
//! (any other `POST`). Everything received is kept, shown at `GET /` (the demo's "where did
//! the messages go") and `GET /messages.json`. Faults can be scripted per channel: an error
//! status, or an answer that never comes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message received.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    /// `email`, `telegram` or `webhook`.
    pub channel: String,
    /// The recipient: the address, the chat id, or the webhook's path.
    pub to: String,
    /// The e-mail's subject, decoded (empty for the others).
    pub subject: String,
    /// The text: the e-mail's body (decoded), Telegram's `text`, the webhook's raw JSON.
    pub body: String,
    /// The e-mail's `Message-ID` or the webhook's `Idempotency-Key`.
    pub key: Option<String>,
    /// The JSON a webhook or Telegram received.
    pub json: Option<Value>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A scripted answer for the next request of a channel.
#[derive(Debug, Clone, Copy)]
pub enum InboxFault {
    /// Answer this status (SMTP: `451` at the end of DATA, whatever the number).
    Status(u16),
    /// Answer nothing for this long (then close).
    Hang(Duration),
}

#[derive(Debug, Default)]
pub struct InboxState {
    pub received: Vec<Received>,
    pub email_faults: VecDeque<InboxFault>,
    pub telegram_faults: VecDeque<InboxFault>,
    pub webhook_faults: VecDeque<InboxFault>,
    /// Requests refused by a fault, per channel (email, telegram, webhook).
    pub refused: [u32; 3],
}

/// The running inbox.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub smtp_port: u16,
    pub http_base: String,
    pub state: Arc<Mutex<InboxState>>,
}

impl Inbox {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(0, 0).await
    }

    /// On given loopback ports (0: any free one).
    pub async fn start_on(smtp_port: u16, http_port: u16) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(InboxState::default()));
        let listener = TcpListener::bind(("127.0.0.1", smtp_port)).await?;
        let smtp_port = listener.local_addr()?.port();
        tokio::spawn(smtp_accept(listener, state.clone()));
        let data = web::Data::new(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(http))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", http_port))?;
        let http_port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(server.run());
        Ok(Self {
            smtp_port,
            http_base: format!("http://127.0.0.1:{http_port}"),
            state,
        })
    }

    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    pub fn with<T>(&self, change: impl FnOnce(&mut InboxState) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut state)
    }

    /// What a channel received, in order.
    pub fn of(&self, channel: &str) -> Vec<Received> {
        self.with(|s| {
            s.received
                .iter()
                .filter(|r| r.channel == channel)
                .cloned()
                .collect()
        })
    }
}

fn lock(state: &Mutex<InboxState>) -> std::sync::MutexGuard<'_, InboxState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn smtp_accept(listener: TcpListener, state: Arc<Mutex<InboxState>>) {
    while let Ok((socket, _)) = listener.accept().await {
        tokio::spawn(smtp_session(socket, state.clone()));
    }
}

async fn smtp_session(socket: tokio::net::TcpStream, state: Arc<Mutex<InboxState>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 boom-inbox ESMTP\r\n").await.is_err() {
        return;
    }
    let mut recipients: Vec<String> = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-boom-inbox\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let to = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(|c| c == '<' || c == '>').to_owned())
                    .unwrap_or_default();
                recipients.push(to);
                b"250 OK\r\n"
            }
            "DATA" => {
                if write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    // Dot-stuffing (RFC 5321 4.5.2).
                    data.push(line.strip_prefix('.').map_or(line.clone(), |rest| {
                        if line.starts_with("..") {
                            rest.to_owned()
                        } else {
                            line.clone()
                        }
                    }));
                }
                let fault = lock(&state).email_faults.pop_front();
                match fault {
                    Some(InboxFault::Hang(wait)) => {
                        lock(&state).refused[0] += 1;
                        tokio::time::sleep(wait).await;
                        return;
                    }
                    Some(InboxFault::Status(_)) => {
                        lock(&state).refused[0] += 1;
                        b"451 4.3.0 Temporary failure, try again later\r\n"
                    }
                    None => {
                        let (subject, body, key) = parse_mail(&data);
                        let mut s = lock(&state);
                        for to in &recipients {
                            s.received.push(Received {
                                channel: "email".into(),
                                to: to.clone(),
                                subject: subject.clone(),
                                body: body.clone(),
                                key: key.clone(),
                                json: None,
                                at: chrono::Utc::now(),
                            });
                        }
                        b"250 OK queued\r\n"
                    }
                }
            }
            "QUIT" => {
                let _ = write.write_all(b"221 Bye\r\n").await;
                return;
            }
            _ => b"502 Command not implemented\r\n",
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Subject (RFC 2047 decoded), body (transfer encoding decoded) and Message-ID of a message.
fn parse_mail(lines: &[String]) -> (String, String, Option<String>) {
    let split = lines
        .iter()
        .position(String::is_empty)
        .unwrap_or(lines.len());
    // Unfold headers.
    let mut headers: Vec<String> = Vec::new();
    for line in &lines[..split] {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.push_str(line);
            }
        } else {
            headers.push(line.clone());
        }
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            h.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
        })
    };
    let subject = header("Subject")
        .map(|s| decode_words(&s))
        .unwrap_or_default();
    let raw_body = lines.get(split + 1..).unwrap_or_default().join("\n");
    let body = match header("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(raw_body.replace(['\n', '\r'], ""))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or(raw_body),
        "quoted-printable" => quoted_printable(&raw_body),
        _ => raw_body,
    };
    (subject, body.replace("\r\n", "\n"), header("Message-ID"))
}

fn quoted_printable(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'='
                && i + 2 < raw.len() + 1
                && let Some(hex) = line.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                bytes.push(byte);
                i += 3;
            } else {
                bytes.push(raw[i]);
                i += 1;
            }
        }
        if !soft && lines.peek().is_some() {
            bytes.push(b'\n');
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`).
fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        if !before.trim().is_empty() {
            out.push_str(before);
        }
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let (encoding, payload) = (parts[1], &parts[2][..end]);
        let decoded = if encoding.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        } else {
            quoted_printable(&payload.replace('_', " "))
        };
        out.push_str(&decoded);
        let consumed = start + 2 + parts[0].len() + 1 + parts[1].len() + 1 + end + 2;
        rest = &rest[consumed.min(rest.len())..];
    }
    out.push_str(rest);
    out
}

async fn http(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<InboxState>>>,
) -> HttpResponse {
    let path = request.path().to_owned();
    if request.method() == actix_web::http::Method::GET {
        let received = lock(&state).received.clone();
        if path == "/messages.json" {
            return HttpResponse::Ok().json(received);
        }
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page(&received));
    }
    let telegram = path.starts_with("/bot") && path.ends_with("/sendMessage");
    let (index, channel) = if telegram {
        (1, "telegram")
    } else {
        (2, "webhook")
    };
    let fault = {
        let mut s = lock(&state);
        let fault = if telegram {
            s.telegram_faults.pop_front()
        } else {
            s.webhook_faults.pop_front()
        };
        if fault.is_some() {
            s.refused[index] += 1;
        }
        fault
    };
    match fault {
        Some(InboxFault::Hang(wait)) => {
            tokio::time::sleep(wait).await;
            return HttpResponse::GatewayTimeout().finish();
        }
        Some(InboxFault::Status(status)) => {
            let status = actix_web::http::StatusCode::from_u16(status).unwrap_or_default();
            return HttpResponse::build(status).json(json!({
                "ok": false, "error_code": status.as_u16(), "description": "scripted failure",
            }));
        }
        None => {}
    }
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let (to, text) = if telegram {
        let Some(message) = parsed.as_ref() else {
            return HttpResponse::BadRequest().json(
                json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid JSON"}),
            );
        };
        let chat = match &message["chat_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Some(text) = message["text"].as_str().filter(|t| !t.is_empty()) else {
            return HttpResponse::BadRequest().json(
                json!({"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"}),
            );
        };
        (chat, text.to_owned())
    } else {
        (path.clone(), String::from_utf8_lossy(&body).into_owned())
    };
    let key = request
        .headers()
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let id = {
        let mut s = lock(&state);
        s.received.push(Received {
            channel: channel.into(),
            to: to.clone(),
            subject: String::new(),
            body: text.clone(),
            key,
            json: parsed,
            at: chrono::Utc::now(),
        });
        s.received.len()
    };
    if telegram {
        HttpResponse::Ok().json(json!({"ok": true, "result": {
            "message_id": id, "date": chrono::Utc::now().timestamp(),
            "chat": {"id": to, "type": "private"}, "text": text,
        }}))
    } else {
        HttpResponse::Ok().json(json!({"received": true}))
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(received: &[Received]) -> String {
    let rows: String = received
        .iter()
        .rev()
        .map(|r| {
            let text = if r.channel == "webhook" {
                r.json
                    .as_ref()
                    .and_then(|j| j["message"].as_str())
                    .unwrap_or(&r.body)
                    .to_owned()
            } else {
                r.body.clone()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b><pre>{}</pre></td></tr>",
                r.at.format("%H:%M:%S"),
                escape(&r.channel),
                escape(&r.to),
                escape(&r.subject),
                escape(&text)
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"fr\"><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>Boîte de réception de démo — LE BOOM</title>\
         <style>body{{font-family:sans-serif;margin:2rem}}td{{vertical-align:top;padding:.3rem .6rem;border-bottom:1px solid #ddd}}pre{{white-space:pre-wrap;margin:.2rem 0}}</style>\
         <h1>Messages d'alerte reçus ({})</h1>\
         <p>E-mails (SMTP), Telegram et webhooks envoyés par boom-notifier pendant la démo, les plus récents d'abord.</p>\
         <table><tr><th>Heure</th><th>Canal</th><th>Destinataire</th><th>Message</th></tr>{rows}</table></html>",
        received.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_headers_and_bodies_are_decoded() {
        assert_eq!(decode_words("=?utf-8?b?UsOpc29sdQ==?="), "Résolu");
        assert_eq!(decode_words("=?utf-8?q?R=C3=A9solu_ok?="), "Résolu ok");
        assert_eq!(decode_words("plain"), "plain");
        assert_eq!(quoted_printable("R=C3=A9so=\nlu"), "Résolu");
        let (subject, body, key) = parse_mail(&[
            "Subject: =?utf-8?b?UsOpc29sdQ==?=".into(),
            "Message-ID: <a@b>".into(),
            "Content-Transfer-Encoding: 7bit".into(),
            String::new(),
            "line".into(),
        ]);
        assert_eq!(
            (subject.as_str(), body.as_str(), key.as_deref()),
            ("Résolu", "line", Some("<a@b>"))
        );
    }
}
