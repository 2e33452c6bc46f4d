//! Where to cut UTF-8 text into pieces (console output written a piece
//! at a time) so that no character is split in two.

/// How many of `bytes` are whole UTF-8 characters: all but a sequence
/// the end cuts short.
pub fn whole_chars(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let need = match b {
            // Never a lead byte: not UTF-8, nothing to keep together.
            0xF8.. => 1,
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if need > back { len - back } else { len };
    }
    len
}

/// The last index at or before `at` where a UTF-8 character starts (not a
/// continuation byte), looking back at most 3 bytes; `at` itself if none
/// is (not UTF-8 anyway), and never 0 when `at` is not.
pub fn char_start(bytes: &[u8], at: usize) -> usize {
    (at.saturating_sub(3)..=at)
        .rev()
        .find(|&i| i > 0 && bytes.get(i).is_none_or(|b| b & 0xC0 != 0x80))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_character_goes_with_the_next_piece() {
        let text = "aé€😀".as_bytes(); // 1, 2, 3 and 4 bytes
        assert_eq!(whole_chars(text), text.len());
        for cut in 1..text.len() {
            let keep = whole_chars(&text[..cut]);
            assert!(core::str::from_utf8(&text[..keep]).is_ok(), "cut {cut}");
            assert!(keep + 3 >= cut);
        }
        assert_eq!(whole_chars(b"\xff\xfe"), 2); // not UTF-8: kept
    }

    #[test]
    fn pieces_start_at_characters() {
        let text = "a€€€€".as_bytes();
        for at in 1..=text.len() {
            let i = char_start(text, at);
            assert!(i > 0 && i <= at && at - i <= 3);
            assert!(core::str::from_utf8(&text[..i]).is_ok(), "at {at}: {i}");
        }
    }
}
