//! Instants as people and wire formats read them. The domain keeps time as
//! [`Millis`](super::entities::Millis); this writes one in the ISO 8601 form GitLab's API, hook
//! payloads and e-mails use, which the web pages show on hover too.

use super::entities::Millis;

/// `ms` in ISO 8601, UTC, with milliseconds (`2020-01-06T17:32:02.823Z`); `None` for an instant
/// chrono cannot represent.
pub fn iso8601_millis(ms: Millis) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::iso8601_millis;

    #[test]
    fn times_have_milliseconds_and_z() {
        assert_eq!(
            iso8601_millis(1_578_331_922_823).as_deref(),
            Some("2020-01-06T17:32:02.823Z")
        );
        assert_eq!(
            iso8601_millis(0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
    }
}
