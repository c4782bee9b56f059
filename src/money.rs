//! Money: integer cents at rest, `rust_decimal` for arithmetic, one rounding rule.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// An amount of US dollars, exact to the cent. Keybill bills in one currency (USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// The one rounding rule for money: to the cent, half away from zero.
pub const ROUNDING: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    /// The exact decimal value (`14.00`).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Rounds an exact amount to the cent by [`ROUNDING`].
    /// `None` when it does not fit in i64 cents.
    pub fn round(amount: Decimal) -> Option<Money> {
        Money::from_whole_cents(amount.round_dp_with_strategy(2, ROUNDING))
    }

    /// The largest amount of whole cents not above `amount` (for allocating remainders).
    pub fn floor(amount: Decimal) -> Option<Money> {
        Money::from_whole_cents(
            amount.round_dp_with_strategy(2, RoundingStrategy::ToNegativeInfinity),
        )
    }

    fn from_whole_cents(rounded: Decimal) -> Option<Money> {
        let cents = rounded.checked_mul(Decimal::ONE_HUNDRED)?;
        i64::try_from(cents.trunc()).ok().map(Money)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Money {
    /// Two decimals, no currency sign: `14.00`, `-0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Why a text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an amount like 15.00")]
    Syntax(String),
    #[error("`{0}` has more than two decimals")]
    Precision(String),
    #[error("`{0}` is out of range")]
    Range(String),
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Accepts `15`, `15.5`, `15.50`, `-3.00`; refuses fractions of a cent, exponents,
    /// thousands separators and anything that is not a plain decimal.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        if !plain {
            return Err(MoneyError::Syntax(s.to_owned()));
        }
        if frac.len() > 2 {
            return Err(MoneyError::Precision(s.to_owned()));
        }
        let d = Decimal::from_str(t).map_err(|_| MoneyError::Range(s.to_owned()))?;
        Money::round(d).ok_or_else(|| MoneyError::Range(s.to_owned()))
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    /// From a string (`"14.00"`) as the contract writes money.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_two_decimals() {
        assert_eq!("15".parse::<Money>().unwrap().to_string(), "15.00");
        assert_eq!("15.5".parse::<Money>().unwrap().cents(), 1550);
        assert_eq!("-0.05".parse::<Money>().unwrap().to_string(), "-0.05");
        assert_eq!(Money::from_cents(-5).to_string(), "-0.05");
        for bad in [
            "",
            "1.234",
            "1e3",
            "1,000",
            "abc",
            "1.",
            ".5",
            "--1",
            "NaN",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn rounds_half_away_from_zero() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(Money::round(d("0.005")).unwrap().cents(), 1);
        assert_eq!(Money::round(d("0.0049")).unwrap().cents(), 0);
        assert_eq!(Money::round(d("-0.005")).unwrap().cents(), -1);
        assert_eq!(Money::floor(d("0.019")).unwrap().cents(), 1);
    }
}
