//! Byte ranges into a received message.
//!
//! Spans, not slices, because edits and the cross-shard handoff refer to
//! offsets in the original datagram; typed views hand out slices and
//! [`Message::span_of`](crate::Message::span_of) turns them back into spans.

use core::ops::Range;

/// A half-open byte range `start..end` into a message buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from `start` to `end`.
    #[inline]
    pub const fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// An empty span at `at`, the position of an insertion.
    #[inline]
    pub const fn empty(at: usize) -> Span {
        Span::new(at, at)
    }

    /// Length in bytes.
    #[inline]
    pub const fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no bytes.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.end == self.start
    }

    /// As a `usize` range.
    #[inline]
    pub const fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The bytes of `buf` this span covers.
    ///
    /// # Panics
    /// If the span is out of `buf`'s bounds; spans handed out by a
    /// [`Message`](crate::Message) always lie within its buffer.
    #[inline]
    pub fn of(self, buf: &[u8]) -> &[u8] {
        &buf[self.range()]
    }
}
