//! Emails: what keybill sends, rendered from templates (subject, text, HTML).

pub mod pdf;
pub mod sender;

use askama::Template;

use crate::money::Money;

/// An email ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `statement`, `reminder`, `invite`, `reset`.
    pub kind: &'static str,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One line of a statement, with its arithmetic.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub location: String,
    pub item: String,
    pub days: i64,
    pub days_in_month: i64,
    pub monthly_price: Money,
    pub periods: String,
    pub amount: Money,
}

/// What a statement shows.
#[derive(Debug, Clone)]
pub struct Statement {
    pub account_name: String,
    pub recipient: String,
    pub number: String,
    pub month: String,
    pub total: Money,
    pub lines: Vec<StatementLine>,
    pub portal_url: String,
    pub due_date: String,
}

#[derive(Template)]
#[template(path = "email/statement.txt")]
struct StatementText<'a> {
    s: &'a Statement,
}

#[derive(Template)]
#[template(path = "email/statement.html")]
struct StatementHtml<'a> {
    s: &'a Statement,
}

impl Statement {
    pub fn subject(&self) -> String {
        format!(
            "Statement {} for {}: ${} USD",
            self.number, self.month, self.total
        )
    }

    pub fn render(&self) -> OutgoingEmail {
        OutgoingEmail {
            kind: "statement",
            recipient: self.recipient.clone(),
            subject: self.subject(),
            text: StatementText { s: self }
                .render()
                .expect("statement text template renders"),
            html: StatementHtml { s: self }
                .render()
                .expect("statement HTML template renders"),
        }
    }
}

/// A one-time link for a practice admin: an invitation or a password reset.
pub struct LinkEmail {
    pub kind: &'static str,
    pub practice: String,
    pub recipient: String,
    pub link: String,
    pub invite: bool,
}

#[derive(Template)]
#[template(path = "email/link.txt")]
struct LinkText<'a> {
    e: &'a LinkEmail,
}

#[derive(Template)]
#[template(path = "email/link.html")]
struct LinkHtml<'a> {
    e: &'a LinkEmail,
}

impl LinkEmail {
    pub fn invite(practice: &str, recipient: &str, link: &str) -> LinkEmail {
        LinkEmail {
            kind: "invite",
            practice: practice.into(),
            recipient: recipient.into(),
            link: link.into(),
            invite: true,
        }
    }

    pub fn reset(practice: &str, recipient: &str, link: &str) -> LinkEmail {
        LinkEmail {
            kind: "reset",
            practice: practice.into(),
            recipient: recipient.into(),
            link: link.into(),
            invite: false,
        }
    }

    pub fn render(&self) -> OutgoingEmail {
        let subject = if self.invite {
            format!("Your billing portal for {}", self.practice)
        } else {
            format!("Reset your billing portal password ({})", self.practice)
        };
        OutgoingEmail {
            kind: self.kind,
            recipient: self.recipient.clone(),
            subject,
            text: LinkText { e: self }
                .render()
                .expect("link text template renders"),
            html: LinkHtml { e: self }
                .render()
                .expect("link HTML template renders"),
        }
    }
}

/// A reminder that an issued statement is past due.
pub struct Reminder {
    pub account_name: String,
    pub recipient: String,
    pub number: String,
    pub month: String,
    pub balance: Money,
    pub due_date: String,
    pub portal_url: String,
}

#[derive(Template)]
#[template(path = "email/reminder.txt")]
struct ReminderText<'a> {
    r: &'a Reminder,
}

#[derive(Template)]
#[template(path = "email/reminder.html")]
struct ReminderHtml<'a> {
    r: &'a Reminder,
}

impl Reminder {
    pub fn render(&self) -> OutgoingEmail {
        OutgoingEmail {
            kind: "reminder",
            recipient: self.recipient.clone(),
            subject: format!(
                "Reminder: statement {} for {} is past due (${} USD)",
                self.number, self.month, self.balance
            ),
            text: ReminderText { r: self }
                .render()
                .expect("reminder text template renders"),
            html: ReminderHtml { r: self }
                .render()
                .expect("reminder HTML template renders"),
        }
    }
}
