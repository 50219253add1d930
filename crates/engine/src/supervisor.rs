//! The connection supervisor as a pure state machine.
//!
//! It decides *what* to do (refresh the token, open the link, wait, give up);
//! the driver does it and reports back. States: offline → connecting → live,
//! then reconnecting (with backoff) after any loss, and signed-out when the
//! refresh token is refused. Rules it guarantees:
//! - a token check comes before every CONNECT (forced after a refusal);
//! - an `unauthorized` CONNECT refusal triggers exactly one forced refresh;
//!   a second one in a row signs out instead of looping on a dead token; a
//!   refusal that is the server's own failure waits out the backoff;
//! - a refresh refused by the server means signed-out, never a retry;
//! - the backoff starts over only when the session proved useful
//!   ([`Input::Healthy`]: the desk caught up, the board was read), not at
//!   CONNECT: a desk that connects and then cannot work (a full disk, a server
//!   failing every request) keeps backing off instead of reconnecting at once.

use crate::backoff::Backoff;
use crate::link::{Refusal, RefusalKind};
use rand::Rng;
use serde::Serialize;
use std::time::Duration;

/// The connection state shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    Offline,
    Connecting,
    Live,
    Reconnecting,
    SignedOut,
}

/// What happened, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Start connecting (after sign-in, or at launch with a stored login).
    Start,
    /// A fresh-enough access token is ready.
    TokenReady,
    /// Refreshing failed; `auth` is true when the server refused the refresh
    /// token (dead login), false for a network or server error.
    RefreshFailed { auth: bool, reason: String },
    /// The server accepted CONNECT.
    Connected,
    /// The server refused CONNECT.
    Refused(Refusal),
    /// The WebSocket could not be opened, or closed before CONNECT was answered.
    ConnectFailed { reason: String },
    /// A live link was lost (closed, errored, or silent too long).
    LinkLost { reason: String },
    /// The scheduled retry is due.
    RetryTimer,
    /// Retry now: the network came back or the machine woke up.
    RetryNow,
    /// The live session did what it is for (synced, board read): the next
    /// loss starts the backoff from the beginning.
    Healthy,
    /// The user signed out, or the app is stopping.
    Stop { sign_out: bool },
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish the new state, with a human-readable detail.
    Publish(ConnState, String),
    /// Make sure the access token is fresh; `force` refreshes even if it looks valid.
    EnsureToken { force: bool },
    /// Open the WebSocket and CONNECT with the current token.
    OpenLink,
    /// Close the current WebSocket, if any.
    CloseLink,
    /// Feed [`Input::RetryTimer`] after this delay (replacing any pending one).
    ScheduleRetry(Duration),
    /// Forget any pending retry.
    CancelRetry,
}

/// Supervisor state.
#[derive(Debug)]
pub struct Supervisor {
    state: ConnState,
    backoff: Backoff,
    /// Set after a refusal made us force a refresh; cleared when live.
    refreshed_after_refusal: bool,
}

