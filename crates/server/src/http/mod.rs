//! The REST API: routes, extractors, and the shared mutation path.

mod admin_routes;
mod auth_routes;
mod booking_routes;
mod desk_routes;
pub mod extract;
pub mod mutate;
mod sync_routes;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};

/// All `/api` routes, with the body limit applied.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_payload as usize;
    Router::new()
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/auth/login", post(auth_routes::login))
        .route("/api/auth/refresh", post(auth_routes::refresh))
        .route("/api/auth/logout", post(auth_routes::logout))
        .route("/api/auth/password", post(admin_routes::change_own))
        .route(
            "/api/admin/users",
            get(admin_routes::list).post(admin_routes::add),
        )
        .route("/api/admin/users/{id}", patch(admin_routes::change))
        .route(
            "/api/admin/clinic",
            get(admin_routes::clinic).patch(admin_routes::change_clinic),
        )
        .route("/api/audit", get(admin_routes::audit))
        .route(
            "/api/admin/users/{id}/password",
            axum::routing::put(admin_routes::reset_password),
        )
        .route("/api/snapshot", get(sync_routes::get_snapshot))
        .route("/api/events", get(sync_routes::get_events))
        .route("/api/board", get(sync_routes::get_board))
        .route(
            "/api/appointments",
            post(desk_routes::create_appointment).get(sync_routes::get_appointments),
        )
        .route(
            "/api/appointments/{id}",
            patch(desk_routes::update_appointment),
        )
        .route(
            "/api/patients",
            get(booking_routes::search_patients).post(booking_routes::register_patient),
        )
        .route(
            "/api/patients/{id}",
            get(booking_routes::get_patient).patch(booking_routes::correct_patient),
        )
        .route(
            "/api/providers/{id}/hours",
            get(booking_routes::get_hours).put(booking_routes::set_hours),
        )
        .route(
            "/api/providers/{id}/exceptions",
            post(booking_routes::add_exception),
        )
        .route(
            "/api/providers/{id}/exceptions/{exception}",
            delete(booking_routes::remove_exception),
        )
        .route(
            "/api/appointment-types",
            get(booking_routes::list_types).post(booking_routes::add_type),
        )
        .route(
            "/api/appointment-types/{id}",
            patch(booking_routes::change_type),
        )
        .route("/api/slots", get(booking_routes::get_slots))
        .route("/api/slots/next", get(booking_routes::next_slots))
        .route("/api/queue", post(desk_routes::create_queue_entry))
        .route("/api/queue/call-next", post(desk_routes::call_next))
        .route("/api/queue/{id}", patch(desk_routes::update_queue_entry))
        .route("/api/threads", post(desk_routes::create_thread))
        .route(
            "/api/threads/{id}/messages",
            post(desk_routes::post_message).get(sync_routes::get_messages),
        )
        .route("/api/threads/{id}/read", post(desk_routes::mark_read))
        .route(
            "/api/displays",
            post(desk_routes::create_display).get(desk_routes::list_displays),
        )
        .route(
            "/api/displays/{id}",
            delete(desk_routes::revoke_display).patch(desk_routes::rename_display),
        )
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
