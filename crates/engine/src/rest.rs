//! The REST side of the protocol, over reqwest: login, refresh, snapshot,
//! replay pages, and sending outbox actions. Answers are sorted into what the
//! engine needs to decide (applied, conflict, refused, retry later, re-auth).

use crate::cache::outbox::Request;
use crate::error::{EngineError, Result};
use frontdesk_protocol::api::{
    AppointmentsPage, Board, CreateDisplay, DisplayToken, EventsPage, IDEMPOTENCY_KEY_HEADER,
    LoginRequest, MessagesPage, NewPatient, PatientDetails, PatientsPage, Problem, RefreshRequest,
    SlotsAnswer, Snapshot, TokenResponse,
};
use frontdesk_protocol::records::Patient;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// How an outbox action fared.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Applied (or applied before, for a repeated key); the server's answer.
    Applied(Value),
    /// `409`: the record changed; `current` is the server's version.
    Conflict {
        current: Option<Value>,
        problem: Box<Problem>,
    },
    /// Refused for good (`4xx` other than 401/409/429): invalid, forbidden, gone.
    Refused(Box<Problem>),
    /// The access token was not accepted: refresh and send again.
    Unauthorized,
    /// Try again later (network down, `5xx`, `429`).
    Later(String),
}

/// A replay page, or the news that the server no longer has that history.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    Page(EventsPage),
    /// `410`: take a snapshot.
    Gone,
}

/// REST client for one clinic server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// Refuses a server address that is not an `http(s)://host[:port]` URL, with
/// a message a person typing it into a form can act on.
pub fn check_server_address(base: &str) -> Result<()> {
    let hint = "give the server as a web address, like https://clinic.example:8443";
    let url = reqwest::Url::parse(base.trim())
        .map_err(|_| EngineError::Invalid(format!("{base:?} is not a server address: {hint}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(EngineError::Invalid(format!(
            "{base:?} is not a server address: {hint}"
        )));
    }
    Ok(())
}

