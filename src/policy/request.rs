//! Parsing `VERB PATH[?QUERY]` into resource, optional id and optional Action.

use std::fmt;

/// The HTTP verb of an API request. The table names only GET, POST, PUT and DELETE;
/// the other three always fall back to `AllOthers`. Any other method is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
}

impl Verb {
    /// Case-insensitive: `put` and `PUT` are the same verb.
    pub fn parse(s: &str) -> Option<Verb> {
        const VERBS: [(&str, Verb); 7] = [
            ("GET", Verb::Get),
            ("POST", Verb::Post),
            ("PUT", Verb::Put),
            ("DELETE", Verb::Delete),
            ("PATCH", Verb::Patch),
            ("HEAD", Verb::Head),
            ("OPTIONS", Verb::Options),
        ];
        VERBS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, v)| *v)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
            Verb::Patch => "PATCH",
            Verb::Head => "HEAD",
            Verb::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API request reduced to what the policy needs. Borrowed from the input: parsing
/// allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub verb: Verb,
    /// As sent (matched case-insensitively).
    pub resource: &'a str,
    /// All digits.
    pub id: Option<&'a str>,
    /// As sent (matched case-insensitively).
    pub action: Option<&'a str>,
}

/// Why a request line is not an API request keybill can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("empty request")]
    Empty,
    #[error("unknown HTTP method")]
    Verb,
    #[error("the path must start with /")]
    NotAbsolute,
    #[error("the request is too long")]
    TooLong,
    #[error("empty path segment (// or a trailing /)")]
    EmptySegment,
    #[error("dot segment in the path")]
    DotSegment,
    #[error("percent-encoded characters in the path")]
    PercentEncoded,
    #[error("unexpected character in the path")]
    Character,
    #[error("only API version v1 is served")]
    Version,
    #[error("no resource in the path")]
    NoResource,
    #[error("the path does not have the shape /resource[/id][/Action]")]
    Shape,
}

/// Longest request line (verb, path and query) keybill reads.
pub const MAX_REQUEST_LEN: usize = 4096;

impl<'a> Request<'a> {
    /// Parses `VERB PATH[?QUERY]` (one space between verb and path).
    pub fn parse_line(line: &'a str) -> Result<Request<'a>, Malformed> {
        let line = line.trim();
        if line.is_empty() {
            return Err(Malformed::Empty);
        }
        let (verb, target) = line.split_once(' ').ok_or(Malformed::Shape)?;
        Request::parse(verb, target.trim_start())
    }

    /// Parses a verb and a raw request target (`/api/v1/appointments/5/Break?x=1`).
    pub fn parse(verb: &str, target: &'a str) -> Result<Request<'a>, Malformed> {
        if verb.is_empty() && target.is_empty() {
            return Err(Malformed::Empty);
        }
        let verb = Verb::parse(verb).ok_or(Malformed::Verb)?;
        if target.len() > MAX_REQUEST_LEN {
            return Err(Malformed::TooLong);
        }
        let path = match target.bytes().position(|b| b == b'?') {
            Some(q) => &target[..q],
            None => target,
        };
        let rest = path.strip_prefix('/').ok_or(if path.is_empty() {
            Malformed::NoResource
        } else {
            Malformed::NotAbsolute
        })?;
        if rest.is_empty() {
            return Err(Malformed::NoResource);
        }
        // At most: api / v1 / resource / id / Action, and nothing after.
        let mut segments: [&str; 5] = [""; 5];
        let mut count = 0;
        for segment in rest.split('/') {
            check_segment(segment)?;
            if count == segments.len() {
                return Err(Malformed::Shape);
            }
            segments[count] = segment;
            count += 1;
        }
        let mut segs = &segments[..count];
        if segs[0].eq_ignore_ascii_case("api") {
            match segs.get(1) {
                Some(v) if v.eq_ignore_ascii_case("v1") => segs = &segs[2..],
                _ => return Err(Malformed::Version),
            }
        }
        let (resource, tail) = segs.split_first().ok_or(Malformed::NoResource)?;
        if !is_word(resource) {
            return Err(Malformed::Shape);
        }
        let (id, action) = match tail {
            [] => (None, None),
            [one] if is_id(one) => (Some(*one), None),
            [one] if is_word(one) => (None, Some(*one)),
            [id, action] if is_id(id) && is_word(action) => (Some(*id), Some(*action)),
            _ => return Err(Malformed::Shape),
        };
        Ok(Request {
            verb,
            resource,
            id,
            action,
        })
    }
}

/// Rejects the segment forms that smuggle paths past a gateway before the shape check,
/// so the reason names the real problem.
fn check_segment(segment: &str) -> Result<(), Malformed> {
    if segment.is_empty() {
        return Err(Malformed::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(Malformed::DotSegment);
    }
    if segment.contains('%') {
        return Err(Malformed::PercentEncoded);
    }
    if !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::Character);
    }
    Ok(())
}

/// A resource or Action: a letter, then letters and digits.
fn is_word(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} /{}", self.verb, self.resource)?;
        if let Some(id) = self.id {
            write!(f, "/{id}")?;
        }
        if let Some(action) = self.action {
            write!(f, "/{action}")?;
        }
        Ok(())
    }
}
