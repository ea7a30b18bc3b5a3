//! Where a guest's stdout and stderr go: line by line to `tracing` at debug
//! level, never to the terminal. The last few lines of stderr are kept so a
//! trap can be reported with what the guest said before it died (Python and
//! JavaScript guests print their uncaught exception there).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Longest line kept; longer lines are cut (the rest is dropped).
const MAX_LINE: usize = 4096;
/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 8;

/// One of a guest's output streams (stdout or stderr).
#[derive(Clone)]
pub struct GuestOutput {
    shared: Arc<Mutex<Lines>>,
}

struct Lines {
    plugin: String,
    stream: &'static str,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl GuestOutput {
    /// A stream named `stream` ("stdout", "stderr") of the guest `plugin`.
    pub fn new(plugin: &str, stream: &'static str) -> GuestOutput {
        GuestOutput {
            shared: Arc::new(Mutex::new(Lines {
                plugin: plugin.to_string(),
                stream,
                partial: Vec::new(),
                tail: VecDeque::new(),
            })),
        }
    }

    /// Renames the guest in later log lines (its name is known only after `describe`).
    pub fn set_plugin(&self, plugin: &str) {
        self.lock().plugin = plugin.to_string();
    }

    /// The last lines written (and an unfinished one), oldest first; then forgotten.
    pub fn take_tail(&self) -> Vec<String> {
        let mut lines = self.lock();
        if !lines.partial.is_empty() {
            let last = String::from_utf8_lossy(&std::mem::take(&mut lines.partial)).into_owned();
            lines.push(last);
        }
        lines.tail.drain(..).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // A panic while holding this lock cannot leave the lines inconsistent.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, bytes: &[u8]) {
        let mut lines = self.lock();
        for &b in bytes {
            if b == b'\n' {
                let line =
                    String::from_utf8_lossy(&std::mem::take(&mut lines.partial)).into_owned();
                lines.push(line);
            } else if lines.partial.len() < MAX_LINE {
                lines.partial.push(b);
            }
        }
    }
}

impl Lines {
    fn push(&mut self, line: String) {
        let line = line.trim_end_matches('\r').to_string();
        tracing::debug!(plugin = %self.plugin, stream = self.stream, "{line}");
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_the_unfinished_one() {
        let out = GuestOutput::new("p", "stderr");
        for i in 0..20 {
            out.append(format!("line {i}\n").as_bytes());
        }
        out.append(b"partial");
        let tail = out.take_tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.first().map(String::as_str), Some("line 13"));
        assert_eq!(tail.last().map(String::as_str), Some("partial"));
        assert!(out.take_tail().is_empty());
    }

    #[test]
    fn cuts_long_lines() {
        let out = GuestOutput::new("p", "stdout");
        out.append(&vec![b'x'; MAX_LINE * 3]);
        out.append(b"\n");
        assert_eq!(out.take_tail()[0].len(), MAX_LINE);
    }
}
