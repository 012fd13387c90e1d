//! [`Pacer`]: how far a connection's reads may run ahead of the requests it answers.
//!
//! actix-http parses every complete request head it has read into a queue of its own, about
//! 6.7 KB each (a header map sized for 16 headers), and only its read loop's entry checks the
//! queue's length: a client that pipelines 50 requests in one packet and never reads an
//! answer made the service hold 50 parsed requests, ~265 KB per connection (issue 28). So
//! [`super::CappedHead`] hands actix-http the next request head only once actix-http has taken
//! the one before it (called the app with it): one request answered, one waiting, the rest in
//! the kernel's socket buffer, where a client that does not read cannot grow it.
//!
//! A head's end is a blank line as actix-http parses it (bare line feeds too). Bytes that end
//! no further head, a request's body among them, are handed on with the head before them. A
//! body holding a blank line would count as a head, and a request pipelined after it would
//! wait until keep-alive closes the connection: this API takes no bodies.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Context;

use futures_util::task::AtomicWaker;

/// One connection's count of requests taken by the app, shared by its socket wrapper (which
/// waits on it) and the service in front of the app (which counts).
#[derive(Debug, Default)]
pub struct Pacer {
    taken: AtomicU64,
    reader: AtomicWaker,
}

/// Request heads actix-http may hold that it has not taken yet (besides the one it answers).
const WAITING: u64 = 1;

impl Pacer {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The app was called with one more of the connection's requests: a waiting read may go on.
    pub fn request_taken(&self) {
        self.taken.fetch_add(1, Ordering::AcqRel);
        self.reader.wake();
    }

    /// How many more request heads may end in what is handed to actix-http, when `delivered`
    /// have been.
    pub fn heads_allowed(&self, delivered: u64) -> u64 {
        (self.taken.load(Ordering::Acquire) + WAITING).saturating_sub(delivered)
    }

    /// Has the reading task woken once a head may be handed on (at once if one already may).
    /// Registered only when bytes wait: a wake for a reader with nothing to read would cost a
    /// poll of the whole connection per request.
    pub fn wake_when_allowed(&self, delivered: u64, cx: &mut Context<'_>) {
        self.reader.register(cx.waker());
        // Taken before the registration: its wake went to no one.
        if self.heads_allowed(delivered) > 0 {
            cx.waker().wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_head_waits_while_one_is_answered_and_each_taken_request_lets_one_more_in() {
        let pacer = Pacer::new();

        assert_eq!(pacer.heads_allowed(0), 1, "the first head");
        assert_eq!(pacer.heads_allowed(1), 0, "delivered, not yet taken");
        pacer.request_taken();
        assert_eq!(
            pacer.heads_allowed(1),
            1,
            "one waits while the first is answered"
        );
        assert_eq!(pacer.heads_allowed(2), 0, "the second waits");
        pacer.request_taken();
        assert_eq!(
            pacer.heads_allowed(2),
            1,
            "the second taken: a third may wait"
        );
    }
}
