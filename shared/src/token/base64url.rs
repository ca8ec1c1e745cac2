//! base64url decoding (RFC 4648 §5) for the three segments of a JWS (RFC 7515 §2).
//!
//! A ticket is about 400 characters of base64url and every one of them is decoded on every
//! check, so this is a small table-driven decoder rather than the general `base64` engine: four
//! characters become three bytes with four table loads and three ORs, and validity is
//! accumulated and tested once per segment instead of once per character.
//!
//! It accepts exactly what `base64`'s `URL_SAFE_NO_PAD` engine (and PyJWT) accept: the
//! alphabet `A-Z a-z 0-9 - _`, no padding (the caller strips correct `=` padding first), a
//! length that is not 1 more than a multiple of 4 (no whole byte fits in 6 bits), and zero
//! trailing bits in the last character (RFC 4648 §3.5: a canonical encoding sets them to zero,
//! and refusing the others gives every byte string exactly one spelling).

/// Marks a character outside the alphabet. It sits above the 24 bits that four characters
/// fill, so OR-ing table entries keeps it visible whatever the other characters were.
const INVALID: u32 = 0xff00_0000;

/// The value of each base64url character shifted to where the character's 6 bits go in a
/// 24-bit group; [`INVALID`] for bytes outside the alphabet.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an out-of-range index fails the build"
)]
const fn table(shift: u32) -> [u32; 256] {
    let mut table = [INVALID; 256];
    let mut byte = 0;
    while byte < 256 {
        let value = match byte as u8 {
            c @ b'A'..=b'Z' => Some(c - b'A'),
            c @ b'a'..=b'z' => Some(c - b'a' + 26),
            c @ b'0'..=b'9' => Some(c - b'0' + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        };
        if let Some(value) = value {
            table[byte] = (value as u32) << shift;
        }
        byte += 1;
    }
    table
}

/// One table per position in a group of four, so a group is four loads and three ORs.
static FIRST: [u32; 256] = table(18);
static SECOND: [u32; 256] = table(12);
static THIRD: [u32; 256] = table(6);
static FOURTH: [u32; 256] = table(0);

/// The entry of `table` for `byte`. The index is below 256, so the compiler drops the bounds
/// check and the fallback is never taken.
#[inline(always)]
fn lookup(table: &[u32; 256], byte: u8) -> u32 {
    table.get(usize::from(byte)).copied().unwrap_or(INVALID)
}

/// The number of bytes `len` characters of unpadded base64url decode to, or `None` when no
/// encoding has that length (`len % 4 == 1`).
pub(super) fn decoded_len(len: usize) -> Option<usize> {
    let whole = len / 4 * 3;
    match len % 4 {
        0 => Some(whole),
        1 => None,
        rest => Some(whole + rest - 1),
    }
}

/// Decodes unpadded base64url `input` into `out`, which must be exactly
/// [`decoded_len`]`(input.len())` bytes long. `None` if a character is outside the alphabet,
/// the length is impossible, or the last character has non-zero trailing bits.
pub(super) fn decode(input: &[u8], out: &mut [u8]) -> Option<()> {
    if decoded_len(input.len()) != Some(out.len()) {
        return None;
    }
    let mut seen = 0u32;
    // Eight characters (two groups) at a time: their 48 bits are one 6-byte store.
    let (octets, input) = input.as_chunks::<8>();
    let (sextets, out) = out.as_chunks_mut::<6>();
    for (&[a, b, c, d, e, f, g, h], sextet) in octets.iter().zip(sextets.iter_mut()) {
        let (high, low) = (group(a, b, c, d), group(e, f, g, h));
        seen |= high | low;
        let bytes = (u64::from(high) << 40 | u64::from(low) << 16).to_be_bytes();
        if let Some(first) = bytes.first_chunk() {
            *sextet = *first;
        }
    }
    // Under eight characters are left: a group of four, then none, two or three.
    let (groups, rest) = input.as_chunks::<4>();
    let (triples, tail) = out.as_chunks_mut::<3>();
    for (&[a, b, c, d], triple) in groups.iter().zip(triples) {
        let bits = group(a, b, c, d);
        seen |= bits;
        let [_, x, y, z] = bits.to_be_bytes();
        *triple = [x, y, z];
    }
    // The last 2 or 3 characters carry 1 or 2 bytes; the bits after those must be 0.
    let (bits, trailing) = match *rest {
        [] => (0, 0),
        [a, b] => {
            let bits = lookup(&FIRST, a) | lookup(&SECOND, b);
            (bits, bits & 0xffff)
        }
        [a, b, c] => {
            let bits = lookup(&FIRST, a) | lookup(&SECOND, b) | lookup(&THIRD, c);
            (bits, bits & 0xff)
        }
        _ => return None,
    };
    let [_, x, y, _] = bits.to_be_bytes();
    match tail {
        [] => {}
        [first] => *first = x,
        [first, second] => {
            *first = x;
            *second = y;
        }
        _ => return None,
    }
    ((seen | bits) & INVALID == 0 && trailing == 0).then_some(())
}

/// The 24 bits of a group of four characters, with [`INVALID`] bits if any is not base64url.
#[inline(always)]
fn group(a: u8, b: u8, c: u8, d: u8) -> u32 {
    lookup(&FIRST, a) | lookup(&SECOND, b) | lookup(&THIRD, c) | lookup(&FOURTH, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    fn ours(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; decoded_len(input.len())?];
        decode(input, &mut out)?;
        Some(out)
    }

    fn theirs(input: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(input).ok()
    }

    #[test]
    fn known_vectors_from_rfc_4648() {
        // RFC 4648 §10, unpadded, in the URL-safe alphabet.
        for (encoded, decoded) in [
            ("", ""),
            ("Zg", "f"),
            ("Zm8", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmE", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(ours(encoded.as_bytes()).unwrap(), decoded.as_bytes());
        }
        assert_eq!(ours(b"-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn refuses_what_url_safe_no_pad_refuses() {
        for bad in [
            "Z",
            "Zm9vY",
            "Zh",
            "Zm9=",
            "Zm+v",
            "Zm/v",
            "Zm9v Yg",
            "Zm.v",
            "Zm9\u{e9}",
        ] {
            assert_eq!(ours(bad.as_bytes()), None, "{bad}");
            assert_eq!(theirs(bad.as_bytes()), None, "{bad}");
        }
        // The last character of "Zg" may only be g, w, A or Q (low 4 bits zero).
        for last in b'A'..=b'z' {
            let input = [b'Z', last];
            assert_eq!(ours(&input), theirs(&input), "{}", last as char);
        }
    }

    #[test]
    fn output_of_the_wrong_length_is_refused() {
        assert_eq!(decode(b"Zm9v", &mut [0; 2]), None);
        assert_eq!(decode(b"Zm9v", &mut [0; 4]), None);
    }

    proptest! {
        #![proptest_config(crate::token::claims::tests::config(5_000))]

        /// Mostly alphabet characters, with some from the standard alphabet, padding,
        /// separators and non-ASCII thrown in, at every length modulo 4.
        #[test]
        fn agrees_with_the_base64_crate_on_alphabet_heavy_strings(
            input in "[A-Za-z0-9_-]{0,64}([A-Za-z0-9_+/=. \u{e9}-]{0,3})[A-Za-z0-9_-]{0,6}"
        ) {
            prop_assert_eq!(ours(input.as_bytes()), theirs(input.as_bytes()));
        }

        #[test]
        fn agrees_with_the_base64_crate_on_arbitrary_bytes(
            input in proptest::collection::vec(any::<u8>(), 0..48)
        ) {
            prop_assert_eq!(ours(&input), theirs(&input));
        }

        #[test]
        fn round_trips_every_byte_string(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert_eq!(ours(encoded.as_bytes()), Some(bytes));
        }
    }
}
