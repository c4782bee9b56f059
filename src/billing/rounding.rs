//! Sharing a rounded total out to lines.

use rust_decimal::Decimal;

use crate::money::Money;

/// Rounds the sum of `exact` amounts by the money rule (half away from zero), then
/// shares it out: each amount rounded down to the cent, and the leftover cents one
/// each to the largest remainders (ties: the earlier amount). The result sums to the
/// rounded total and no amount moves by a cent or more from its exact value.
/// `None` on overflow.
pub fn allocate(exact: &[Decimal]) -> Option<Vec<Money>> {
    let sum = exact
        .iter()
        .try_fold(Decimal::ZERO, |acc, x| acc.checked_add(*x))?;
    let total = Money::round(sum)?;
    let mut amounts: Vec<Money> = exact
        .iter()
        .map(|x| Money::floor(*x))
        .collect::<Option<_>>()?;
    let floors: Money = amounts.iter().copied().sum();
    let leftover = usize::try_from((total - floors).cents()).ok()?;
    let mut order: Vec<usize> = (0..exact.len()).collect();
    // Stable sort: equal remainders keep their order (earlier line first).
    order.sort_by(|&a, &b| {
        let ra = exact[a] - amounts[a].to_decimal();
        let rb = exact[b] - amounts[b].to_decimal();
        rb.cmp(&ra)
    });
    for &i in order.iter().take(leftover) {
        amounts[i] = amounts[i].checked_add(Money::from_cents(1))?;
    }
    Some(amounts)
}