impl Api {
    /// A client for `base` (`http://host:port` or `https://…`), trusting the
    /// system roots plus, if given, the CA certificates in `ca_file` (PEM).
    pub fn new(base: &str, ca_file: Option<&Path>) -> Result<Api> {
        check_server_address(base)?;
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("frontdesk-engine/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| EngineError::Invalid(format!("CA file {}: {e}", path.display())))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let http = b.build().map_err(|e| EngineError::Network(e.to_string()))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn problem(resp: reqwest::Response) -> Problem {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|_| Problem {
            kind: "unexpected".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail: Some(text.chars().take(300).collect()),
            current: None,
            retry_after: None,
            appointment: None,
            next_slots: None,
            candidates: None,
        })
    }

    async fn json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        if resp.status().is_success() {
            resp.json()
                .await
                .map_err(|e| EngineError::Invalid(format!("server answer: {e}")))
        } else {
            Err(EngineError::Server(Box::new(Self::problem(resp).await)))
        }
    }

    fn net(e: reqwest::Error) -> EngineError {
        EngineError::Network(e.to_string())
    }

    /// `POST /api/auth/login`.
    pub async fn login(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> Result<TokenResponse> {
        let body = LoginRequest {
            tenant: tenant.into(),
            username: username.into(),
            password: password.into(),
        };
        let resp = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&body)
            .send()
            .await
            .map_err(Self::net)?;
        Self::json(resp).await
    }

    /// `POST /api/auth/refresh`. A refusal (401) is [`EngineError::SignedOut`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse> {
        let body = RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        let resp = self
            .http
            .post(self.url("/api/auth/refresh"))
            .json(&body)
            .send()
            .await
            .map_err(Self::net)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let p = Self::problem(resp).await;
            return Err(EngineError::SignedOut(p.detail.unwrap_or(p.title)));
        }
        Self::json(resp).await
    }

    /// `POST /api/auth/logout` (best effort).
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        let body = RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        let resp = self
            .http
            .post(self.url("/api/auth/logout"))
            .json(&body)
            .send()
            .await
            .map_err(Self::net)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(EngineError::Server(Box::new(Self::problem(resp).await)))
        }
    }

    /// `GET /api/snapshot`.
    pub async fn snapshot(&self, token: &str) -> Result<Snapshot> {
        self.get_json(token, "/api/snapshot", &[]).await
    }

    /// `GET /api/board` with a display token.
    pub async fn board(&self, display_token: &str) -> Result<Board> {
        let resp = self
            .http
            .get(self.url("/api/board"))
            .bearer_auth(display_token)
            .send()
            .await
            .map_err(Self::net)?;
        Self::json(resp).await
    }

    /// `POST /api/displays` (admin): a new waiting-room board and its token.
    pub async fn create_display(&self, token: &str, req: &CreateDisplay) -> Result<DisplayToken> {
        let resp = self
            .http
            .post(self.url("/api/displays"))
            .bearer_auth(token)
            .json(req)
            .send()
            .await
            .map_err(Self::net)?;
        Self::json(resp).await
    }

    /// `GET /api/appointments?from=…&to=…&cursor=…`: a page of any days.
    pub async fn appointments(
        &self,
        token: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        cursor: Option<&str>,
    ) -> Result<AppointmentsPage> {
        let mut query = vec![("from", from.to_string()), ("to", to.to_string())];
        query.extend(cursor.map(|c| ("cursor", c.to_owned())));
        self.get_json(token, "/api/appointments", &query).await
    }

    /// `GET path?query` with the access token, as JSON.
    async fn get_json<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        Self::json(self.get(token, path, query).await?).await
    }

    /// `GET path?query` with the access token.
    async fn get(
        &self,
        token: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        self.http
            .get(self.url(path))
            .query(query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(Self::net)
    }

    /// An administration request: `method path?query` with `body` as JSON
    /// (changes carry a fresh idempotency key), its answer as `T` (`204`
    /// reads as `null`).
    pub async fn admin<T: DeserializeOwned>(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T> {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .query(query)
            .bearer_auth(token);
        if method != reqwest::Method::GET {
            req = req.header(IDEMPOTENCY_KEY_HEADER, uuid::Uuid::new_v4().to_string());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(Self::net)?;
        if resp.status() == StatusCode::NO_CONTENT {
            return serde_json::from_value(Value::Null)
                .map_err(|e| EngineError::Invalid(format!("server answer: {e}")));
        }
        Self::json(resp).await
    }

    /// `GET path?query` with the access token, as text (a CSV export).
    pub async fn get_text(
        &self,
        token: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<String> {
        let resp = self.get(token, path, query).await?;
        if !resp.status().is_success() {
            return Err(EngineError::Server(Box::new(Self::problem(resp).await)));
        }
        resp.text().await.map_err(Self::net)
    }

    /// `GET /api/patients?q=…&offset=…`: patients, best match first.
    pub async fn search_patients(&self, token: &str, q: &str, offset: u32) -> Result<PatientsPage> {
        let query = [("q", q.to_owned()), ("offset", offset.to_string())];
        self.get_json(token, "/api/patients", &query).await
    }

    /// `GET /api/patients/{id}`: a patient with their appointments.
    pub async fn patient(&self, token: &str, id: &str) -> Result<PatientDetails> {
        self.get_json(token, &format!("/api/patients/{id}"), &[])
            .await
    }

    /// `POST /api/patients` (with a fresh idempotency key, so a retry of
    /// this one call registers one patient).
    pub async fn register_patient(
        &self,
        token: &str,
        new: &NewPatient,
        key: &str,
    ) -> Result<Patient> {
        let resp = self
            .http
            .post(self.url("/api/patients"))
            .bearer_auth(token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(new)
            .send()
            .await
            .map_err(Self::net)?;
        Self::json(resp).await
    }

    /// `GET /api/slots?provider_id=…&from=…&to=…&length=…`.
    pub async fn slots(
        &self,
        token: &str,
        provider: Option<&str>,
        (from, to): (chrono::NaiveDate, chrono::NaiveDate),
        minutes: u32,
    ) -> Result<SlotsAnswer> {
        let mut query = vec![
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("length", minutes.to_string()),
        ];
        query.extend(provider.map(|p| ("provider_id", p.to_owned())));
        self.get_json(token, "/api/slots", &query).await
    }

    /// `GET /api/slots/next?length=…&after=…&limit=…[&provider_id=…]`.
    pub async fn next_slots(
        &self,
        token: &str,
        provider: Option<&str>,
        after: chrono::DateTime<chrono::Utc>,
        minutes: u32,
        limit: u32,
    ) -> Result<SlotsAnswer> {
        let mut query = vec![
            ("after", after.to_rfc3339()),
            ("length", minutes.to_string()),
            ("limit", limit.to_string()),
        ];
        query.extend(provider.map(|p| ("provider_id", p.to_owned())));
        self.get_json(token, "/api/slots/next", &query).await
    }

    /// `GET /api/threads/{thread}/messages?before=…`: older messages.
    pub async fn older_messages(
        &self,
        token: &str,
        thread: &str,
        before: Option<&str>,
    ) -> Result<MessagesPage> {
        let mut req = self
            .http
            .get(self.url(&format!("/api/threads/{thread}/messages")))
            .bearer_auth(token);
        if let Some(b) = before {
            req = req.query(&[("before", b)]);
        }
        let resp = req.send().await.map_err(Self::net)?;
        Self::json(resp).await
    }

    /// `GET /api/events?after=…&after_id=…&limit=…`.
    pub async fn events(
        &self,
        token: &str,
        after: u64,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Replay> {
        let mut query = vec![("after", after.to_string()), ("limit", limit.to_string())];
        if let Some(id) = after_id {
            query.push(("after_id", id.to_owned()));
        }
        let resp = self
            .http
            .get(self.url("/api/events"))
            .query(&query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(Self::net)?;
        if resp.status() == StatusCode::GONE {
            return Ok(Replay::Gone);
        }
        Self::json(resp).await.map(Replay::Page)
    }

    /// Sends one outbox action with its idempotency key.
    pub async fn send(&self, token: &str, req: &Request, key: &str) -> SendOutcome {
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(e) => return SendOutcome::Later(format!("bad method: {e}")),
        };
        let resp = self
            .http
            .request(method, self.url(&req.path))
            .bearer_auth(token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(&req.body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return SendOutcome::Later(e.to_string()),
        };
        let status = resp.status();
        if status.is_success() {
            return match resp.json().await {
                Ok(v) => SendOutcome::Applied(v),
                Err(e) => SendOutcome::Later(format!("unreadable answer: {e}")),
            };
        }
        match status {
            StatusCode::UNAUTHORIZED => SendOutcome::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => SendOutcome::Later("rate limited".into()),
            s if s.is_server_error() => SendOutcome::Later(format!("server error {s}")),
            StatusCode::CONFLICT => {
                let problem = Self::problem(resp).await;
                SendOutcome::Conflict {
                    current: problem.current.clone(),
                    problem: Box::new(problem),
                }
            }
            _ => SendOutcome::Refused(Box::new(Self::problem(resp).await)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_server_address;

    #[test]
    fn server_addresses_are_checked_before_anything_is_sent() {
        for good in [
            "http://127.0.0.1:8080",
            "https://clinic.example",
            "https://clinic.example:8443/",
        ] {
            assert!(check_server_address(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "clinic.example",
            "127.0.0.1:8080",
            "ftp://clinic",
            "http://",
            "https:// ",
        ] {
            let err = check_server_address(bad).expect_err(bad).to_string();
            assert!(err.contains("is not a server address"), "{bad}: {err}");
        }
    }
}
