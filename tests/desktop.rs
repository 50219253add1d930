//! A private desktop for one run of the real app: Xvfb, a D-Bus session bus
//! with an unlocked gnome-keyring, dunst as the notification server, and
//! tauri-driver (which starts WebKitWebDriver, which starts the app). The app
//! gets its own HOME and XDG folders, so runs share nothing.
//!
//! Only one desktop runs at a time ([`Desktop::start`] takes a lock): two
//! WebKit apps at once on a 2-core machine make every wait flaky.

use crate::{KeyringSession, WAIT};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// One running app on its own X display and session bus.
pub struct Desktop {
    pub web: Client,
    keyring: KeyringSession,
    children: Processes,
    _watchdog: std::sync::mpsc::Sender<()>,
    _home: tempfile::TempDir,
    display: String,
    home: PathBuf,
    port: u16,
    app: PathBuf,
    args: Vec<String>,
    _turn: MutexGuard<'static, ()>,
}

/// The built `frontdesk` app binary of this build profile: beside the running
/// binary (a benchmark in `target/release`) or one folder up (a test in
/// `target/debug/deps`).
pub fn app_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let app = [
        dir.join("frontdesk"),
        dir.parent().unwrap().join("frontdesk"),
    ]
    .into_iter()
    .find(|p| p.exists());
    app.unwrap_or_else(|| {
        panic!(
            "no frontdesk app beside {}: build it first (cargo build -p frontdesk-app, as scripts/test.sh does)",
            exe.display()
        )
    })
}

/// `tauri-driver` from PATH or cargo's bin folder.
fn tauri_driver() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tauri-driver"))
        .find(|p| p.exists());
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin/tauri-driver"));
    from_path.or(cargo_bin.filter(|p| p.exists())).expect(
        "tauri-driver is installed (cargo install --locked tauri-driver, as scripts/setup.sh does)",
    )
}

/// Where screenshots go: `e2e-screenshots` in cargo's target folder (the
/// ancestor of this binary holding `CACHEDIR.TAG`).
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").exists())
        .or_else(|| exe.ancestors().nth(3))
        .unwrap()
        .to_path_buf();
    let dir = target.join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Xvfb on a display number it picks itself (`-displayfd`), so stale
