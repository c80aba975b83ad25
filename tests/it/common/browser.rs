//! A real headless Chromium for the web interface's end-to-end tests, driven over WebDriver:
//! Debian's `chromium` and `chromium-driver` (`CHROMIUM` / `CHROMEDRIVER` override the paths).
//! Each [`Browser`] runs its own chromedriver on a free loopback port, with a fresh profile, and
//! kills it when dropped. Without them a test skips with the reason printed, except under
//! `CI=true`, where it fails. Screenshots go to `target/tmp/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::poll::poll_until;

/// How long chromedriver may take to listen.
const DRIVER_START: Duration = Duration::from_secs(30);
/// How long a page may take to show what a test waits for.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

/// A Chromium under WebDriver; dropping it ends chromedriver (and the browser with it).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at `width`×`height`, or `None` (with the reason
    /// printed) when either is missing outside CI.
    pub async fn start_or_skip(width: u32, height: u32) -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (
            tool("CHROMIUM", "/usr/bin/chromium"),
            tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
        ) else {
            let why = "skipped: Chromium end-to-end tests need chromium and chromedriver \
                       (Debian packages chromium and chromium-driver)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}, and CI=true allows no skip");
            }
            eprintln!("{why}");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        use std::os::unix::process::CommandExt as _;
        // Its own process group, so dropping the browser kills chromedriver and every Chromium
        // process below it at once.
        let driver = Command::new(driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync", "--lang=en-US",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = None;
        let started = std::time::Instant::now();
        while browser.is_none() {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => browser = Some(c),
                Err(e) if started.elapsed() < DRIVER_START => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start a browser: {e}"),
            }
        }
        Some(Browser {
            client: browser.expect("browser"),
            driver,
            _profile: profile,
        })
    }

    /// Opens `url` and waits for its document to load.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    /// Types `text` into the input labelled `label` (its `<label for>`), after clearing it.
    pub async fn fill(&self, label: &str, text: &str) {
        let id = self.label_target(label).await;
        let input = self
            .client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("input #{id} of '{label}': {e}"));
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// The id the `<label>` reading `label` points at.
    pub async fn label_target(&self, label: &str) -> String {
        let v = self
            .js(
                "for (const l of document.querySelectorAll('label')) { \
                   if (l.textContent.trim() === arguments[0]) return l.htmlFor; } return null;",
                vec![json!(label)],
            )
            .await;
        v.as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| panic!("no label '{label}' pointing at an input"))
            .to_owned()
    }

    /// Clicks the first visible button (or submit input, or link) whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        self.click_in("body", text).await;
    }

    /// Chooses the option reading `option` in the select labelled `label`.
    pub async fn select(&self, label: &str, option: &str) {
        let id = self.label_target(label).await;
        let el = self.client.find(Locator::Id(&id)).await.expect("select");
        el.select_by_label(option)
            .await
            .unwrap_or_else(|e| panic!("option '{option}' of '{label}': {e}"));
    }

    /// Clicks the first visible button (or submit input, or link) reading `text` inside the
    /// first element matching `scope`. The element is marked by a script, found by WebDriver and
    /// clicked as a person would (so focus, default actions and the page's handlers all run).
    pub async fn click_in(&self, scope: &str, text: &str) {
        let found = self
            .js(
                "const root = document.querySelector(arguments[0]); if (!root) return false; \
                 for (const b of root.querySelectorAll('button, input[type=submit], a')) { \
                   const t = (b.textContent || b.value || '').trim(); \
                   if (t === arguments[1] && b.offsetParent !== null) { \
                     b.setAttribute('data-e2e-click', '1'); return true; } } \
                 return false;",
                vec![json!(scope), json!(text)],
            )
            .await;
        assert_eq!(
            found,
            json!(true),
            "no button '{text}' in {scope} on {}",
            self.url().await
        );
        let el = self
            .client
            .find(Locator::Css("[data-e2e-click='1']"))
            .await
            .expect("marked button");
        self.js(
            "document.querySelector(\"[data-e2e-click='1']\").removeAttribute('data-e2e-click');",
            vec![],
        )
        .await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click '{text}': {e}"));
    }

    /// The text of the first element matching `css` ("" when there is none).
    pub async fn text_of(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns what it returns.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.expect("script")
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits until the page's visible text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let found = poll_until(PAGE_WAIT, || async { self.text().await.contains(needle) }).await;
        let text = self.text().await;
        assert!(
            found,
            "'{needle}' never appeared on {}; the page says:\n{text}",
            self.url().await
        );
        text
    }

    /// Waits until `script` (run in the page) returns `true`.
    pub async fn wait_for_js(&self, what: &str, script: &str) {
        let found = poll_until(PAGE_WAIT, || async {
            self.client.execute(script, vec![]).await.ok() == Some(json!(true))
        })
        .await;
        assert!(
            found,
            "{what} never happened on {}; the page says:\n{}",
            self.url().await,
            self.text().await
        );
    }

    /// Saves a PNG of the window as `target/tmp/screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // SAFETY: signals the process group this browser's chromedriver leads.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
    }
}
