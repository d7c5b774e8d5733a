//! TLS, with rustls (ring provider), for the exporter's transports and the
//! embedded receiver: PEM files read through one size-capped loader,
//! client configurations (server verification against the bundled Mozilla
//! roots (webpki-roots) or a configured CA, client certificates for mutual
//! TLS, TLS 1.2 minimum, ALPN `h2` for gRPC and `http/1.1` for HTTP), the
//! receiver's server configuration, and [`MaybeTls`], a TCP stream with or
//! without TLS.
//!
//! This module must never disable verification unless
//! `insecureSkipVerify` says so, and then it logs a warning once.
//!
//! ```
//! use tracewire::transport::TlsOptions;
//! use tracewire::internal::tls::{client_config, Alpn};
//! let cfg = client_config(&TlsOptions::default(), Alpn::H2).unwrap();
//! assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec()]);
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Once};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Client TLS options (Traefik's `tls` block).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// CA certificates (PEM) to verify the collector with, instead of the
    /// bundled Mozilla roots (webpki-roots).
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs `key`.
    pub cert: Option<PathBuf>,
    /// Client private key (PEM: PKCS#1, PKCS#8 or SEC1) for mutual TLS;
    /// needs `cert`.
    pub key: Option<PathBuf>,
    /// Accept any server certificate. Dangerous; logged once as a warning.
    pub insecure_skip_verify: bool,
}

/// The largest certificate or key file read (a bundle of a few hundred CAs
/// fits comfortably).
const MAX_PEM_FILE: u64 = 4 * 1024 * 1024;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{option}: cannot read {path:?}: {source}; check the path and its permissions")]
    Read {
        /// The option naming the file (`tls.ca`, `tls.cert`, `tls.key`,
        /// `--tls-cert`, `--tls-key`).
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM item of the expected kind.
    #[error(
        "{option}: {path:?} contains no PEM {what}; expected a PEM file (-----BEGIN ...-----)"
    )]
    NotPem {
        /// The option naming the file (`tls.ca`, `tls.cert`, `tls.key`,
        /// `--tls-cert`, `--tls-key`).
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        what: &'static str,
    },
    /// A PEM item could not be used.
    #[error("{option}: {path:?}: {reason}")]
    Invalid {
        /// The option naming the file (`tls.ca`, `tls.cert`, `tls.key`,
        /// `--tls-cert`, `--tls-key`).
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file is larger than any certificate bundle or key.
    #[error(
        "{option}: {path:?} is larger than {limit} bytes; it is not a PEM certificate or key file"
    )]
    TooLarge {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// `cert` without `key`, or the reverse.
    #[error("tls.{given} is set but tls.{missing} is not; mutual TLS needs both the client certificate and its key")]
    Incomplete {
        /// The option given.
        given: &'static str,
        /// The option missing.
        missing: &'static str,
    },
    /// rustls refused the configuration (for example a key that does not
    /// match the certificate).
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

/// The application protocol to offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, for gRPC.
    H2,
    /// `http/1.1`, for OTLP/HTTP.
    Http11,
}

impl Alpn {
    /// The protocol id sent in ALPN.
    pub(crate) fn protocol_id(self) -> &'static [u8] {
        match self {
            Alpn::H2 => b"h2",
            Alpn::Http11 => b"http/1.1",
        }
    }
}

