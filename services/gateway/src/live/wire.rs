//! The WebSocket on the wire, without a session layer in between: a frame is encoded once
//! (header and JSON, `bytes::Bytes`) and the same bytes go to every client it is for.
//!
//! A socket is the bare TCP stream the server hands over after `101` (`boom_server::Upgraded`),
//! served by one task with two halves that borrow it side by side:
//! - [`Outgoing`] holds the frames not yet written, as they are, and writes as many as the
//!   socket takes in one vectored write: no copy, no write buffer;
//! - [`Incoming`] decodes what the client sends with actix-http's codec, from a buffer that
//!   exists only while a frame is arriving.
//!
//! An idle socket thus holds no buffer at all. (Kept by actix-http's dispatcher, as before, it
//! held 16 KiB or more for its whole life; actix-ws, before that, also re-encoded each frame
//! for each client behind two channels.)

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use actix_http::ws::{CloseReason, Codec, Frame, OpCode, Parser, ProtocolError};
use actix_web::rt::net::TcpStream;
use bytes::{Buf, Bytes, BytesMut};

/// Frames handed to one vectored write at most.
const SLICES: usize = 64;

/// Slots of an empty queue kept for the next frames; a larger queue is released.
const KEPT_SLOTS: usize = 8;

/// Room made in the read buffer when a frame starts arriving.
const READ_CHUNK: usize = 4096;

/// A text message as it goes on the wire: unmasked (server to client), one frame.
pub fn text(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut out, payload, OpCode::Text, true, false);
    out.freeze()
}

fn control(payload: &[u8], op: OpCode) -> Bytes {
    // Control frames carry at most 125 bytes.
    let payload = &payload[..payload.len().min(125)];
    let mut out = BytesMut::with_capacity(payload.len() + 2);
    Parser::write_message(&mut out, payload, op, true, false);
    out.freeze()
}

pub fn ping(payload: &[u8]) -> Bytes {
    control(payload, OpCode::Ping)
}

pub fn pong(payload: &[u8]) -> Bytes {
    control(payload, OpCode::Pong)
}

/// The close frame, its reason cut to what a control frame carries.
pub fn close(reason: Option<CloseReason>) -> Bytes {
    let mut out = BytesMut::with_capacity(127);
    let reason = reason.map(|mut reason| {
        if let Some(description) = reason.description.as_mut() {
            let mut end = description.len().min(123);
            while !description.is_char_boundary(end) {
                end -= 1;
            }
            description.truncate(end);
        }
        reason
    });
    Parser::write_close(&mut out, reason, false);
    out.freeze()
}

/// The frames of one socket not yet written.
#[derive(Debug, Default)]
pub struct Outgoing {
    frames: VecDeque<Bytes>,
    /// How many WebSocket frames each entry of `frames` holds (several, end to end, for
    /// updates that arrived together), and in all.
    counts: VecDeque<usize>,
    held: usize,
    /// Since when frames have waited with no byte written.
    waiting_since: Option<Instant>,
}

impl Outgoing {
    /// Queues an encoded frame (see [`text`]).
    pub fn push(&mut self, frame: Bytes) {
        self.push_frames(frame, 1);
    }

    /// Queues `count` encoded frames laid end to end in `bytes`.
    pub fn push_frames(&mut self, bytes: Bytes, count: usize) {
        if self.frames.is_empty() {
            self.waiting_since = Some(Instant::now());
        }
        self.frames.push_back(bytes);
        self.counts.push_back(count);
        self.held += count;
    }

