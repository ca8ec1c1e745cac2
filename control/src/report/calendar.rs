//! Unix milliseconds as people read them: ISO 8601 UTC timestamps, clock labels for chart
//! axes and durations.
//!
//! The controller core reads no clock and has no date library: the proleptic Gregorian
//! conversion below is Howard Hinnant's `civil_from_days` (public domain, exact for every
//! date), which is all an ISO 8601 UTC timestamp needs.

/// Milliseconds in a day.
const DAY_MS: u64 = 86_400_000;

/// `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// `2026-11-22T20:15:05.250Z` (RFC 3339 profile of ISO 8601, UTC, milliseconds).
pub fn iso8601(at_ms: u64) -> String {
    let days = (at_ms / DAY_MS) as i64;
    let (year, month, day) = civil_from_days(days);
    let in_day = at_ms % DAY_MS;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// `2026-11-22 20:15:05 UTC`, for headings.
pub fn readable(at_ms: u64) -> String {
    let iso = iso8601(at_ms);
    // 2026-11-22T20:15:05.250Z → date and second, without the milliseconds.
    let date = iso.get(..10).unwrap_or_default();
    let time = iso.get(11..19).unwrap_or_default();
    format!("{date} {time} UTC")
}

/// `20:15` or `20:15:05` (UTC), for axis labels.
pub fn clock(at_ms: u64, seconds: bool) -> String {
    let in_day = at_ms % DAY_MS;
    let (h, m, s) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60);
    if seconds {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// `2 h 05 min`, `4 min 10 s`, `35 s`, `0.5 s`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else if ms >= 10_000 || ms.is_multiple_of(1000) {
        format!("{s} s")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_and_known_dates_format_as_iso_8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789.
        assert_eq!(iso8601(951_827_696_789), "2000-02-29T12:34:56.789Z");
        // 2026-11-22T20:15:05Z, and the last millisecond of 2024 (a leap year).
        assert_eq!(iso8601(1_795_378_505_000), "2026-11-22T20:15:05.000Z");
        assert_eq!(iso8601(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
        assert_eq!(iso8601(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn labels_and_durations_read_as_people_write_them() {
        assert_eq!(clock(1_795_378_505_000, false), "20:15");
        assert_eq!(clock(1_795_378_505_000, true), "20:15:05");
        assert_eq!(readable(1_795_378_505_250), "2026-11-22 20:15:05 UTC");
        assert_eq!(duration(7_500_000), "2 h 05 min");
        assert_eq!(duration(250_000), "4 min 10 s");
        assert_eq!(duration(35_000), "35 s");
        assert_eq!(duration(500), "0.5 s");
    }
}
