//! TLS on both sides, with rustls (ring provider, chosen explicitly so that the process-wide
//! default provider, which other crates may set differently, does not matter).
//!
//! - Listener: certificate chain and key from PEM files, served through a resolver whose key can
//!   be swapped while the process runs; a background task re-reads the files when their
//!   modification time changes, so a renewed certificate is picked up without a restart (a broken
//!   new pair is logged and the old one kept). ALPN offers `h2` and `http/1.1`.
//! - Upstream: trust the system store or a given CA bundle, optionally present a client
//!   certificate, optionally override the SNI / verified name.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;

use crate::config::{ListenerTls, UpstreamTls};

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: bad PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no certificate found", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("{}: bad PEM", path.display()))?
        .ok_or_else(|| anyhow!("{}: no private key found", path.display()))
}

/// Loads a certificate chain and its key, checking that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let certs = read_certs(cert)?;
    let key_der = read_key(key)?;
    let ck = CertifiedKey::from_der(certs, key_der, &provider())
        .map_err(|e| anyhow!("{} / {}: {e}", cert.display(), key.display()))?;
    Ok(ck)
}

/// Serves whatever certificate is current; swapped by [`ReloadingCert::reload_if_changed`].
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl ReloadingCert {
    pub fn new(cfg: &ListenerTls) -> anyhow::Result<Arc<Self>> {
        let ck = load_certified_key(&cfg.cert_file, &cfg.key_file)?;
        Ok(Arc::new(ReloadingCert {
            cert_file: cfg.cert_file.clone(),
            key_file: cfg.key_file.clone(),
            current: RwLock::new((
                Arc::new(ck),
                mtime(&cfg.cert_file),
                mtime(&cfg.key_file),
            )),
        }))
    }

    /// Re-reads the files if either changed. Returns true when a new pair was installed.
    pub fn reload_if_changed(&self) -> bool {
        let (c, k) = (mtime(&self.cert_file), mtime(&self.key_file));
        {
            let cur = self.current.read().unwrap();
            if cur.1 == c && cur.2 == k {
                return false;
            }
        }
        match load_certified_key(&self.cert_file, &self.key_file) {
            Ok(ck) => {
                *self.current.write().unwrap() = (Arc::new(ck), c, k);
                tracing::info!(cert = %self.cert_file.display(), "listener certificate reloaded");
                true
            }
            Err(e) => {
                // Keep serving the previous pair; a half-written renewal must not take us down.
                // Remember the times so the error is logged once per change.
                let mut cur = self.current.write().unwrap();
                cur.1 = c;
                cur.2 = k;
                tracing::warn!("listener certificate not reloaded, keeping the previous one: {e:#}");
                false
            }
        }
    }

    pub(crate) async fn reload_loop(self: Arc<Self>, every: Duration, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => { self.reload_if_changed(); }
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap().0.clone())
    }
}

/// The listener's rustls configuration (ALPN h2 + http/1.1) and its reloadable certificate.
pub fn server_config(
    cfg: &ListenerTls,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, Arc<ReloadingCert>)> {
    let resolver = ReloadingCert::new(cfg)?;
    let mut sc = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(sc), resolver))
}

/// The rustls configuration for `https://` Marathons.
pub fn client_config(cfg: &UpstreamTls) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(ca) => {
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .with_context(|| format!("{}: unusable CA certificate", ca.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert_file, &cfg.client_key_file) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(read_certs(c)?, read_key(k)?)
            .map_err(|e| anyhow!("client certificate {}: {e}", c.display()))?,
        _ => builder.with_no_client_auth(),
    };
    Ok(config)
}
