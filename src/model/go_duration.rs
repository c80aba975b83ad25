//! Go's duration strings, as Gitea's push-mirror `interval` carries them: parsed as Go's
//! `time.ParseDuration` reads them (`8h0m0s`, `10m`, `1.5h`, `90s`, `0`; units `ns us µs ms s m h`)
//! into whole seconds, and written back as Go's `Duration.String()` writes whole seconds
//! (`8h0m0s`, `10m0s`, `45s`, `0s`). A sub-second remainder is dropped: a mirror's interval is
//! kept in seconds.

/// Why a duration string was refused, worded as Go's `time.ParseDuration` errors are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(pub String);

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Nanoseconds per unit, longest unit name first where one is a prefix of another.
const UNITS: [(&str, f64); 8] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// The longest duration Go can hold (about 292 years), in seconds.
const MAX_SECS: f64 = 9_223_372_036.0;

/// `text` as whole seconds (rounded down), Go's grammar: an optional sign, then one or more
/// decimal numbers each with a unit; a bare `0` is zero. Negative durations parse (Go allows
/// them); the caller decides whether they make sense.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError(format!("time: invalid duration {text:?}"));
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if unit.is_empty() {
            return Err(DurationError(format!(
                "time: missing unit in duration {text:?}"
            )));
        }
        let Some((_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError(format!(
                "time: unknown unit {unit:?} in duration {text:?}"
            )));
        };
        nanos += value * scale;
        rest = &rest[unit_len..];
    }
    let secs = (nanos / 1e9).floor();
    if secs > MAX_SECS {
        return Err(invalid());
    }
    Ok(if negative {
        -(secs as i64)
    } else {
        secs as i64
    })
}

/// Whole seconds as Go's `Duration.String()` writes them: `0s`, `45s`, `10m0s`, `8h0m0s`.
pub fn format_go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let secs = secs.unsigned_abs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_go_reads() {
        for (text, secs) in [
            ("8h0m0s", 28_800),
            ("8h", 28_800),
            ("10m", 600),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("90s", 90),
            ("0", 0),
            ("0s", 0),
            ("-5m", -300),
            ("+1m", 60),
            ("1500ms", 1),
            ("2m30.5s", 150),
            ("1h1m1s1ms1us1ns", 3661),
        ] {
            assert_eq!(parse_go_duration(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in [
            "",
            "h",
            "8",
            "1d",
            "1.2.3s",
            ".s",
            "abc",
            "1h 2m",
            "-",
            "99999999999h",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_go_duration("8").unwrap_err().to_string(),
            "time: missing unit in duration \"8\""
        );
    }

    #[test]
    fn writes_what_go_writes() {
        for (secs, text) in [
            (0, "0s"),
            (45, "45s"),
            (600, "10m0s"),
            (28_800, "8h0m0s"),
            (5461, "1h31m1s"),
            (-60, "-1m0s"),
        ] {
            assert_eq!(format_go_duration(secs), text);
            assert_eq!(parse_go_duration(text), Ok(secs));
        }
    }
}
