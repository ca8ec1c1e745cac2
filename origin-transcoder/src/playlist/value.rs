//! Attribute and tag values as RFC 8216bis §4.2 spells them: decimal seconds, dates and
//! quoted-strings. Written by hand, so that every byte of a playlist is decided here and the
//! crate needs no date or formatting dependency.

use core::fmt::{self, Write as _};
use core::time::Duration;

/// A duration rounded to whole microseconds, the precision every duration in our playlists is
/// written with. Comparisons that the RFC makes on written values (a part against the part
/// target, `EXTINF` against the target duration) are made on this, so they hold for the text a
/// client reads, not only for the exact value.
pub(crate) fn micros(d: Duration) -> u128 {
    (d.as_nanos() + 500) / 1000
}

/// Microseconds as decimal seconds with at least three decimals and at most six, trailing zeros
/// after the third dropped: `2_000_000` → `2.000`, `500_000` → `0.500`,
/// `2_005_333` → `2.005333`. A decimal-floating-point (§4.2), exact for every value it is given.
pub(crate) struct Seconds(pub(crate) u128);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000;
        let mut frac = self.0 % 1_000_000;
        let mut digits = 6;
        while digits > 3 && frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        write!(f, "{whole}.{frac:0digits$}")
    }
}

/// `round(x)` for `x` in microseconds, halves rounded up: the rounding RFC 8216bis §4.4.3.1
/// applies to `EXTINF` durations before comparing them with the target duration.
pub(crate) fn round_seconds(us: u128) -> u128 {
    (us + 500_000) / 1_000_000
}

/// An instant, Unix milliseconds, as an RFC 3339 date-time in UTC with milliseconds, the form
/// `EXT-X-PROGRAM-DATE-TIME` takes (§4.4.4.6: ISO 8601 with a time zone and fractional
/// seconds): `2026-01-01T00:00:00.000Z`. `None` past the year 9999, which RFC 3339's four-digit
/// year cannot write.
pub(crate) fn date_time(unix_ms: u64) -> Option<String> {
    let ms = unix_ms % 1000;
    let secs = unix_ms / 1000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    let mut out = String::with_capacity(24);
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
    .ok()?;
    Some(out)
}

/// The proleptic Gregorian date `days` days after 1970-01-01: Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>), for non-negative days only, so in
/// unsigned arithmetic. Eras are 400-year cycles of 146 097 days counted from 0000-03-01, which
/// puts the leap day at the end of each year of the cycle.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // 719 468 days from 0000-03-01 to 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Whether `text` can be written as a quoted-string (§4.2): no double quote, carriage return or
/// line feed, and (§4.1) no other control character either.
pub(crate) fn quotable(text: &str) -> bool {
    !text.chars().any(|c| c == '"' || c.is_control())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn seconds_keep_three_decimals_and_drop_further_trailing_zeros() {
        assert_eq!(Seconds(2_000_000).to_string(), "2.000");
        assert_eq!(Seconds(500_000).to_string(), "0.500");
        assert_eq!(Seconds(1_984_000).to_string(), "1.984");
        assert_eq!(Seconds(2_005_333).to_string(), "2.005333");
        assert_eq!(Seconds(2_005_330).to_string(), "2.00533");
        assert_eq!(Seconds(0).to_string(), "0.000");
        assert_eq!(Seconds(1).to_string(), "0.000001");
    }

    #[test]
    fn durations_are_rounded_to_the_nearest_microsecond() {
        assert_eq!(micros(Duration::from_nanos(2_005_333_333)), 2_005_333);
        assert_eq!(micros(Duration::from_nanos(1_499)), 1);
        assert_eq!(micros(Duration::from_nanos(1_500)), 2);
    }

    #[test]
    fn target_duration_rounding_takes_halves_up() {
        assert_eq!(round_seconds(2_499_999), 2);
        assert_eq!(round_seconds(2_500_000), 3);
        assert_eq!(round_seconds(1_984_000), 2);
    }

    #[test]
    fn dates_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(date_time(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            date_time(1_767_225_600_000).as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        // A leap day, and the last millisecond of a leap year.
        assert_eq!(
            date_time(951_782_400_123).as_deref(),
            Some("2000-02-29T00:00:00.123Z")
        );
        assert_eq!(
            date_time(1_735_689_599_999).as_deref(),
            Some("2024-12-31T23:59:59.999Z")
        );
        assert_eq!(
            date_time(253_402_300_799_999).as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(date_time(253_402_300_800_000), None);
    }

    #[test]
    fn quotes_line_breaks_and_controls_cannot_be_quoted() {
        assert!(quotable("English (AD)"));
        assert!(quotable("Français"));
        for bad in ["a\"b", "a\nb", "a\rb", "a\tb", "a\u{85}b"] {
            assert!(!quotable(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_date_reads_back_as_the_same_instant(ms in 0u64..253_402_300_800_000) {
            // Days back from the civil date, by the inverse algorithm (days_from_civil), so
            // that the formatter is checked against an independent computation.
            let text = date_time(ms).unwrap();
            let num = |r: core::ops::Range<usize>| text[r].parse::<u64>().unwrap();
            let (y, m, d) = (num(0..4), num(5..7), num(8..10));
            let (h, min, s, milli) = (num(11..13), num(14..16), num(17..19), num(20..23));
            let y_march = if m <= 2 { y - 1 } else { y };
            let era = y_march / 400;
            let yoe = y_march - era * 400;
            let mp = if m > 2 { m - 3 } else { m + 9 };
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            prop_assert_eq!(((days * 24 + h) * 60 + min) * 60 + s, ms / 1000);
            prop_assert_eq!(milli, ms % 1000);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d) && h < 24);
        }
    }
}