/// locks and sockets from killed runs never get in the way.
fn start_xvfb() -> (Child, String) {
    use std::io::BufRead;
    let mut child = Command::new("Xvfb")
        .process_group(0)
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1366x900x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (package xvfb) is installed");
    let mut line = String::new();
    let out = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("Xvfb reports its display");
    let n: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not start (it printed {line:?})"));
    (child, format!(":{n}"))
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Desktop {
    /// Starts the desktop and the app with `args` (a fresh profile each time).
    pub async fn start(args: &[&str]) -> Desktop {
        Desktop::start_app(&app_path(), args, LONGEST_TEST).await
    }

    /// Starts the desktop and `app` with `args`; after `longest` the watchdog
    /// stops the app, so no WebDriver call can wait forever.
    pub async fn start_app(app: &Path, args: &[&str], longest: Duration) -> Desktop {
        let turn = ONE_AT_A_TIME.lock().await;
        let home = tempfile::tempdir().unwrap();
        // No sound card here: the display's chime plays into ALSA's null device.
        std::fs::write(
            home.path().join(".asoundrc"),
            "pcm.!default { type null }\nctl.!default { type hw card 0 }\n",
        )
        .unwrap();
        let (xvfb, display) = start_xvfb();
        let keyring = KeyringSession::start();
        // Owned from the start, so a failed start still stops what it began.
        let mut children = Processes(vec![xvfb]);
        let env = |c: &mut Command| desktop_env(c, &display, home.path(), &keyring);
        let mut dunst = Command::new("dunst");
        env(&mut dunst);
        dunst.process_group(0);
        children.0.push(
            dunst
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dunst is installed"),
        );
        let port = free_port();
        let native = free_port();
        let mut driver = Command::new(tauri_driver());
        env(&mut driver);
        // Its own process group: WebKitWebDriver and the app die with it.
        driver.process_group(0);
        children.0.push(
            driver
                .args([
                    "--port",
                    &port.to_string(),
                    "--native-port",
                    &native.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("tauri-driver starts"),
        );
        wait_port(port);
        // tauri-driver forwards to WebKitWebDriver, which starts a moment
        // later: a session asked for before it listens is dropped.
        wait_port(native);
        let watchdog = watchdog(children.0.last().map(Child::id).unwrap_or(0), longest);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let web = connect(port, app, &args).await;
        let desktop = Desktop {
            web,
            keyring,
            children,
            _watchdog: watchdog,
            display,
            home: home.path().to_path_buf(),
            _home: home,
            port,
            app: app.to_path_buf(),
            args,
            _turn: turn,
        };
        desktop.wait_notification_server();
        desktop
    }

    fn wait_notification_server(&self) {
        let deadline = Instant::now() + WAIT;
        while self
            .dunstctl(&["count", "history"])
            .trim()
            .parse::<u32>()
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "dunst never answered on the session bus"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `dunstctl` on this desktop's session bus and returns its output.
    pub fn dunstctl(&self, args: &[&str]) -> String {
        let out = Command::new("dunstctl")
            .args(args)
            .env("DISPLAY", &self.display)
            .envs(self.keyring.env())
            .output()
            .expect("dunstctl is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a notification whose summary or body contains `text` has
    /// been shown: closes what dunst shows, so it lands in `dunstctl history`,
    /// and reads the history.
    pub async fn wait_notification(&self, text: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            self.dunstctl(&["close-all"]);
            let history: Value =
                serde_json::from_str(&self.dunstctl(&["history"])).unwrap_or(Value::Null);
            let found = history["data"][0].as_array().and_then(|items| {
                items.iter().find(|n| {
                    ["summary", "body"]
                        .iter()
                        .any(|k| n[k]["data"].as_str().is_some_and(|s| s.contains(text)))
                })
            });
            if let Some(n) = found {
                return n.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no notification containing {text:?}; history: {history}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until an element matching `css` exists and returns it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.web
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} in the app: {e}"))
    }

    /// The visible text of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self
            .web
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
        {
            out.push(e.text().await.unwrap_or_default());
        }
        out
    }

    /// Opens the message thread whose title contains `title`.
    pub async fn open_thread(&self, title: &str) {
        for b in self
            .web
            .find_all(Locator::Css("[data-testid=messages] button"))
            .await
            .unwrap()
        {
            if b.text().await.unwrap_or_default().contains(title) {
                b.click().await.unwrap();
            }
        }
    }

    /// Waits until the texts of `css` satisfy `cond`, describing it as `what`.
    pub async fn wait_texts(&self, css: &str, what: &str, cond: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts = self.texts(css).await;
            if cond(&texts) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!("timed out waiting for {what}; {css} shows {texts:?}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Switches WebDriver to the app window showing `[data-testid=<view>]`
    /// (the app may have a main window and a display window).
    pub async fn switch_to_view(&self, view: &str) {
        let css = format!("[data-testid={view}]");
        let deadline = Instant::now() + WAIT;
        loop {
            for handle in self.web.windows().await.unwrap_or_default() {
                if self.web.switch_to_window(handle).await.is_ok()
                    && !self
                        .web
                        .find_all(Locator::Css(&css))
                        .await
                        .unwrap_or_default()
                        .is_empty()
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "no app window shows {css}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Fills the input named `name` with `value`.
    pub async fn fill(&self, name: &str, value: &str) {
        let input = self.find(&format!("input[name={name}]")).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Signs in through the form as `username` (password `demo`) of `demo`.
    pub async fn sign_in(&self, server: &str, username: &str) {
        self.switch_to_view("signin").await;
        self.fill("server", server).await;
        self.fill("tenant", "demo").await;
        self.fill("username", username).await;
        self.fill("password", "demo").await;
        self.screenshot("sign-in").await;
        self.find("[data-testid=signin] button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        self.wait_texts("[data-testid=connection]", "the Live badge", |t| {
            t.iter().any(|s| s.contains("Live"))
        })
        .await;
    }

    /// The text in a screenshot of the window (saved as `<name>.png`), as
    /// OCR reads it (tesseract): what someone looking at the screen sees.
    pub async fn screen_text(&self, name: &str) -> String {
        let path = self
            .screenshot(name)
            .await
            .unwrap_or_else(|| panic!("no screenshot {name}"));
        let out = Command::new("tesseract")
            .arg(&path)
            .arg("stdout")
            .stderr(Stdio::null())
            .output()
            .expect("tesseract (package tesseract-ocr) is installed");
        assert!(
            out.status.success(),
            "tesseract failed on {}",
            path.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Saves a PNG of the current window as `target/e2e-screenshots/<name>.png`
    /// and returns where (`None` if WebDriver could not take it).
    pub async fn screenshot(&self, name: &str) -> Option<PathBuf> {
        // WebKit's WebDriver screenshot waits for the page's next paint, and a
        // page where nothing changes (a board with no caret, no animation)
        // never paints again: a 1-pixel animation keeps frames coming while
        // the screenshot is taken.
        let _ = self
            .web
            .execute(
                "const d = document.createElement('div'); d.id = 'e2e-frames';
                 d.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none';
                 document.body.append(d);
                 let on = true;
                 (function tick() { if (!d.isConnected) return; d.style.opacity = (on = !on) ? '0.01' : '0.02'; requestAnimationFrame(tick); })();",
                vec![],
            )
            .await;
        let shot = self.web.screenshot().await;
        let _ = self
            .web
            .execute("document.getElementById('e2e-frames')?.remove()", vec![])
            .await;
        match shot {
            Ok(png) => {
                let path = screenshot_dir().join(format!("{name}.png"));
                std::fs::write(&path, png).unwrap();
                eprintln!("screenshot: {}", path.display());
                Some(path)
            }
            Err(e) => {
                eprintln!("screenshot {name} failed: {e}");
                None
            }
        }
    }

    /// Quits the app (ends the WebDriver session); the desktop, its profile and
    /// keyring stay, for [`Desktop::relaunch`] or [`Desktop::command`].
    pub async fn quit_app(&self) {
        let _ = self.web.clone().close().await;
    }

    /// Starts the app again under WebDriver, on the same profile.
    pub async fn relaunch(&mut self) {
        self.web = connect(self.port, &self.app, &self.args).await;
    }

    /// A command for a program on this desktop: its display, session bus,
    /// keyring, HOME and XDG folders (the app's profile), as the app gets them.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        desktop_env(&mut c, &self.display, &self.home, &self.keyring);
        c
    }

    /// Ends the WebDriver session (the app quits), then the desktop.
    pub async fn close(mut self) {
        let _ = self.web.clone().close().await;
        self.children.stop();
    }
}

/// A WebDriver call to an app that has died can wait forever. If the desktop
/// is still up after [`LONGEST_TEST`], this kills tauri-driver's process group
/// so the stuck call fails and the test reports it. Dropping the returned
/// sender (when the desktop goes) stands the watchdog down.
fn watchdog(driver_group: u32, longest: Duration) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(longest) {
            eprintln!("the app ran past {longest:?}: stopping it");
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{driver_group}")])
                .status();
        }
    });
    tx
}

/// A WebDriver session with `app` through the tauri-driver on `port`.
async fn connect(port: u16, app: &Path, args: &[String]) -> Client {
    let caps = json!({"tauri:options": {
        "application": app,
        "args": args,
    }});
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object")
    };
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(caps);
    let url = format!("http://127.0.0.1:{port}");
    // On a busy machine the first request can still find the driver not
    // ready (the connection is dropped without an answer): ask again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match tokio::time::timeout(Duration::from_secs(60), builder.connect(&url))
            .await
            .expect("the app started under tauri-driver within a minute")
        {
            Ok(client) => return client,
            Err(fantoccini::error::NewSessionError::Lost(e)) if attempts < 3 => {
                eprintln!("WebDriver session lost ({e}); asking again");
            }
            Err(fantoccini::error::NewSessionError::FailedC(e)) if attempts < 3 => {
                eprintln!("WebDriver session failed ({e}); asking again");
            }
            Err(e) => panic!("a WebDriver session with the app: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The environment of everything on a desktop: its X display, its own HOME
/// and XDG folders, the session bus with the keyring, UTC.
fn desktop_env(c: &mut Command, display: &str, home: &Path, keyring: &KeyringSession) {
    c.env("DISPLAY", display)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("NO_AT_BRIDGE", "1")
        .env("TZ", "UTC")
        .envs(keyring.env());
}

/// The most one app test may take, start to close.
const LONGEST_TEST: Duration = Duration::from_secs(180);

/// The desktop's processes, stopped when dropped.
struct Processes(Vec<Child>);

impl Processes {
    /// Stops them, last started first: SIGTERM to each one's process group
    /// (tauri-driver's holds WebKitWebDriver and the app; Xvfb removes its
    /// lock), then SIGKILL for anything still there.
    fn stop(&mut self) {
        let signal = |sig: &str, c: &Child| {
            let _ = Command::new("kill")
                .args([sig, "--", &format!("-{}", c.id())])
                .stderr(Stdio::null())
                .status();
        };
        for c in self.0.iter_mut().rev() {
            signal("-TERM", c);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            signal("-KILL", c);
            let _ = c.kill();
            let _ = c.wait();
        }
        self.0.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop();
    }
}
