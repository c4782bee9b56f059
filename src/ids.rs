//! Typed ids: an `AccountId` cannot be passed where a `KeyId` is meant.

macro_rules! id_type {
    ($($name:ident => $what:literal),* $(,)?) => {$(
        #[doc = concat!("The id of ", $what, ".")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type! {
    DeveloperId => "a developer",
    AccountId => "an account (a practice)",
    LocationId => "a location (an office of an account)",
    KeyId => "a customer key",
    StaffId => "a staff member",
    InvoiceId => "an invoice",
}