impl Supervisor {
    /// A supervisor that retries with `backoff`.
    pub fn new(backoff: Backoff) -> Supervisor {
        Supervisor {
            state: ConnState::Offline,
            backoff,
            refreshed_after_refusal: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> ConnState {
        self.state
    }

    fn is_trying(&self) -> bool {
        matches!(self.state, ConnState::Connecting | ConnState::Reconnecting)
    }

    fn go(&mut self, next: ConnState, detail: impl Into<String>, actions: &mut Vec<Action>) {
        self.state = next;
        actions.push(Action::Publish(next, detail.into()));
    }

    fn retry_later(&mut self, reason: &str, rng: &mut impl Rng, actions: &mut Vec<Action>) {
        let delay = self.backoff.next_delay(rng);
        self.go(
            ConnState::Reconnecting,
            format!("{reason}; retrying in {:.1}s", delay.as_secs_f64()),
            actions,
        );
        actions.push(Action::ScheduleRetry(delay));
    }

    /// Handles one input and returns the actions to take. Inputs that make no
    /// sense in the current state (a late report from an old link) are ignored.
    pub fn handle(&mut self, input: Input, rng: &mut impl Rng) -> Vec<Action> {
        use ConnState::*;
        let mut out = Vec::new();
        match input {
            Input::Start => {
                if matches!(self.state, Offline | SignedOut) {
                    self.backoff.reset();
                    self.refreshed_after_refusal = false;
                    self.go(Connecting, "connecting", &mut out);
                    out.push(Action::EnsureToken { force: false });
                }
            }
            Input::TokenReady if self.is_trying() => out.push(Action::OpenLink),
            Input::RefreshFailed { auth: true, reason }
                if self.is_trying() || self.state == Live =>
            {
                out.push(Action::CancelRetry);
                out.push(Action::CloseLink);
                self.go(SignedOut, format!("signed out: {reason}"), &mut out);
            }
            Input::RefreshFailed {
                auth: false,
                reason,
            } if self.is_trying() => {
                self.retry_later(
                    &format!("could not refresh the session ({reason})"),
                    rng,
                    &mut out,
                );
            }
            Input::Connected if self.is_trying() => {
                self.refreshed_after_refusal = false;
                out.push(Action::CancelRetry);
                self.go(Live, "live", &mut out);
            }
            Input::Healthy if self.state == Live => self.backoff.reset(),
            Input::Refused(Refusal { kind, message }) if self.is_trying() => {
                out.push(Action::CloseLink);
                if kind == RefusalKind::Unavailable {
                    // The server failed, not our credentials: wait, don't refresh.
                    self.retry_later(
                        &format!("server could not accept the session ({message})"),
                        rng,
                        &mut out,
                    );
                } else if self.refreshed_after_refusal {
                    // Refused again with a token fresh from the server: the
                    // session is dead (user removed, tenant changed). Stop.
                    out.push(Action::CancelRetry);
                    self.go(
                        SignedOut,
                        format!("signed out: the server refused the session ({message})"),
                        &mut out,
                    );
                } else {
                    self.refreshed_after_refusal = true;
                    out.push(Action::CancelRetry);
                    out.push(Action::EnsureToken { force: true });
                }
            }
            Input::ConnectFailed { reason } if self.is_trying() => {
                out.push(Action::CloseLink);
                self.retry_later(&reason, rng, &mut out);
            }
            Input::LinkLost { reason } if self.state == Live => {
                out.push(Action::CloseLink);
                self.retry_later(&format!("connection lost ({reason})"), rng, &mut out);
            }
            Input::RetryTimer if self.state == Reconnecting => {
                out.push(Action::EnsureToken { force: false })
            }
            Input::RetryNow if self.state == Reconnecting => {
                out.push(Action::CancelRetry);
                out.push(Action::EnsureToken { force: false });
            }
            Input::Stop { sign_out } => {
                out.push(Action::CancelRetry);
                out.push(Action::CloseLink);
                let (next, why) = if sign_out {
                    (SignedOut, "signed out")
                } else {
                    (Offline, "stopped")
                };
                self.go(next, why, &mut out);
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn sup() -> (Supervisor, StdRng) {
        (
            Supervisor::new(Backoff::new(
                Duration::from_millis(500),
                Duration::from_secs(30),
            )),
            StdRng::seed_from_u64(42),
        )
    }

    fn published(actions: &[Action]) -> Option<ConnState> {
        actions.iter().rev().find_map(|a| match a {
            Action::Publish(s, _) => Some(*s),
            _ => None,
        })
    }

    fn retry_delay(actions: &[Action]) -> Option<Duration> {
        actions.iter().find_map(|a| match a {
            Action::ScheduleRetry(d) => Some(*d),
            _ => None,
        })
    }

    fn unauthorized(message: &str) -> Input {
        Input::Refused(Refusal {
            kind: RefusalKind::Unauthorized,
            message: message.into(),
        })
    }

    #[test]
    fn happy_path_checks_the_token_before_connecting() {
        let (mut s, mut r) = sup();
        let a = s.handle(Input::Start, &mut r);
        assert_eq!(
            a,
            [
                Action::Publish(Connecting, "connecting".into()),
                Action::EnsureToken { force: false }
            ]
        );
        assert_eq!(s.handle(Input::TokenReady, &mut r), [Action::OpenLink]);
        let a = s.handle(Input::Connected, &mut r);
        assert_eq!(published(&a), Some(Live));
        // Late or duplicate reports are ignored.
        assert!(s.handle(Input::TokenReady, &mut r).is_empty());
        assert!(s.handle(Input::RetryTimer, &mut r).is_empty());
        assert!(s.handle(Input::Start, &mut r).is_empty());
    }

    #[test]
    fn loss_backs_off_then_reconnects_with_a_token_check() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        s.handle(Input::TokenReady, &mut r);
        s.handle(Input::Connected, &mut r);
        let a = s.handle(
            Input::LinkLost {
                reason: "server closed".into(),
            },
            &mut r,
        );
        assert_eq!(a[0], Action::CloseLink);
        assert_eq!(published(&a), Some(Reconnecting));
        assert!(retry_delay(&a).unwrap() <= Duration::from_millis(500));
        assert_eq!(
            s.handle(Input::RetryTimer, &mut r),
            [Action::EnsureToken { force: false }]
        );
        s.handle(Input::TokenReady, &mut r);
        // Failing again grows the ceiling.
        let a = s.handle(
            Input::ConnectFailed {
                reason: "refused".into(),
            },
            &mut r,
        );
        assert!(retry_delay(&a).unwrap() <= Duration::from_secs(1));
        // Network back: retry at once.
        assert_eq!(
            s.handle(Input::RetryNow, &mut r),
            [Action::CancelRetry, Action::EnsureToken { force: false }]
        );
        s.handle(Input::TokenReady, &mut r);
        assert_eq!(published(&s.handle(Input::Connected, &mut r)), Some(Live));
    }

    #[test]
    fn a_refusal_refreshes_once_never_in_a_loop() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        s.handle(Input::TokenReady, &mut r);
        let a = s.handle(unauthorized("unauthorized: access token expired"), &mut r);
        assert_eq!(
            a,
            [
                Action::CloseLink,
                Action::CancelRetry,
                Action::EnsureToken { force: true }
            ]
        );
        s.handle(Input::TokenReady, &mut r);
        // Refused again with the fresh token: signed out, no second refresh, no retry.
        let a = s.handle(unauthorized("unauthorized: no such user"), &mut r);
        assert!(!a.contains(&Action::EnsureToken { force: true }));
        assert!(retry_delay(&a).is_none());
        assert_eq!(published(&a), Some(SignedOut));
    }

    #[test]
    fn a_server_failure_at_connect_backs_off_without_refreshing() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        s.handle(Input::TokenReady, &mut r);
        let a = s.handle(
            Input::Refused(Refusal::from_message("server error; try again")),
            &mut r,
        );
        assert!(
            !a.iter()
                .any(|x| matches!(x, Action::EnsureToken { force: true }))
        );
        assert!(retry_delay(&a).is_some());
        assert_eq!(published(&a), Some(Reconnecting));
        // After a success, an unauthorized refusal gets its one refresh again.
        s.handle(Input::RetryTimer, &mut r);
        s.handle(Input::TokenReady, &mut r);
        s.handle(Input::Connected, &mut r);
        s.handle(Input::LinkLost { reason: "x".into() }, &mut r);
        s.handle(Input::RetryTimer, &mut r);
        s.handle(Input::TokenReady, &mut r);
        assert!(
            s.handle(unauthorized("unauthorized: m"), &mut r)
                .contains(&Action::EnsureToken { force: true })
        );
    }

    #[test]
    fn a_dead_refresh_token_signs_out_and_stays_out() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        let a = s.handle(
            Input::RefreshFailed {
                auth: true,
                reason: "refresh token reused".into(),
            },
            &mut r,
        );
        assert_eq!(published(&a), Some(SignedOut));
        assert!(a.contains(&Action::CancelRetry));
        // Nothing brings it back but a new Start (a new sign-in).
        for i in [
            Input::RetryNow,
            Input::RetryTimer,
            Input::TokenReady,
            Input::Connected,
        ] {
            assert!(s.handle(i, &mut r).is_empty());
        }
        assert_eq!(published(&s.handle(Input::Start, &mut r)), Some(Connecting));
    }

    #[test]
    fn the_backoff_starts_over_only_once_the_session_proved_healthy() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        let mut ceilings = Vec::new();
        for _ in 0..4 {
            s.handle(Input::TokenReady, &mut r);
            s.handle(Input::Connected, &mut r);
            // Connected, but could not work: the delay keeps growing.
            s.handle(Input::LinkLost { reason: "x".into() }, &mut r);
            ceilings.push(s.backoff.attempts());
            s.handle(Input::RetryTimer, &mut r);
        }
        assert_eq!(ceilings, [1, 2, 3, 4]);
        s.handle(Input::TokenReady, &mut r);
        s.handle(Input::Connected, &mut r);
        s.handle(Input::Healthy, &mut r);
        s.handle(Input::LinkLost { reason: "x".into() }, &mut r);
        assert_eq!(s.backoff.attempts(), 1);
    }

