fn main() {
    // The config lives at the repository root; the app's own commands get
    // permissions (`allow-<command>`) that capabilities grant per window.
    let commands = &[
        "startup",
        "sign_in",
        "logout",
        "lock",
        "change_password",
        "admin_staff",
        "admin_add_staff",
        "admin_set_active",
        "admin_reset_password",
        "admin_boards",
        "admin_rename_board",
        "admin_revoke_board",
        "admin_clinic",
        "admin_change_clinic",
        "access_report",
        "export_access_report",
        "unlock",
        "desk_state",
        "act",
        "typing",
        "set_dnd",
        "viewing",
        "focus",
        "activity",
        "dismiss",
        "load_older",
        "day_view",
        "outbox",
        "thread_messages",
        "week_view",
        "search_patients",
        "patient",
        "register_patient",
        "slots",
        "next_slots",
        "resend",
        "subscribe",
        "startup_painted",
        "display_status",
        "display_setup",
        "display_subscribe",
    ];
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    tauri_build::try_build(attributes).expect("tauri build script");
}
