//! Effective-dated prices: which monthly price an item has on a local date.
//! Pure; the store loads the rows.

use chrono::NaiveDate;

use crate::money::Money;
use crate::policy::Item;

/// One effective-dated price: from `from` on (until a later one for the same item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedPrice {
    pub item: Item,
    pub from: NaiveDate,
    pub monthly: Money,
}

/// The list prices and one account's own prices.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    list: Vec<DatedPrice>,
    account: Vec<DatedPrice>,
}

fn latest(prices: &[DatedPrice], item: Item, on: NaiveDate) -> Option<Money> {
    prices
        .iter()
        .filter(|p| p.item == item && p.from <= on)
        .max_by_key(|p| p.from)
        .map(|p| p.monthly)
}

impl PriceBook {
    pub fn new(list: Vec<DatedPrice>, account: Vec<DatedPrice>) -> PriceBook {
        PriceBook { list, account }
    }

    /// The monthly price of `item` on local date `on`: the account's own price if it has
    /// one in effect, else the list price. Add-ons have no list price.
    pub fn monthly(&self, item: Item, on: NaiveDate) -> Option<Money> {
        latest(&self.account, item, on).or_else(|| latest(&self.list, item, on))
    }

    /// The account's own price only (add-ons must have one before they are granted).
    pub fn account_price(&self, item: Item, on: NaiveDate) -> Option<Money> {
        latest(&self.account, item, on)
    }

    pub fn list(&self) -> &[DatedPrice] {
        &self.list
    }

    pub fn account(&self) -> &[DatedPrice] {
        &self.account
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AddOn, Tier};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn account_prices_win_and_dates_pick_the_latest() {
        let std = Item::Tier(Tier::Standard);
        let book = PriceBook::new(
            vec![
                DatedPrice {
                    item: std,
                    from: d("2000-01-01"),
                    monthly: Money::from_cents(3000),
                },
                DatedPrice {
                    item: std,
                    from: d("2026-03-15"),
                    monthly: Money::from_cents(3300),
                },
            ],
            vec![DatedPrice {
                item: std,
                from: d("2026-06-01"),
                monthly: Money::from_cents(2500),
            }],
        );
        assert_eq!(
            book.monthly(std, d("2026-03-14")),
            Some(Money::from_cents(3000))
        );
        assert_eq!(
            book.monthly(std, d("2026-03-15")),
            Some(Money::from_cents(3300))
        );
        assert_eq!(
            book.monthly(std, d("2026-06-01")),
            Some(Money::from_cents(2500))
        );
        assert_eq!(
            book.monthly(Item::AddOn(AddOn::Enterprise), d("2026-06-01")),
            None
        );
    }
}
