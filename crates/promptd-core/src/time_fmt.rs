//! Timestamps: stored as Unix milliseconds, shown as LiteLLM (pydantic) shows datetimes:
//! ISO 8601 UTC with `Z`, with microseconds only when they are non-zero.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2026-01-01T12:00:00Z` or `2026-01-01T12:00:00.123000Z`.
pub fn format_ms(ms: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000) else {
        return String::from("1970-01-01T00:00:00Z");
    };
    let frac = ms.rem_euclid(1000);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{:03}000Z", frac)
    }
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_have_no_fraction_and_others_have_microseconds() {
        assert_eq!(format_ms(1_767_268_800_000), "2026-01-01T12:00:00Z");
        assert_eq!(format_ms(1_767_268_800_123), "2026-01-01T12:00:00.123000Z");
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T12:00:00.123Z"),
            Some(1_767_268_800_123)
        );
    }
}
