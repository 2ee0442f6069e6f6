// The Diesel view of `migrations/`. Kept by hand (diesel_cli needs libpq); the tests in
// `crates/integration-tests` read and write every table through it, so a drift fails there.

diesel::table! {
    use diesel::sql_types::*;

    photomatons (id) {
        id -> Integer,
        name -> Text,
        hostname -> Text,
        tailscale_ip -> Nullable<Inet>,
        router_tailscale_ip -> Nullable<Inet>,
        mac_address -> Nullable<MacAddr>,
        wake_target -> Nullable<Text>,
        router_connected -> Bool,
        pc_connected -> Bool,
        last_seen -> Nullable<Timestamptz>,
        paper_capacity -> Integer,
        remaining_prints -> Integer,
        warning_threshold -> Integer,
        critical_threshold -> Integer,
        last_print_update -> Nullable<Timestamptz>,
        agent_key_sha256 -> Nullable<Text>,
        agent_key_created_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        paper_reset_at -> Nullable<Timestamptz>,
        paper_reset_prints -> Nullable<Integer>,
        speed_test_requested_at -> Nullable<Timestamptz>,
        agent_backlog -> Nullable<BigInt>,
        agent_version -> Nullable<Text>,
        agent_seen_at -> Nullable<Timestamptz>,
        printer_name -> Nullable<Text>,
        printer_state -> Nullable<Text>,
        printer_detail -> Nullable<Text>,
        printer_observed_at -> Nullable<Timestamptz>,
        probed_at -> Nullable<Timestamptz>,
        paper_observed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use boom_contracts::vocabulary::sql::EventStatus;

    events (id) {
        id -> Integer,
        notion_page_id -> Text,
        photomaton_id -> Nullable<Integer>,
        client_name -> Text,
        event_type -> Nullable<Text>,
        event_date -> Nullable<Timestamptz>,
        album_name -> Nullable<Text>,
        notion_url -> Nullable<Text>,
        notion_data -> Jsonb,
        notion_last_edited -> Nullable<Timestamptz>,
        total_sessions -> BigInt,
        total_photos -> BigInt,
        total_digital -> BigInt,
        total_prints -> BigInt,
        total_gifs -> BigInt,
        status -> EventStatus,
        synced_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        window_start -> Nullable<Timestamptz>,
        window_end -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use boom_contracts::vocabulary::sql::MediaType;

    photos (id) {
        id -> BigInt,
        event_id -> Nullable<Integer>,
        photomaton_id -> Integer,
        batch_id -> Nullable<Uuid>,
        media_type -> MediaType,
        count -> Integer,
        timestamp -> Timestamptz,
        metadata -> Nullable<Jsonb>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    speed_tests (id) {
        id -> BigInt,
        photomaton_id -> Integer,
        download_speed -> Double,
        upload_speed -> Double,
        ping -> Double,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use boom_contracts::vocabulary::sql::UserRole;

    users (id) {
        id -> Integer,
        username -> Text,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        infomaniak_id -> Nullable<Text>,
        role -> UserRole,
        password_hash -> Text,
        preferred_language -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        fleet_view -> Text,
        password_login -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    audit_logs (id) {
        id -> BigInt,
        user_id -> Nullable<Integer>,
        username -> Nullable<Text>,
        action -> Text,
        resource -> Text,
        resource_id -> Nullable<Integer>,
        details -> Nullable<Jsonb>,
        ip_address -> Nullable<Inet>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    ingest_batches (photomaton_id, batch_id) {
        photomaton_id -> Integer,
        batch_id -> Uuid,
        media_count -> Integer,
        received_at -> Timestamptz,
        committed_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    paper_levels (id) {
        id -> BigInt,
        photomaton_id -> Integer,
        at -> Timestamptz,
        remaining -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    agent_commands (id) {
        id -> Uuid,
        photomaton_id -> Integer,
        command -> Text,
        status -> Text,
        output -> Nullable<Text>,
        exit_code -> Nullable<Integer>,
        requested_by -> Nullable<Integer>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    dead_letters (id) {
        id -> BigInt,
        stream -> Text,
        subject -> Text,
        photomaton_id -> Nullable<Integer>,
        payload -> Bytea,
        reason -> Text,
        deliveries -> BigInt,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    refused_lines (id) {
        id -> BigInt,
        photomaton_id -> Integer,
        batch_id -> Uuid,
        line_index -> Integer,
        reason -> Text,
        line -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    alerts (id) {
        id -> Uuid,
        seq -> BigInt,
        kind -> Text,
        photomaton_id -> Nullable<Integer>,
        state -> Text,
        message -> Text,
        opened_at -> Timestamptz,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledged_by -> Nullable<Integer>,
        acknowledged_by_name -> Nullable<Text>,
        resolved_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    notification_channels (id) {
        id -> Uuid,
        user_id -> Integer,
        kind -> Text,
        target -> Text,
        alert_kinds -> Array<Text>,
        quiet_from -> Nullable<Time>,
        quiet_to -> Nullable<Time>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    alert_mutes (id) {
        id -> Uuid,
        photomaton_id -> Nullable<Integer>,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        reason -> Nullable<Text>,
        created_by -> Nullable<Integer>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    alert_deliveries (delivery_id) {
        delivery_id -> Text,
        alert_id -> Uuid,
        transition -> Text,
        channel_id -> Uuid,
        channel_kind -> Text,
        target -> Text,
        state -> Text,
        attempts -> Integer,
        error -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    photomaton_alert_delays (photomaton_id) {
        photomaton_id -> Integer,
        down_after_secs -> Nullable<Integer>,
        silent_after_secs -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    connectivity_changes (id) {
        id -> BigInt,
        photomaton_id -> Integer,
        at -> Timestamptz,
        router_connected -> Bool,
        pc_connected -> Bool,
    }
}

diesel::joinable!(connectivity_changes -> photomatons (photomaton_id));
diesel::joinable!(notification_channels -> users (user_id));
diesel::joinable!(alert_mutes -> photomatons (photomaton_id));
diesel::joinable!(agent_commands -> photomatons (photomaton_id));
diesel::joinable!(events -> photomatons (photomaton_id));
diesel::joinable!(paper_levels -> photomatons (photomaton_id));
diesel::joinable!(photos -> events (event_id));
diesel::joinable!(photos -> photomatons (photomaton_id));
diesel::joinable!(speed_tests -> photomatons (photomaton_id));
diesel::joinable!(audit_logs -> users (user_id));
diesel::joinable!(ingest_batches -> photomatons (photomaton_id));
diesel::joinable!(refused_lines -> photomatons (photomaton_id));
diesel::joinable!(alerts -> photomatons (photomaton_id));

diesel::allow_tables_to_appear_in_same_query!(
    photomatons,
    events,
    photos,
    speed_tests,
    users,
    audit_logs,
    ingest_batches,
    paper_levels,
    agent_commands,
    dead_letters,
    refused_lines,
    notification_channels,
    alert_mutes,
    alert_deliveries,
    photomaton_alert_delays,
    alerts,
    connectivity_changes,
);
