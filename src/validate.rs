//! Validation at the edge: raw strings in, typed values or a field error out.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// Longest name or label keybill stores.
pub const MAX_NAME: usize = 200;

/// A trimmed, non-empty name of at most `MAX_NAME` characters without control characters.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME {
        return Err(Error::field(
            field,
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::field(field, "must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// Like [`name`] but may be empty.
pub fn label(field: &str, raw: &str) -> Result<String> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        name(field, raw)
    }
}

/// An email address: one `@`, something on both sides, no spaces or control
/// characters, at most 254 characters. Lowercased (addresses compare case-insensitively
/// in practice, and logins must not depend on case).
pub fn email(field: &str, raw: &str) -> Result<String> {
    let s = raw.trim();
    let bad = |why: &str| {
        Err(Error::field(
            field,
            format!("`{s}` is not an email address ({why})"),
        ))
    };
    if s.is_empty() {
        return Err(Error::field(field, "must not be empty"));
    }
    if s.len() > 254 {
        return bad("too long");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return bad("no @");
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return bad("expected name@domain");
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
    {
        return bad("invalid character");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return bad("invalid domain");
    }
    Ok(s.to_ascii_lowercase())
}

/// An IANA time zone name (`America/Chicago`), exactly as the tz database spells it.
pub fn time_zone(raw: &str) -> Result<Tz> {
    raw.trim().parse::<Tz>().map_err(|_| {
        Error::invalid(
            "invalid_time_zone",
            format!("`{raw}` is not an IANA time zone"),
        )
    })
}

/// An RFC 3339 instant.
pub fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::field(
                field,
                format!("`{raw}` is not an RFC 3339 instant like 2026-03-01T00:00:00Z"),
            )
        })
}

/// A `YYYY-MM-DD` date.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| Error::field(field, format!("`{raw}` is not a date like 2026-03-01")))
}

/// An instant for a ledger event: not in the future.
pub fn not_future(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if at > now {
        Err(Error::invalid(
            "effective_in_future",
            format!("effective_at {} is in the future", at.to_rfc3339()),
        ))
    } else {
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("e", " Admin@Example.COM ").unwrap(),
            "admin@example.com"
        );
        assert!(email("e", "admin@localhost").is_ok());
        for bad in [
            "", "a", "a@", "@b", "a@b@c", "a b@c", "a@b..c", "<a@b>", "a@.b",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_zones() {
        assert!(name("n", "  ").is_err());
        assert!(name("n", &"x".repeat(201)).is_err());
        assert!(name("n", "a\u{7}b").is_err());
        assert_eq!(name("n", " Smile Dental ").unwrap(), "Smile Dental");
        assert!(time_zone("America/Chicago").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(time_zone("america/chicago").is_err());
    }
}
