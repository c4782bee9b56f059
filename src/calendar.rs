//! Calendar months and local days in an account's time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year)).then_some(Month { year, month })
    }

    /// Strictly `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || format!("`{s}` is not a month like 2026-02");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Month::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).ok_or_else(bad)
    }

    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub const fn year(self) -> i32 {
        self.year
    }

    pub const fn month(self) -> u32 {
        self.month
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().expect("valid date")
    }

    /// How many days the month has (28 to 31).
    pub fn days(self) -> u32 {
        self.last_day().day()
    }

    /// The instant the month starts in `tz`.
    pub fn start(self, tz: Tz) -> DateTime<Utc> {
        day_start(self.first_day(), tz)
    }

    /// The instant the month ends in `tz` (the next month's start).
    pub fn end(self, tz: Tz) -> DateTime<Utc> {
        self.next().start(tz)
    }

    /// Has the month ended in `tz` at `now`?
    pub fn has_ended(self, tz: Tz, now: DateTime<Utc>) -> bool {
        now >= self.end(tz)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Month::parse(s)
    }
}

/// The instant a local day starts in `tz`: local midnight, or where midnight falls in
/// a daylight-saving gap, the moment the clocks jump (the first instant of that day).
pub fn day_start(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
        LocalResult::None => {
            // In the gap: the offset in force before it, applied to local midnight,
            // gives the transition instant.
            let before = tz
                .from_local_datetime(&(midnight - Duration::hours(6)))
                .earliest()
                .expect("six hours before a gap is a valid local time");
            let offset = chrono::Offset::fix(before.offset());
            (midnight - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

/// The local date of an instant in `tz`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let feb = Month::parse("2028-02").unwrap();
        assert_eq!(feb.days(), 29);
        assert_eq!(Month::parse("2026-02").unwrap().days(), 28);
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Month::parse("2026-01").unwrap().prev().to_string(),
            "2025-12"
        );
        for bad in ["2026-13", "2026-00", "26-01", "2026-1", "2026/01", "x"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_starts_across_zones_and_dst() {
        let chicago: Tz = "America/Chicago".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(); // DST ends at 02:00
        assert_eq!(
            day_start(d, chicago).to_rfc3339(),
            "2026-11-01T05:00:00+00:00"
        );
        assert_eq!(
            day_start(d.succ_opt().unwrap(), chicago).to_rfc3339(),
            "2026-11-02T06:00:00+00:00"
        );
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            day_start(d, tokyo).to_rfc3339(),
            "2026-10-31T15:00:00+00:00"
        );
        // Santiago skips midnight when DST starts (2026-09-06 00:00 -> 01:00).
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let gap = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = day_start(gap, santiago);
        assert_eq!(local_date(start, santiago), gap);
        assert_eq!(
            local_date(start - Duration::seconds(1), santiago),
            gap.pred_opt().unwrap()
        );
    }
}
