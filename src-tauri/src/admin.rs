//! The admin view's commands: staff accounts, waiting-room boards, the
//! clinic's settings, and a patient's access report (the audit trail).
//! Each is one request to the clinic server as the signed-in admin (the
//! server checks the role); none works offline, and none while locked.

use crate::error::{CmdResult, CommandError};
use crate::shell::Shell;
use frontdesk_protocol::api::{
    AuditRow, ChangeStaff, NewStaff, RenameDisplay, ResetPassword, StaffAccount, UpdateClinic,
};
use frontdesk_protocol::records::{Display, Tenant};
use reqwest::Method;
use serde_json::Value;
use tauri::{Manager, State};

fn body<T: serde::Serialize>(v: &T) -> CmdResult<Option<Value>> {
    serde_json::to_value(v)
        .map(Some)
        .map_err(|e| CommandError::new("internal", e.to_string()))
}

/// Every staff account, active or not.
#[tauri::command]
pub async fn admin_staff(shell: State<'_, Shell>) -> CmdResult<Vec<StaffAccount>> {
    let h = shell.unlocked_engine().await?;
    Ok(h.admin(Method::GET, "/api/admin/users", &[], None).await?)
}

/// Adds an account with a role and a first password.
#[tauri::command]
pub async fn admin_add_staff(staff: NewStaff, shell: State<'_, Shell>) -> CmdResult<StaffAccount> {
    let h = shell.unlocked_engine().await?;
    let b = body(&staff)?;
    Ok(h.admin(Method::POST, "/api/admin/users", &[], b).await?)
}

/// Deactivates an account (its sessions end at once) or reactivates it.
#[tauri::command]
pub async fn admin_set_active(
    id: String,
    active: bool,
    shell: State<'_, Shell>,
) -> CmdResult<StaffAccount> {
    let h = shell.unlocked_engine().await?;
    let b = body(&ChangeStaff { active })?;
    let path = format!("/api/admin/users/{id}");
    Ok(h.admin(Method::PATCH, &path, &[], b).await?)
}

/// Gives an account a new password (its sessions end).
#[tauri::command]
pub async fn admin_reset_password(
    id: String,
    password: String,
    shell: State<'_, Shell>,
) -> CmdResult<()> {
    let h = shell.unlocked_engine().await?;
    let b = body(&ResetPassword { password })?;
    let path = format!("/api/admin/users/{id}/password");
    let _: Value = h.admin(Method::PUT, &path, &[], b).await?;
    Ok(())
}

/// The clinic's waiting-room boards.
#[tauri::command]
pub async fn admin_boards(shell: State<'_, Shell>) -> CmdResult<Vec<Display>> {
    let h = shell.unlocked_engine().await?;
    Ok(h.admin(Method::GET, "/api/displays", &[], None).await?)
}

/// Renames a board.
#[tauri::command]
pub async fn admin_rename_board(
    id: String,
    name: String,
    shell: State<'_, Shell>,
) -> CmdResult<Display> {
    let h = shell.unlocked_engine().await?;
    let b = body(&RenameDisplay { name })?;
    let path = format!("/api/displays/{id}");
    Ok(h.admin(Method::PATCH, &path, &[], b).await?)
}

/// Revokes a board: its screen goes blank and its token stops working.
#[tauri::command]
pub async fn admin_revoke_board(id: String, shell: State<'_, Shell>) -> CmdResult<()> {
    let h = shell.unlocked_engine().await?;
    let path = format!("/api/displays/{id}");
    let _: Value = h.admin(Method::DELETE, &path, &[], None).await?;
    Ok(())
}

/// The clinic's settings (lock time, sync window).
#[tauri::command]
pub async fn admin_clinic(shell: State<'_, Shell>) -> CmdResult<Tenant> {
    let h = shell.unlocked_engine().await?;
    Ok(h.admin(Method::GET, "/api/admin/clinic", &[], None).await?)
}

/// Changes the clinic's settings (what is left out stays).
#[tauri::command]
pub async fn admin_change_clinic(
    change: UpdateClinic,
    shell: State<'_, Shell>,
) -> CmdResult<Tenant> {
    let h = shell.unlocked_engine().await?;
    let b = body(&change)?;
    Ok(h.admin(Method::PATCH, "/api/admin/clinic", &[], b).await?)
}

/// Who reached one patient's data, how, when and from where.
#[tauri::command]
pub async fn access_report(patient: String, shell: State<'_, Shell>) -> CmdResult<Vec<AuditRow>> {
    let h = shell.unlocked_engine().await?;
    let query = [("patient_id", patient)];
    Ok(h.admin(Method::GET, "/api/audit", &query, None).await?)
}

/// Saves a patient's access report as CSV in the user's downloads folder
/// (owner-only: it names the patient's id and who saw them); returns where.
#[tauri::command]
pub async fn export_access_report(patient: String, shell: State<'_, Shell>) -> CmdResult<String> {
    let h = shell.unlocked_engine().await?;
    let query = [
        ("patient_id", patient.clone()),
        ("format", "csv".to_owned()),
    ];
    let csv = h.admin_text("/api/audit", &query).await?;
    let dir = shell
        .app
        .path()
        .download_dir()
        .or_else(|_| shell.app.path().home_dir())
        .map_err(|e| CommandError::new("io", format!("no folder to save in: {e}")))?;
    let safe: String = patient
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let day = chrono::Utc::now().date_naive();
    let path = dir.join(format!("access-report-{safe}-{day}.csv"));
    write_owner_only(&path, csv.as_bytes())
        .map_err(|e| CommandError::new("io", format!("saving {}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
