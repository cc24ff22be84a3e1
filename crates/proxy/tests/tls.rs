//! TLS on both sides: upstream verification (CA bundle, SNI name), the HTTPS listener with
//! HTTP/1.1 and HTTP/2 via ALPN, certificate reload without restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use proxy::test_util::*;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Replaces `path`'s content as a renewal does, dated a second after the content it replaces:
/// the proxy notices a renewal by its modification time, which a coarse filesystem clock could
/// otherwise leave unchanged.
fn renew(path: &Path, text: &str) {
    let before = std::fs::metadata(path).and_then(|m| m.modified()).unwrap();
    std::fs::write(path, text).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(before + Duration::from_secs(1)).unwrap();
}

/// What the proxy logs, kept for the test to read: the events that show what it did when
/// nothing else does.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Collects this thread's log events until the guard drops. `#[tokio::test]` runs the proxy's
    /// tasks on the test's own thread, so this sees them.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        tracing::subscriber::set_default(tracing_subscriber::fmt().with_ansi(false).with_writer(move || logs.clone()).finish())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn upstream_certificate_is_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca_and_leaf(&["marathon.test"]);
    let (other_ca, _, _) = make_ca_and_leaf(&["marathon.test"]);
    let m = fake_marathon("tls", Some(rustls_server_config(&cert, &key, &[b"http/1.1"]))).await;
    let url = format!("https://127.0.0.1:{}", m.addr.port());
    let c = client();

    // Right CA: through.
    let mut cfg = test_config(std::slice::from_ref(&url));
    cfg.upstream.tls.ca_file = Some(write(&dir, "ca.pem", &ca));
    let p = start_proxy(cfg).await;
    let (s, h, b) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-served-by"], "tls");
    assert_eq!(json(&b)["apps"].as_array().unwrap().len(), 3);
    // Connections are pooled: many requests, few connections (not asserted), all fine.
    for _ in 0..20 {
        assert_eq!(fetch(&c, get(&p.url("/ping"))).await.0, 200);
    }
    p.shutdown().await.unwrap();

    // Wrong CA: refused, with a clear 502.
    let mut cfg = test_config(std::slice::from_ref(&url));
    cfg.upstream.tls.ca_file = Some(write(&dir, "other.pem", &other_ca));
    let p = start_proxy(cfg).await;
    let (s, h, b) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(h["content-type"], "application/json");
    let msg = json(&b)["message"].as_str().unwrap().to_owned();
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert!(m.requests_to("/v2/apps").len() == 1, "nothing reached Marathon over the bad TLS");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn sni_name_override() {
    let dir = tempfile::tempdir().unwrap();
    // Certificate for a DNS name only: connecting by IP needs the configured server name.
    let (ca, cert, key) = make_ca_and_leaf_opt(&["marathon.test"], false);
    let m = fake_marathon("sni", Some(rustls_server_config(&cert, &key, &[]))).await;
    let url = format!("https://127.0.0.1:{}", m.addr.port());
    let ca = write(&dir, "ca.pem", &ca);
    let c = client();

    let mut cfg = test_config(std::slice::from_ref(&url));
    cfg.upstream.tls.ca_file = Some(ca.clone());
    let p = start_proxy(cfg).await;
    assert_eq!(fetch(&c, get(&p.url("/ping"))).await.0, StatusCode::BAD_GATEWAY);
    p.shutdown().await.unwrap();

    let mut cfg = test_config(&[url]);
    cfg.upstream.tls.ca_file = Some(ca);
    cfg.upstream.tls.server_name = Some("marathon.test".into());
    let p = start_proxy(cfg).await;
    assert_eq!(fetch(&c, get(&p.url("/ping"))).await.0, 200);
    p.shutdown().await.unwrap();
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    ca: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(rustls_client_config(ca, alpn));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    connector
        .connect(ServerName::try_from("marathon-admission.test").unwrap(), tcp)
        .await
}

