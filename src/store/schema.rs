//! The tables, as diesel sees them on both backends (see migrations/).

diesel::table! {
    developers (id) {
        id -> BigInt,
        name -> Text,
        email -> Text,
        key_hash -> Text,
        key_prefix -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> BigInt,
        name -> Text,
        billing_email -> Text,
        time_zone -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    locations (id) {
        id -> BigInt,
        account_id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    keys (id) {
        id -> BigInt,
        account_id -> BigInt,
        developer_id -> BigInt,
        key_hash -> Text,
        key_prefix -> Text,
        label -> Text,
        permissions -> Text,
        status -> Text,
        location_id -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    key_events (id) {
        id -> BigInt,
        key_id -> BigInt,
        kind -> Text,
        effective_at -> Timestamp,
        recorded_at -> Timestamp,
        permissions -> Nullable<Text>,
        location_id -> Nullable<BigInt>,
        disabled_by -> Nullable<Text>,
        actor -> Text,
        note -> Text,
    }
}

diesel::table! {
    list_prices (id) {
        id -> BigInt,
        item -> Text,
        monthly_price_cents -> BigInt,
        effective_from -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    account_prices (id) {
        id -> BigInt,
        account_id -> BigInt,
        item -> Text,
        monthly_price_cents -> BigInt,
        effective_from -> Date,
        created_at -> Timestamp,
    }
}

diesel::table! {
    staff (id) {
        id -> BigInt,
        email -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    staff_tokens (id) {
        id -> BigInt,
        staff_id -> BigInt,
        token_hash -> Text,
        token_prefix -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        object_type -> Text,
        object_id -> Nullable<BigInt>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
    }
}

diesel::table! {
    bill_runs (id) {
        id -> BigInt,
        month -> Text,
        account_id -> Nullable<BigInt>,
        actor -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        accounts_billed -> BigInt,
        invoices_created -> BigInt,
        invoices_changed -> BigInt,
        invoices_unchanged -> BigInt,
        total_cents -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> BigInt,
        account_id -> BigInt,
        month -> Text,
        status -> Text,
        number -> Nullable<Text>,
        currency -> Text,
        total_cents -> BigInt,
        paid_cents -> BigInt,
        inputs_digest -> Text,
        revision -> BigInt,
        changes_json -> Nullable<Text>,
        bill_run_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        issued_at -> Nullable<Timestamp>,
        paid_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        position -> BigInt,
        location_id -> BigInt,
        location_name -> Text,
        item -> Text,
        monthly_price_cents -> BigInt,
        days -> BigInt,
        days_in_month -> BigInt,
        periods -> Text,
        amount_cents -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        amount_cents -> BigInt,
        paid_at -> Timestamp,
        recorded_at -> Timestamp,
        actor -> Text,
    }
}

diesel::table! {
    credit_notes (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        number -> Text,
        amount_cents -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    number_series (series) {
        series -> Text,
        last_value -> BigInt,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        kind -> Text,
        message_id -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        invoice_id -> Nullable<BigInt>,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(locations -> accounts (account_id));
diesel::joinable!(keys -> accounts (account_id));
diesel::joinable!(keys -> developers (developer_id));
diesel::joinable!(key_events -> keys (key_id));
diesel::joinable!(account_prices -> accounts (account_id));
diesel::joinable!(staff_tokens -> staff (staff_id));
diesel::joinable!(invoices -> accounts (account_id));
diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(payments -> invoices (invoice_id));
diesel::joinable!(credit_notes -> invoices (invoice_id));

diesel::allow_tables_to_appear_in_same_query!(
    developers,
    accounts,
    locations,
    keys,
    key_events,
    list_prices,
    account_prices,
    staff,
    staff_tokens,
    audit_log,
    bill_runs,
    invoices,
    invoice_lines,
    payments,
    credit_notes,
    number_series,
    outbox,
    key_changes,
    key_usage,
    staff_sessions,
    portal_users,
    portal_tokens,
    portal_sessions,
    disputes,
);

diesel::table! {
    key_changes (id) {
        id -> BigInt,
        key_id -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    key_usage (key_id, day) {
        key_id -> BigInt,
        day -> Date,
        allowed -> BigInt,
        denied -> BigInt,
        throttled -> BigInt,
        unauthorized -> BigInt,
    }
}

diesel::joinable!(key_changes -> keys (key_id));
diesel::joinable!(key_usage -> keys (key_id));

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Text,
        staff_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(staff_sessions -> staff (staff_id));

diesel::table! {
    portal_users (id) {
        id -> BigInt,
        account_id -> BigInt,
        email -> Text,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    portal_tokens (token_hash) {
        token_hash -> Text,
        portal_user_id -> BigInt,
        purpose -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    portal_sessions (token_hash) {
        token_hash -> Text,
        portal_user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(portal_users -> accounts (account_id));
diesel::joinable!(portal_tokens -> portal_users (portal_user_id));
diesel::joinable!(portal_sessions -> portal_users (portal_user_id));

diesel::table! {
    disputes (id) {
        id -> BigInt,
        invoice_id -> BigInt,
        account_id -> BigInt,
        portal_user_id -> BigInt,
        line_position -> Nullable<BigInt>,
        message -> Text,
        created_at -> Timestamp,
        answer -> Nullable<Text>,
        answered_by -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(disputes -> invoices (invoice_id));
