//! The few clinic-server REST calls the benchmark makes.

use anyhow::{Context, bail, ensure};
use frontdesk_protocol::api::{IDEMPOTENCY_KEY_HEADER, TokenResponse};
use serde_json::{Value, json};

/// A logged-in REST client of one clinic-server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// The access token of the logged-in user.
    pub token: String,
}

impl Api {
    /// Logs in to tenant `demo` as `username` (password `demo`).
    pub async fn login(base: &str, username: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        let r = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"tenant": "demo", "username": username, "password": "demo"}))
            .send()
            .await
            .context("POST /api/auth/login")?;
        let status = r.status();
        if !status.is_success() {
            bail!("login as {username}: {status}: {}", r.text().await?);
        }
        let t: TokenResponse = r.json().await.context("login answer")?;
        Ok(Api {
            http,
            base: base.to_owned(),
            token: t.access_token,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = r.status();
        let body = r.text().await?;
        ensure!(status.is_success(), "GET {path}: {status}: {body}");
        serde_json::from_str(&body).with_context(|| format!("GET {path}: body"))
    }

    /// The tenant's newest event `seq` (`after` must be one the server still keeps).
    pub async fn latest_seq(&self, after: u64) -> anyhow::Result<u64> {
        let v = self
            .get(&format!("/api/events?after={after}&limit=1"))
            .await?;
        v["latest_seq"].as_u64().context("no latest_seq")
    }

    /// The snapshot, as JSON.
    pub async fn snapshot(&self) -> anyhow::Result<Value> {
        self.get("/api/snapshot").await
    }

    /// Id of the thread titled `title` (one the caller is a member of).
    pub async fn thread(&self, title: &str) -> anyhow::Result<String> {
        let snap = self.snapshot().await?;
        snap["threads"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["title"] == title))
            .and_then(|t| t["id"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("no thread {title:?} in the snapshot"))
    }

    /// Id and version of the last appointment of the snapshot.
    pub async fn some_appointment(&self) -> anyhow::Result<(String, u64)> {
        let snap = self.snapshot().await?;
        let a = snap["appointments"]
            .as_array()
            .and_then(|a| a.last())
            .context("no appointments in the snapshot")?;
        Ok((
            a["id"].as_str().context("appointment id")?.to_owned(),
            a["version"].as_u64().context("appointment version")?,
        ))
    }

    /// `PATCH /api/appointments/{id}` changing only the reason; one
    /// `appointment.updated` event for the whole tenant. Returns the new version.
    pub async fn set_reason(&self, id: &str, version: u64, reason: &str) -> anyhow::Result<u64> {
        let r = self
            .http
            .patch(format!("{}/api/appointments/{id}", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"version": version, "reason": reason}))
            .send()
            .await
            .context("PATCH /api/appointments")?;
        let status = r.status();
        let body = r.text().await?;
        ensure!(
            status.is_success(),
            "PATCH /api/appointments: {status}: {body}"
        );
        let v: Value = serde_json::from_str(&body)?;
        v["version"].as_u64().context("no version in the answer")
    }

    /// `POST /api/threads/{thread}/messages` with an idempotency key, as the
    /// desktop client sends it. Returns whether it was created.
    pub async fn post_message(&self, thread: &str, key: &str, body: &str) -> anyhow::Result<bool> {
        let r = self
            .http
            .post(format!("{}/api/threads/{thread}/messages", self.base))
            .bearer_auth(&self.token)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(&json!({"client_id": key, "body": body}))
            .send()
            .await
            .context("POST /api/threads/…/messages")?;
        let created = r.status() == reqwest::StatusCode::CREATED;
        // Read the body so the connection goes back to the pool.
        let _ = r.bytes().await;
        Ok(created)
    }
}

/// Triggers one broadcast on the Node reference server.
#[derive(Clone)]
pub struct NodeEmitter {
    http: reqwest::Client,
    base: String,
}

impl NodeEmitter {
    /// A client of the Node server at `base`.
    pub fn new(base: &str) -> anyhow::Result<NodeEmitter> {
        Ok(NodeEmitter {
            http: reqwest::Client::builder().no_proxy().build()?,
            base: base.to_owned(),
        })
    }

    /// `POST /emit`: the server emits `event(data)` to every socket.
    pub async fn emit(&self, event: &str, data: &Value) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/emit", self.base))
            .json(&json!({"event": event, "data": data}))
            .send()
            .await
            .context("POST /emit")?;
        let status = r.status();
        let body = r.text().await?;
        ensure!(status.is_success(), "POST /emit: {status}: {body}");
        Ok(())
    }

    /// `POST /gc`: a full garbage collection, so RSS reflects live objects.
    pub async fn gc(&self) -> anyhow::Result<()> {
        let r = self.http.post(format!("{}/gc", self.base)).send().await?;
        ensure!(r.status().is_success(), "POST /gc: {}", r.status());
        Ok(())
    }
}
