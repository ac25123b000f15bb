//! Text an author wrote, read the same on every system.
//!
//! Editors on Windows may begin a UTF-8 file with a byte-order mark
//! (U+FEFF, bytes `EF BB BF`) and end its lines with CRLF. Neither is part
//! of what the author wrote: a mark left in front of a deck's first line
//! hides the template header behind an invisible character, and a lock
//! file's hash that counts CRs makes two checkouts of one course disagree.
//! Every reader of author text in the host and the bundled plugins goes
//! through [`decode`], so a file saved on Windows builds exactly like one
//! saved on Linux; [`Job::source_text`](crate::Job::source_text) does it
//! for plugins.

use std::borrow::Cow;
use std::fmt;

/// The byte-order mark as the character it decodes to.
const BOM: char = '\u{feff}';

/// Where a file stops being UTF-8: the first byte that is not, counted from
/// the start of the file (a leading byte-order mark included), and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line of the first byte that is not UTF-8.
    pub line: u32,
    /// Byte offset of that byte from the start of the file.
    pub offset: usize,
}

impl fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: not UTF-8 (byte {}); save the file as UTF-8", self.line, self.offset)
    }
}

impl std::error::Error for NotUtf8 {}

impl NotUtf8 {
    fn at(bytes: &[u8], offset: usize) -> NotUtf8 {
        let newlines = bytes[..offset].iter().filter(|&&b| b == b'\n').count();
        NotUtf8 { line: u32::try_from(newlines).map_or(u32::MAX, |n| n.saturating_add(1)), offset }
    }
}

/// A file's bytes as text: UTF-8 without a leading byte-order mark.
pub fn decode(bytes: &[u8]) -> Result<&str, NotUtf8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix(BOM).unwrap_or(text)),
        Err(e) => Err(NotUtf8::at(bytes, e.valid_up_to())),
    }
}

/// [`decode`] for bytes the caller owns, without copying them when the
/// file has no byte-order mark.
pub fn decode_owned(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with(BOM) {
                text.drain(..BOM.len_utf8());
            }
            Ok(text)
        }
        Err(e) => Err(NotUtf8::at(e.as_bytes(), e.utf8_error().valid_up_to())),
    }
}

/// Text with CRLF line ends as LF: for text whose hash names something
/// shared between machines (a package list, its lock), so a checkout with
/// Windows line ends names the same thing.
pub fn unix_newlines(text: &str) -> Cow<'_, str> {
    if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_text() {
        assert_eq!(decode(b"\xEF\xBB\xBF# j2 from").unwrap(), "# j2 from");
        assert_eq!(decode_owned(b"\xEF\xBB\xBFx".to_vec()).unwrap(), "x");
        assert_eq!(decode(b"plain").unwrap(), "plain");
    }

    #[test]
    fn only_a_leading_mark_is_dropped() {
        assert_eq!(decode("a\u{feff}b".as_bytes()).unwrap(), "a\u{feff}b");
    }

    #[test]
    fn a_legacy_byte_is_found_by_line_and_offset_in_the_file_as_saved() {
        // cp1252 curly quotes on line 3, after a mark: offsets count the mark.
        let bytes = b"\xEF\xBB\xBFone\ntwo\n\x93three\x94\n";
        assert_eq!(decode(bytes), Err(NotUtf8 { line: 3, offset: 11 }));
        assert_eq!(decode_owned(bytes.to_vec()), Err(NotUtf8 { line: 3, offset: 11 }));
    }

    #[test]
    fn windows_line_ends_become_unix_ones() {
        assert_eq!(unix_newlines("a\r\nb\r\n"), "a\nb\n");
        assert!(matches!(unix_newlines("a\nb"), Cow::Borrowed(_)));
    }
}