#[tokio::test]
async fn https_listener_speaks_h2_and_http1_and_reloads_its_certificate() {
    let logs = Logs::default();
    let _logging = logs.capture();
    let dir = tempfile::tempdir().unwrap();
    let m = fake_marathon("m", None).await;
    let (ca1, cert1, key1) = make_ca_and_leaf(&["marathon-admission.test"]);
    let cert_file = write(&dir, "tls.crt", &cert1);
    let key_file = write(&dir, "tls.key", &key1);
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.tls = Some(proxy::config::ListenerTls {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        reload_interval_secs: 1,
    });
    let p = start_proxy(cfg).await;

    // HTTP/2 via ALPN.
    let tls = tls_connect(p.addr, &ca1, &[b"h2"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let r = Request::get(format!("https://marathon-admission.test:{}/v2/apps?x=1", p.addr.port()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(r).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(json(&body)["apps"].as_array().unwrap().len(), 3);
    let seen = m.requests_to("/v2/apps");
    assert_eq!(seen.last().unwrap().uri, "/v2/apps?x=1");
    assert_eq!(seen.last().unwrap().headers["x-forwarded-proto"], "https");
    assert_eq!(
        seen.last().unwrap().headers["x-forwarded-host"],
        format!("marathon-admission.test:{}", p.addr.port())
    );
    // A write over h2 (buffered path).
    let r = Request::post(format!("https://marathon-admission.test:{}/v2/apps", p.addr.port()))
        .body(Full::new(Bytes::from_static(b"{\"id\":\"/h2\"}")))
        .unwrap();
    let resp = send.send_request(r).await.unwrap();
    assert_eq!(resp.status(), 201);

    // HTTP/1.1 via ALPN.
    let tls = tls_connect(p.addr, &ca1, &[b"http/1.1"]).await.unwrap();
    let (mut send1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let r = Request::get("/ping")
        .header("host", "marathon-admission.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send1.send_request(r).await.unwrap();
    assert_eq!((resp.version(), resp.status().as_u16()), (Version::HTTP_11, 200));

    // A client that does not trust the certificate is refused.
    let (stranger_ca, _, _) = make_ca_and_leaf(&["marathon-admission.test"]);
    assert!(tls_connect(p.addr, &stranger_ca, &[b"h2"]).await.is_err());

    // Renew the certificate (new CA): picked up without a restart.
    let (ca2, cert2, key2) = make_ca_and_leaf(&["marathon-admission.test"]);
    renew(&key_file, &key2);
    renew(&cert_file, &cert2);
    eventually("the renewed certificate is served", || async { tls_connect(p.addr, &ca2, &[b"h2"]).await.is_ok() }).await;
    assert!(tls_connect(p.addr, &ca1, &[b"h2"]).await.is_err());
    // A broken renewal keeps the current certificate: once the proxy has looked at it (and said
    // so), the previous one is still served.
    // (A refusal may be logged already: the key renewed before its certificate.)
    let refusals = || logs.text().matches("listener certificate not reloaded").count();
    let before = refusals();
    renew(&cert_file, "garbage");
    eventually("the proxy refuses the broken renewal", || async { refusals() > before }).await;
    assert!(tls_connect(p.addr, &ca2, &[b"h2"]).await.is_ok());
    drop(send);
    drop(send1);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_certificate_is_presented_to_marathon() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca_and_leaf(&["marathon.test"]);
    let (client_ca, client_cert, client_key) = make_ca_and_leaf(&["proxy-client"]);
    // Marathon requiring a client certificate from client_ca.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut client_ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<_, _>>().unwrap();
    let k = rustls_pemfile::private_key(&mut key.as_bytes()).unwrap().unwrap();
    let sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, k)
        .unwrap();
    let m = fake_marathon("mtls", Some(Arc::new(sc))).await;
    let url = format!("https://127.0.0.1:{}", m.addr.port());
    let c = client();

    let mut cfg = test_config(std::slice::from_ref(&url));
    cfg.upstream.tls.ca_file = Some(write(&dir, "ca.pem", &ca));
    let p = start_proxy(cfg.clone()).await;
    assert_eq!(fetch(&c, get(&p.url("/ping"))).await.0, StatusCode::BAD_GATEWAY);
    p.shutdown().await.unwrap();

    cfg.upstream.tls.client_cert_file = Some(write(&dir, "client.crt", &client_cert));
    cfg.upstream.tls.client_key_file = Some(write(&dir, "client.key", &client_key));
    let p = start_proxy(cfg).await;
    assert_eq!(fetch(&c, get(&p.url("/ping"))).await.0, 200);
    p.shutdown().await.unwrap();
}