    /// WebSocket frames held, not yet (wholly) written.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// How long queued frames have waited without the client taking a byte.
    pub fn stalled_for(&self) -> Duration {
        self.waiting_since
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Waits until the socket takes bytes, then writes as many queued frames as it takes.
    /// Cancel-safe: a write either happened and is accounted for, or did not start.
    pub async fn write(&mut self, io: &TcpStream) -> std::io::Result<()> {
        loop {
            io.writable().await?;
            let mut slices = [IoSlice::new(&[]); SLICES];
            let count = self
                .frames
                .iter()
                .zip(slices.iter_mut())
                .map(|(frame, slice)| *slice = IoSlice::new(frame))
                .count();
            match io.try_write_vectored(&slices[..count]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    self.advance(written);
                    return Ok(());
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn advance(&mut self, mut written: usize) {
        while let Some(front) = self.frames.front_mut() {
            if written < front.len() {
                front.advance(written);
                break;
            }
            written -= front.len();
            self.frames.pop_front();
            self.held -= self.counts.pop_front().unwrap_or_default();
        }
        self.waiting_since = (!self.frames.is_empty()).then(Instant::now);
        if self.frames.is_empty() && self.frames.capacity() > KEPT_SLOTS {
            // A burst (a resync) is not kept for the connection's life.
            self.frames = VecDeque::new();
            self.counts = VecDeque::new();
        }
    }

    /// Writes what is queued, for at most `limit`.
    pub async fn drain(&mut self, io: &TcpStream, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while !self.is_empty() {
                self.write(io).await?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
    }
}

/// What a client sends, decoded as it arrives.
pub struct Incoming {
    buf: BytesMut,
    codec: Codec,
}

impl Incoming {
    /// `read`: bytes the client sent with its request, already read.
    pub fn new(read: BytesMut) -> Self {
        Self {
            buf: read,
            codec: Codec::new(),
        }
    }

    /// The next frame; `None` once the connection is closed. Cancel-safe: what was read stays
    /// in the buffer.
    pub async fn next(&mut self, io: &TcpStream) -> Option<Result<Frame, ProtocolError>> {
        use tokio_util::codec::Decoder;
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    if self.buf.is_empty() && self.buf.capacity() > 0 {
                        // Nothing pending: the buffer goes until the next frame arrives.
                        self.buf = BytesMut::new();
                    }
                    return Some(Ok(frame));
                }
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
            io.readable().await.ok()?;
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            match io.try_read_buf(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    // Readiness is cleared only now: the room made for nothing goes again.
                    if self.buf.is_empty() {
                        self.buf = BytesMut::new();
                    }
                }
                Err(_) => return None,
            }
        }
    }
}

/// Ends a connection: what is queued (the close frame last) is written for at most `limit`,
/// then the stream is shut for writing and what the client still sends is read and dropped
/// until it closes too, or `limit` again, so that its reading of the close frame is not cut
/// by a reset.
pub async fn finish(mut io: TcpStream, mut outgoing: Outgoing, limit: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    outgoing.drain(&io, limit).await;
    if io.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(limit, async {
        while matches!(io.read(&mut sink).await, Ok(read) if read > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_frame_is_the_header_then_the_payload_unmasked() {
        let frame = text(b"{\"event\":\"x\"}");
        assert_eq!(frame[0], 0x81, "FIN and text");
        assert_eq!(frame[1], 13, "length, no mask bit");
        assert_eq!(&frame[2..], b"{\"event\":\"x\"}");
        let long = text(&[b'a'; 300]);
        assert_eq!(&long[..4], &[0x81, 126, 1, 44], "16-bit length");
    }

    #[test]
    fn a_partial_write_keeps_the_rest_of_the_frame_in_order() {
        let mut outgoing = Outgoing::default();
        outgoing.push(Bytes::from_static(b"abc"));
        outgoing.push(Bytes::from_static(b"defg"));
        outgoing.push(Bytes::from_static(b"h"));
        outgoing.advance(5);
        let rest: Vec<u8> = outgoing.frames.iter().flatten().copied().collect();
        assert_eq!(rest, b"fgh");
        assert!(outgoing.waiting_since.is_some());
        outgoing.advance(3);
        assert!(outgoing.is_empty());
        assert_eq!(outgoing.stalled_for(), Duration::ZERO, "nothing waits");
    }

    #[tokio::test]
    async fn frames_go_out_as_they_are_and_what_arrives_is_decoded() -> std::io::Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let mut outgoing = Outgoing::default();
        outgoing.push(text(b"one"));
        outgoing.push(text(b"two"));
        while !outgoing.is_empty() {
            outgoing.write(&server).await?;
        }
        let mut read = [0u8; 10];
        client.read_exact(&mut read).await?;
        assert_eq!(&read, b"\x81\x03one\x81\x03two");

        // A masked ping from the client, sent in two pieces.
        let frame = [0x89, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
        let mut incoming = Incoming::new(BytesMut::new());
        client.write_all(&frame[..3]).await?;
        let arriving = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.write_all(&frame[3..]).await.map(|()| client)
        });
        match incoming.next(&server).await {
            Some(Ok(Frame::Ping(payload))) => assert_eq!(&payload[..], b"hi"),
            other => panic!("expected the ping, got {other:?}"),
        }
        assert_eq!(incoming.buf.capacity(), 0, "no buffer kept between frames");
        drop(arriving.await.map_err(std::io::Error::other)??);
        assert!(incoming.next(&server).await.is_none(), "closed");
        Ok(())
    }

    #[test]
    fn frames_that_came_together_count_as_frames_until_written() {
        let mut outgoing = Outgoing::default();
        outgoing.push_frames(Bytes::from_static(b"abcdef"), 3);
        outgoing.push(Bytes::from_static(b"g"));
        assert_eq!(outgoing.len(), 4);
        outgoing.advance(5);
        assert_eq!(outgoing.len(), 4, "a message partly written is held whole");
        outgoing.advance(1);
        assert_eq!(outgoing.len(), 1);
        outgoing.advance(1);
        assert!(outgoing.is_empty());
        assert_eq!(outgoing.len(), 0);
    }

    #[test]
    fn control_frames_are_cut_to_125_bytes() {
        assert_eq!(ping(&[0; 200]).len(), 127);
    }
}