    #[test]
    fn a_network_refresh_failure_retries() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        let a = s.handle(
            Input::RefreshFailed {
                auth: false,
                reason: "connection refused".into(),
            },
            &mut r,
        );
        assert_eq!(published(&a), Some(Reconnecting));
        assert!(retry_delay(&a).is_some());
    }

    #[test]
    fn stop_and_sign_out() {
        let (mut s, mut r) = sup();
        s.handle(Input::Start, &mut r);
        assert_eq!(
            published(&s.handle(Input::Stop { sign_out: false }, &mut r)),
            Some(Offline)
        );
        s.handle(Input::Start, &mut r);
        assert_eq!(
            published(&s.handle(Input::Stop { sign_out: true }, &mut r)),
            Some(SignedOut)
        );
    }

    #[test]
    fn random_inputs_never_panic_and_keep_invariants() {
        let (mut s, mut r) = sup();
        let mut pick = StdRng::seed_from_u64(9);
        for _ in 0..20_000 {
            let input = match pick.random_range(0..12) {
                0 => Input::Start,
                1 => Input::TokenReady,
                2 => Input::RefreshFailed {
                    auth: pick.random_bool(0.1),
                    reason: "r".into(),
                },
                3 => Input::Connected,
                4 => Input::Refused(Refusal::from_message(if pick.random_bool(0.5) {
                    "unauthorized: m"
                } else {
                    "m"
                })),
                5 => Input::ConnectFailed { reason: "c".into() },
                6 => Input::LinkLost { reason: "l".into() },
                7 => Input::RetryTimer,
                8 => Input::RetryNow,
                9 => Input::Stop {
                    sign_out: pick.random_bool(0.5),
                },
                10 => Input::Healthy,
                _ => Input::Start,
            };
            let before = s.state();
            let actions = s.handle(input.clone(), &mut r);
            if actions.contains(&Action::OpenLink) {
                assert!(matches!(before, Connecting | Reconnecting), "{input:?}");
            }
            if let Some(d) = retry_delay(&actions) {
                assert!(d <= Duration::from_secs(30));
            }
            if before == SignedOut && input != Input::Start && !matches!(input, Input::Stop { .. })
            {
                assert!(actions.is_empty(), "signed-out ignores {input:?}");
            }
        }
    }
}