/// Reads a PEM file, refusing anything larger than [`MAX_PEM_FILE`]
/// (`/dev/zero` or a log file given by mistake) before reading more.
fn read_pem(option: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read as _;
    let read_error = |source| TlsError::Read {
        option,
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut data = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if data.len() as u64 > MAX_PEM_FILE {
        return Err(TlsError::TooLarge {
            option,
            path: path.to_owned(),
            limit: MAX_PEM_FILE,
        });
    }
    Ok(data)
}

fn certificates(
    option: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(option, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid {
            option,
            path: path.to_owned(),
            reason: format!("malformed PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NotPem {
            option,
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn private_key(option: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(option, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NotPem {
            option,
            path: path.to_owned(),
            what: "private key (PKCS#1, PKCS#8 or SEC1)",
        },
        other => TlsError::Invalid {
            option,
            path: path.to_owned(),
            reason: format!("malformed PEM: {other}"),
        },
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks the options that can be checked without a connection: files
/// readable and in PEM, `cert` and `key` together, key matching certificate.
pub fn validate(options: &TlsOptions) -> Result<(), TlsError> {
    client_config(options, Alpn::Http11).map(|_| ())
}

/// Builds the rustls client configuration for `options`.
pub fn client_config(options: &TlsOptions, alpn: Alpn) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?;

    let builder = if options.insecure_skip_verify {
        static WARN: Once = Once::new();
        WARN.call_once(|| {
            log::warn!(
                "tracewire: tls.insecureSkipVerify is on: the collector's certificate is NOT verified; \
                 anyone on the path can read and alter exported spans"
            );
        });
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match &options.ca {
            Some(path) => {
                for cert in certificates("tls.ca", path)? {
                    roots.add(cert).map_err(|e| TlsError::Invalid {
                        option: "tls.ca",
                        path: path.clone(),
                        reason: format!("not a usable CA certificate: {e}"),
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };

    let mut config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("tls.cert", cert)?;
            let key = private_key("tls.key", key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Rustls(format!("tls.cert / tls.key: {e}")))?
        }
        (Some(_), None) => {
            return Err(TlsError::Incomplete {
                given: "cert",
                missing: "key",
            })
        }
        (None, Some(_)) => {
            return Err(TlsError::Incomplete {
                given: "key",
                missing: "cert",
            })
        }
        (None, None) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.protocol_id().to_vec()];
    Ok(config)
}

/// The embedded receiver's TLS configuration: the certificate chain and key
/// (PEM, read through the same capped loader as the client's files), and
/// ALPN offering only `protocol` (what the listener serves).
#[cfg(feature = "receiver")]
pub(crate) fn server_config(
    cert: &Path,
    key: &Path,
    alpn: Alpn,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certificates("--tls-cert", cert)?;
    let key = private_key("--tls-key", key)?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("--tls-cert / --tls-key: {e}")))?;
    cfg.alpn_protocols = vec![alpn.protocol_id().to_vec()];
    Ok(Arc::new(cfg))
}

/// A TCP connection, with or without TLS (`T` is the TLS stream type).
pub(crate) enum MaybeTls<T> {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<T>),
    /// Plaintext over a unix domain socket (client side only).
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// A client connection.
pub(crate) type ClientStream = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;
/// A server connection (the embedded receiver).
#[cfg(feature = "receiver")]
pub(crate) type ServerStream = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(unix)]
            MaybeTls::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(unix)]
            MaybeTls::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(unix)]
            MaybeTls::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(unix)]
            MaybeTls::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            MaybeTls::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
            #[cfg(unix)]
            MaybeTls::Unix(s) => s.is_write_vectored(),
        }
    }
}

/// A TLS connector for one exporter.
#[derive(Clone)]
pub(crate) struct Connector {
    inner: tokio_rustls::TlsConnector,
}

impl Connector {
    /// A connector for `options`.
    pub(crate) fn new(options: &TlsOptions, alpn: Alpn) -> Result<Self, TlsError> {
        Ok(Connector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(client_config(options, alpn)?)),
        })
    }

    /// Runs the handshake over `tcp`, checking the certificate against `host`
    /// (a DNS name or an IP address).
    pub(crate) async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid server name {host:?}: {e}"),
            )
        })?;
        self.inner.connect(name, tcp).await
    }
}

/// `insecureSkipVerify`: any certificate is accepted, but the handshake
/// signatures are still checked (the server must hold the key of the
/// certificate it shows).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_without_key_is_refused() {
        let opts = TlsOptions {
            cert: Some("client.pem".into()),
            ..TlsOptions::default()
        };
        // The pairing is checked before any file is read.
        let err = client_config(&opts, Alpn::H2).unwrap_err().to_string();
        assert!(err.contains("tls.cert is set but tls.key is not"), "{err}");
    }

    #[test]
    fn unreadable_and_non_pem_files_name_the_option() {
        let opts = TlsOptions {
            ca: Some("/definitely/not/here.pem".into()),
            ..TlsOptions::default()
        };
        let err = client_config(&opts, Alpn::H2).unwrap_err().to_string();
        assert!(err.starts_with("tls.ca: cannot read"), "{err}");

        let dir = std::env::temp_dir().join(format!("tracewire-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "this is not pem").unwrap();
        let opts = TlsOptions {
            ca: Some(junk),
            ..TlsOptions::default()
        };
        let err = client_config(&opts, Alpn::H2).unwrap_err().to_string();
        assert!(err.contains("contains no PEM certificate"), "{err}");
    }
}
