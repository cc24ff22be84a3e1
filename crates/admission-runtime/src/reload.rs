//! Hot reload of `proxy.toml`'s `[[quota]]`, `[[exemption]]` and `[[notify]]` entries: on SIGHUP,
//! and when the file's content changes (checked every [`POLL`]).
//!
//! The whole file is validated as `serve --check-config` would (every table, with line numbers);
//! a file that does not validate is refused: the running quotas stay in force, the error is
//! logged, `config_reload_failures_total` counts it and `config_last_reload_success` drops to 0
//! until a good file is loaded. Other keys (listeners, upstreams, `[admission]`) take effect at the
//! next restart; a reload says so when they changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::notify::Notifier;
use super::quota_runtime::QuotaRuntime;

/// How often the file is checked for changes.
pub const POLL: Duration = Duration::from_millis(1000);

fn digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// The non-reloadable part of a configuration, for "needs a restart" notices.
fn restart_part(c: &proxy::ProxyConfig) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.listen, c.admin_listen, c.marathon, c.listener.tls.as_ref().map(|t| &t.cert_file), c.upstream.connect_timeout_ms,
        c.limits.max_write_body_bytes, c.runtime.worker_threads, c.admission
    )
}

/// Reads, validates and applies `path`. On error the running quotas stay in force.
pub fn reload_from(quotas: &QuotaRuntime, notifier: &Notifier, path: &Path, why: &str) -> Result<(), String> {
    let m = &quotas.metrics;
    match super::ServeConfig::load(path) {
        Ok(super::ServeConfig { proxy: config, quotas: set, notify, .. }) => {
            let (nq, ne) = (set.quota.len(), set.exemption.len());
            quotas.install(set);
            notifier.install(notify);
            m.reloads.inc();
            m.last_reload_success.set(1);
            let restart = quotas.loaded_restart_part.lock().unwrap().replace(restart_part(&config));
            if restart.is_some_and(|old| old != restart_part(&config)) {
                tracing::warn!(
                    file = %path.display(),
                    "configuration changed outside [[quota]] / [[exemption]] / [[notify]]: those changes take effect at the next restart"
                );
            }
            tracing::info!(file = %path.display(), trigger = why, quotas = nq, exemptions = ne, "configuration reloaded: quotas, exemptions and webhooks in force");
            Ok(())
        }
        Err(e) => {
            m.reload_failures.inc();
            m.last_reload_success.set(0);
            let msg = format!("{e:#}");
            tracing::error!(file = %path.display(), trigger = why, error = %msg, "configuration reload refused; the running configuration stays in force");
            Err(msg)
        }
    }
}

/// Watches `path` (SIGHUP and content changes) for as long as `quotas` lives.
pub fn spawn(quotas: &Arc<QuotaRuntime>, notifier: &Arc<Notifier>, path: PathBuf, config: &proxy::ProxyConfig) {
    *quotas.loaded_restart_part.lock().unwrap() = Some(restart_part(config));
    let weak: Weak<QuotaRuntime> = Arc::downgrade(quotas);
    let notifier = notifier.clone();
    tokio::spawn(async move {
        let mut seen = std::fs::read_to_string(&path).map(|t| digest(&t)).ok();
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "SIGHUP handler not installed; reload on file change only"))
            .ok();
        loop {
            #[cfg(unix)]
            let hup_fired = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup_fired = std::future::pending::<()>();
            let trigger = tokio::select! {
                _ = hup_fired => "SIGHUP",
                _ = tokio::time::sleep(POLL) => "file change",
            };
            let Some(quotas) = weak.upgrade() else { return };
            let now = std::fs::read_to_string(&path).map(|t| digest(&t)).ok();
            if trigger == "SIGHUP" || now != seen {
                seen = now;
                let path2 = path.clone();
                let (q, n) = (quotas.clone(), notifier.clone());
                let _ = tokio::task::spawn_blocking(move || reload_from(&q, &n, &path2, trigger)).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_refused_with_its_line_and_the_running_quotas_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        let quotas = QuotaRuntime::default();
        std::fs::write(&path, "[[quota]]\ngroup = \"/dev\"\nmax_apps = 3\n").unwrap();
        reload_from(&quotas, &Notifier::off(), &path, "test").unwrap();
        assert_eq!(quotas.set().quota.len(), 1);

        // `[[qouta]]` would disable every quota if it were ignored.
        std::fs::write(&path, "# quotas\n[[qouta]]\ngroup = \"/dev\"\nmax_apps = 30\n").unwrap();
        let e = reload_from(&quotas, &Notifier::off(), &path, "test").unwrap_err();
        assert!(e.contains("unknown table `qouta` at line 2; did you mean `quota`?"), "{e}");
        assert_eq!(quotas.set().quota.len(), 1, "the running quotas stay in force");
        assert_eq!(quotas.set().quota[0].max_apps, Some(3));
        assert_eq!(quotas.metrics.last_reload_success.get(), 0);
        assert_eq!(quotas.metrics.reload_failures.get(), 1);
    }

    #[tokio::test]
    async fn webhooks_are_reloaded_with_the_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.toml");
        let notifier = Notifier::start(Vec::new(), 0.8);
        std::fs::write(&path, "[[notify]]\nurl = \"http://127.0.0.1:9/hook\"\n").unwrap();
        let (q, n, p) = (Arc::new(QuotaRuntime::default()), notifier.clone(), path.clone());
        tokio::task::spawn_blocking(move || reload_from(&q, &n, &p, "test")).await.unwrap().unwrap();
        assert_eq!(notifier.webhooks(), ["127.0.0.1:9"]);
        // A bad entry is refused with the rest of the file: the running webhooks stay.
        std::fs::write(&path, "[[notify]]\nurl = \"http://127.0.0.2:9/hook\"\nretrys = 1\n").unwrap();
        let (q, n, p) = (Arc::new(QuotaRuntime::default()), notifier.clone(), path.clone());
        let e = tokio::task::spawn_blocking(move || reload_from(&q, &n, &p, "test")).await.unwrap().unwrap_err();
        assert!(e.contains("did you mean `retries`?"), "{e}");
        assert_eq!(notifier.webhooks(), ["127.0.0.1:9"]);
    }
}
