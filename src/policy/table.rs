//! The API permission table, kept as data in `permission_table.txt` and indexed once.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::permission::Permission;
use super::request::{Request, Verb};

/// The repository's copy of the permission table, in the reference page's order.
pub const TABLE_SOURCE: &str = include_str!("permission_table.txt");

/// One method entry: `Appointments PUT Break` belongs to `Comm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub permission: Permission,
    /// As written in the table (PascalCase plural, e.g. `ProcedureLogs`).
    pub resource: String,
    pub verb: Verb,
    pub action: Option<String>,
}

impl Entry {
    /// The entry the way the reference page writes it: `Appointments PUT Break`.
    pub fn label(&self) -> String {
        match &self.action {
            Some(a) => format!("{} {} {}", self.resource, self.verb, a),
            None => format!("{} {}", self.resource, self.verb),
        }
    }
}

/// How the permission of a request was found: a table entry, or the fallback rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Step 1 or 2 of the contract's rule: this entry names the request.
    Entry(&'static Entry),
    /// Step 3: no entry names the request; GET needs ReadAll, anything else AllOthers.
    Fallback,
}

#[derive(Debug)]
pub struct Table {
    entries: Vec<Entry>,
    /// `resource \0 VERB \0 action`, all ASCII-lowercased (resource and action), to entry index.
    index: HashMap<Box<[u8]>, usize>,
}

/// Longest key we build on the stack; longer requests cannot match any entry.
const KEY_CAPACITY: usize = 96;

fn write_key(
    buf: &mut [u8; KEY_CAPACITY],
    resource: &str,
    verb: &str,
    action: &str,
) -> Option<usize> {
    let len = resource.len() + verb.len() + action.len() + 2;
    if len > KEY_CAPACITY {
        return None;
    }
    let mut at = 0;
    for (i, part) in [resource, verb, action].into_iter().enumerate() {
        if i > 0 {
            buf[at] = 0;
            at += 1;
        }
        for b in part.bytes() {
            buf[at] = b.to_ascii_lowercase();
            at += 1;
        }
    }
    Some(at)
}

impl Table {
    /// Parses the table text; the error names the first bad line. The file ships in the
    /// binary and a unit test parses it, so a bad edit fails the tests, not a customer.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (perm, resource, verb, action) = match fields.as_slice() {
                [p, r, v] => (*p, *r, *v, None),
                [p, r, v, a] => (*p, *r, *v, Some(*a)),
                _ => {
                    return Err(format!(
                        "line {}: expected `Permission Resource VERB [Action]`",
                        n + 1
                    ))
                }
            };
            let permission: Permission =
                perm.parse().map_err(|e| format!("line {}: {e}", n + 1))?;
            let verb =
                Verb::parse(verb).ok_or_else(|| format!("line {}: bad verb `{verb}`", n + 1))?;
            let mut key = [0u8; KEY_CAPACITY];
            let len = write_key(&mut key, resource, verb.as_str(), action.unwrap_or(""))
                .ok_or_else(|| format!("line {}: entry too long", n + 1))?;
            if index
                .insert(Box::from(&key[..len]), entries.len())
                .is_some()
            {
                return Err(format!("line {}: `{line}` is listed twice", n + 1));
            }
            entries.push(Entry {
                permission,
                resource: resource.to_owned(),
                verb,
                action: action.map(str::to_owned),
            });
        }
        Ok(Table { entries, index })
    }

    /// The table compiled into this binary.
    pub fn global() -> &'static Table {
        static TABLE: LazyLock<Table> =
            LazyLock::new(|| Table::parse(TABLE_SOURCE).expect("permission_table.txt is valid"));
        &TABLE
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn find(&self, resource: &str, verb: &str, action: &str) -> Option<&Entry> {
        let mut key = [0u8; KEY_CAPACITY];
        let len = write_key(&mut key, resource, verb, action)?;
        self.index.get(&key[..len]).map(|&i| &self.entries[i])
    }

    /// The permission a request needs and the rule that says so (CONTRACT section 2):
    /// an entry naming resource, verb and Action; for a request without an Action, an
    /// entry naming resource and verb; otherwise ReadAll for GET, AllOthers for the rest.
    /// An entry without an Action covers the collection and the single item only, so
    /// an unlisted Action falls back (the reference: "any method not listed").
    pub fn required(&'static self, request: &Request<'_>) -> (Permission, Rule) {
        let found = self.find(
            request.resource,
            request.verb.as_str(),
            request.action.unwrap_or(""),
        );
        match found {
            Some(entry) => (entry.permission, Rule::Entry(entry)),
            None if request.verb == Verb::Get => (Permission::ReadAll, Rule::Fallback),
            None => (Permission::AllOthers, Rule::Fallback),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_has_279_entries() {
        assert_eq!(Table::global().entries().len(), 279);
    }

    #[test]
    fn duplicates_and_bad_lines_are_refused() {
        assert!(
            Table::parse("Comm Appointments PUT Break\nSetup appointments PUT break\n")
                .unwrap_err()
                .contains("twice")
        );
        assert!(Table::parse("Comm Appointments\n").is_err());
        assert!(Table::parse("Nope Appointments PUT\n").is_err());
    }
}
