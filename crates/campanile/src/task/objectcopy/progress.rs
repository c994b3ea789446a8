//! Status lines while a write's body is sent. Hadoop kills a task that neither reads,
//! writes nor reports for `mapreduce.task.timeout` (10 minutes by default), and a PUT
//! or UploadPart of a large body to a slow destination can take that long with nothing
//! else to say. The body is wrapped so that every chunk handed to the connection adds
//! to a shared count ([`counted`]), and the copy reports that count while the request
//! is in flight ([`reporting`]): only when it advanced, so a write that is stuck (no
//! byte taken for a whole tick) says nothing and Hadoop's timeout still catches it.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::error::Error;
use crate::reporter::Reporter;

/// How often the count is looked at; the reporter writes at most every its own
/// interval in any case.
const TICK: Duration = Duration::from_secs(1);

/// Largest data frame handed on. An in-memory body is one frame of the whole object:
/// counted as it is handed to the connection, it would be "sent" at once. Frames of
/// this size are taken by the connection only as it writes, so the count trails the
/// bytes on the wire by the connection's buffers only.
const FRAME: usize = 64 * 1024;

/// `stream` with every byte it yields added to `sent`. A body the SDK rebuilds to try a
/// request again starts the count from zero when it is first read.
pub(super) fn counted(stream: ByteStream, sent: &Arc<AtomicU64>) -> ByteStream {
    let sent = sent.clone();
    // map_preserve_contents keeps an in-memory body's bytes visible to the SDK and
    // calls the closure again for each rebuilt (retried) body.
    ByteStream::new(stream.into_inner().map_preserve_contents(move |body| {
        SdkBody::from_body_1_x(Counting {
            inner: body,
            sent: sent.clone(),
            started: false,
            pending: Bytes::new(),
        })
    }))
}

/// A body that counts the data it yields.
struct Counting {
    inner: SdkBody,
    sent: Arc<AtomicU64>,
    /// Whether it was read yet: the first read resets the count (a retry's body).
    started: bool,
    /// What is left of the inner body's last data frame, handed on [`FRAME`] bytes at
    /// a time.
    pending: Bytes,
}

impl Body for Counting {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.started {
            self.started = true;
            self.sent.store(0, Ordering::Relaxed);
        }
        loop {
            if !self.pending.is_empty() {
                let take = self.pending.len().min(FRAME);
                let data = self.pending.split_to(take);
                self.sent
                    .fetch_add(u64::try_from(take).unwrap_or(0), Ordering::Relaxed);
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.pending = data,
                    // Trailers pass as they are.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = Body::size_hint(&self.inner);
        let pending = u64::try_from(self.pending.len()).unwrap_or(u64::MAX);
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(pending));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(pending));
        }
        hint
    }
}

/// Runs `send` to its end, writing the status `<label>: N of <total> bytes sent`
/// whenever `sent` advanced since the last look.
pub(super) async fn reporting<F: Future, E: Write>(
    send: F,
    sent: &AtomicU64,
    total: u64,
    label: &str,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<F::Output, Error> {
    reporting_every(TICK, send, sent, total, label, reporter).await
}

/// [`reporting`], looking every `tick`.
async fn reporting_every<F: Future, E: Write>(
    tick: Duration,
    send: F,
    sent: &AtomicU64,
    total: u64,
    label: &str,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<F::Output, Error> {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The first tick is immediate: nothing is sent yet.
    ticker.tick().await;
    let mut send = std::pin::pin!(send);
    let mut reported = 0;
    loop {
        tokio::select! {
            biased;
            output = &mut send => return Ok(output),
            _ = ticker.tick() => {
                let now = sent.load(Ordering::Relaxed);
                if now != reported {
                    reported = now;
                    reporter
                        .borrow_mut()
                        .status(&format!("{label}: {now} of {total} bytes sent"))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_byte_is_counted_and_a_rebuilt_body_counts_again() {
        let sent = Arc::new(AtomicU64::new(0));
        let stream = counted(ByteStream::from(vec![7u8; 1000]), &sent);
        let body = stream.into_inner();
        let copy = body.try_clone().expect("retryable");
        let bytes = ByteStream::new(body).collect().await.expect("collect");
        assert_eq!(bytes.into_bytes().as_ref(), &[7u8; 1000][..]);
        assert_eq!(sent.load(Ordering::Relaxed), 1000);
        // A retry rebuilds the body: the count starts again.
        ByteStream::new(copy).collect().await.expect("collect");
        assert_eq!(sent.load(Ordering::Relaxed), 1000);
    }

    #[tokio::test]
    async fn large_frames_are_handed_on_in_small_ones() {
        let sent = Arc::new(AtomicU64::new(0));
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = counted(ByteStream::from(data.clone()), &sent).into_inner();
        assert_eq!(Body::size_hint(&body).exact(), Some(200_000));
        let mut seen = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.expect("frame").into_data().expect("data");
            assert!(frame.len() <= FRAME);
            seen.extend_from_slice(&frame);
            assert_eq!(sent.load(Ordering::Relaxed), seen.len() as u64);
        }
        assert_eq!(seen, data);
    }

    #[tokio::test]
    async fn status_lines_follow_the_count_and_stop_when_it_stalls() {
        let sent = Arc::new(AtomicU64::new(0));
        let mut out = Vec::new();
        let mut reporter = Reporter::with_interval(&mut out, Duration::ZERO);
        let counter = sent.clone();
        let send = async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                counter.fetch_add(100, Ordering::Relaxed);
            }
            // Stalled: nothing more for ten ticks.
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        };
        let tick = Duration::from_millis(50);
        let output = {
            let cell = RefCell::new(&mut reporter);
            reporting_every(tick, send, &sent, 300, "d/k", &cell)
                .await
                .expect("reporting")
        };
        assert_eq!(output, "done");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        // One line per advance (a busy machine may merge two), none while stalled.
        let expected = [
            "reporter:status:d/k: 100 of 300 bytes sent",
            "reporter:status:d/k: 200 of 300 bytes sent",
            "reporter:status:d/k: 300 of 300 bytes sent",
        ];
        assert!(!lines.is_empty() && lines.len() <= 3, "{text}");
        assert_eq!(lines.last(), expected.last(), "{text}");
        assert!(lines.iter().all(|l| expected.contains(l)), "{text}");
        assert!(
            lines.windows(2).all(|w| w[0] < w[1]),
            "no line twice: {text}"
        );
    }
}
