//! TLS 1.3 profile: keys, self-signed certificates and fingerprint verifiers.
//!
//! Peers are accepted by fingerprint only (lowercase hex SHA-256 of the raw
//! 32-byte Ed25519 public key in the certificate), never by a CA; the TLS 1.3
//! handshake signature is still verified with the certificate's key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as ring_provider, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// ALPN protocol id naming the wire version.
pub const ALPN: &[u8] = b"web4-rtt/1";

/// Errors while loading keys or building TLS configurations, each with the
/// library's own error as its [`source`](std::error::Error::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a PKCS#8 PEM private key.
    Pem(rustls::pki_types::pem::Error),
    /// Not a valid Ed25519 PKCS#8 key.
    Ed25519(ring::error::KeyRejected),
    /// The key or the certificate parameters were refused by rcgen.
    Certificate(rcgen::Error),
    /// rustls refused the TLS configuration.
    Tls(rustls::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Pem(e) => write!(f, "Key is not a PKCS#8 PEM private key: {e}"),
            KeyError::Ed25519(e) => write!(f, "Key is not a valid Ed25519 PKCS#8 key: {e}"),
            KeyError::Certificate(e) => write!(f, "Self-signed certificate failed: {e}"),
            KeyError::Tls(e) => write!(f, "TLS configuration failed: {e}"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Pem(e) => Some(e),
            // ring's KeyRejected implements `Error` only with its `std` feature.
            KeyError::Ed25519(_) => None,
            KeyError::Certificate(e) => Some(e),
            KeyError::Tls(e) => Some(e),
        }
    }
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The fingerprint of a raw Ed25519 public key.
pub fn fingerprint_of(public_key: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, public_key).as_ref())
}

/// Whether `s` is a 64-character lowercase hex fingerprint.
pub fn valid_fingerprint(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A node identity loaded from a PKCS#8 PEM Ed25519 key.
pub struct Identity {
    /// PKCS#8 DER of the private key.
    pub pkcs8: Vec<u8>,
    /// Raw public key.
    pub public_key: [u8; 32],
    /// Fingerprint of the public key.
    pub fingerprint: String,
    /// Self-signed certificate over the key.
    pub cert: CertificateDer<'static>,
}

/// Parses an Ed25519 PKCS#8 PEM (v1 or v2) and returns its DER and raw public key.
pub fn parse_key_pem(pem: &[u8]) -> Result<(Vec<u8>, [u8; 32]), KeyError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(KeyError::Pem)?;
    let kp = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
        .map_err(KeyError::Ed25519)?;
    let mut pk = [0u8; 32];
    pk.copy_from_slice(ring::signature::KeyPair::public_key(&kp).as_ref());
    Ok((der.secret_pkcs8_der().to_vec(), pk))
}

impl Identity {
    /// Loads the key and makes the self-signed certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let (pkcs8, public_key) = parse_key_pem(pem)?;
        let key = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(KeyError::Certificate)?;
        let fingerprint = fingerprint_of(&public_key);
        let mut params = rcgen::CertificateParams::new(vec!["web4-rtt".to_string()])
            .map_err(KeyError::Certificate)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("web4-rtt {fingerprint}"));
        let cert = params.self_signed(&key).map_err(KeyError::Certificate)?;
        Ok(Identity {
            pkcs8,
            public_key,
            fingerprint,
            cert: cert.der().clone(),
        })
    }

    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }
}

/// DER of an Ed25519 SubjectPublicKeyInfo up to the key (RFC 8410):
/// SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING with 0 unused bits }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Extracts the raw Ed25519 public key from a certificate's
/// SubjectPublicKeyInfo; `None` unless the certificate parses (with the same
/// webpki parser rustls verifies the handshake signature with, so the key
/// fingerprinted is the key that signed) and its key is Ed25519.
pub fn cert_ed25519_key(cert: &[u8]) -> Option<[u8; 32]> {
    let der = CertificateDer::from(cert);
    let parsed = rustls::server::ParsedCertificate::try_from(&der).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    key.try_into().ok()
}

/// Who may connect in.
#[derive(Debug, Clone)]
pub enum AllowPolicy {
    /// Any authenticated peer.
    Any,
    /// Only these fingerprints.
    List(Vec<String>),
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    ring_provider::default_provider().signature_verification_algorithms
}

fn check_signature(
    msg: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(msg, cert, dss, &algorithms())
}

fn peer_fingerprint(cert: &CertificateDer<'_>) -> Result<String, rustls::Error> {
    let key = cert_ed25519_key(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))?;
    Ok(fingerprint_of(&key))
}

/// Client side: accepts the server only if its fingerprint equals the pin.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    expected: String,
}

/// The answer to a TLS 1.2 signature check. Never reached in practice: the
/// configs enable TLS 1.3 only, so rustls never negotiates 1.2; this keeps the
/// refusal explicit should that ever change.
fn tls12_refused() -> rustls::Error {
    rustls::Error::General("TLS 1.2 is refused: RTT speaks TLS 1.3 only".into())
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if peer_fingerprint(end_entity)? == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Server side: accepts a client whose fingerprint the policy allows.
#[derive(Debug)]
pub struct PolicyClientVerifier {
    policy: AllowPolicy,
}

impl ClientCertVerifier for PolicyClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fp = peer_fingerprint(end_entity)?;
        match &self.policy {
            AllowPolicy::Any => Ok(ClientCertVerified::assertion()),
            AllowPolicy::List(l) if l.contains(&fp) => Ok(ClientCertVerified::assertion()),
            AllowPolicy::List(_) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The TLS 1.3 cipher suites in the order a node prefers them (a client
/// offers them in this order and the server takes the client's order).
///
/// `TLS13_AES_128_GCM_SHA256` first: its key schedule and transcript hash
/// run on SHA-256, which this hardware computes with SHA extensions, where
/// the default first suite, `TLS13_AES_256_GCM_SHA384`, runs SHA-384 in
/// software (3.7-4.3% of a connect/close loop's CPU samples were SHA-512
/// compression, nearly all of it HKDF in the key schedule), and AES-128
/// seals a record in 10 rounds instead of 14. It is the suite every TLS 1.3
/// implementation must have (RFC 8446, 9.1), and it does not lower the
/// session's strength: X25519 and Ed25519 give about 128-bit security, so
/// AES-256 never raised the session above that. The other two stay enabled,
/// so a peer that prefers them still connects; nothing else in the
/// handshake or the checks changes.
pub const CIPHER_SUITES: [rustls::SupportedCipherSuite; 3] = [
    ring_provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ring_provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ring_provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
];

fn provider() -> Arc<CryptoProvider> {
    let mut p = ring_provider::default_provider();
    p.cipher_suites = CIPHER_SUITES.to_vec();
    Arc::new(p)
}

/// Server configuration: TLS 1.3 only, mutual auth by policy, ALPN, no tickets.
pub fn server_config(
    id: &Identity,
    policy: AllowPolicy,
) -> Result<Arc<rustls::ServerConfig>, KeyError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(KeyError::Tls)?
        .with_client_cert_verifier(Arc::new(PolicyClientVerifier { policy }))
        .with_single_cert(vec![id.cert.clone()], id.key_der())
        .map_err(KeyError::Tls)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.send_tls13_tickets = 0;
    // The record layer takes the keys over after the handshake (crate::record).
    cfg.enable_secret_extraction = true;
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(cfg))
}

/// Client configuration pinned to `expected` (a fingerprint).
pub fn client_config(id: &Identity, expected: &str) -> Result<Arc<rustls::ClientConfig>, KeyError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(KeyError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier {
            expected: expected.to_string(),
        }))
        .with_client_auth_cert(vec![id.cert.clone()], id.key_der())
        .map_err(KeyError::Tls)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    // No TLS session resumption: every connection re-runs the verifiers.
    cfg.resumption = rustls::client::Resumption::disabled();
    // The record layer takes the keys over after the handshake (crate::record).
    cfg.enable_secret_extraction = true;
    Ok(Arc::new(cfg))
}

#[cfg(test)]
pub(crate) mod test_keys {
    /// Builds a PKCS#8 v1 PEM for an Ed25519 seed (the form TypeScript writes).
    pub fn pem_v1(seed: [u8; 32]) -> String {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64(&der)
        )
    }

    fn base64(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in data.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= c.len() {
                    s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    /// A fresh random v1 PEM.
    pub fn random_pem() -> String {
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).unwrap();
        pem_v1(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_pem_loads_and_certificate_carries_the_key() {
        // RFC 8032 test vector 1: known seed and public key.
        let seed: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let id = Identity::from_pem(test_keys::pem_v1(seed).as_bytes()).unwrap();
        assert_eq!(
            hex(&id.public_key),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(cert_ed25519_key(id.cert.as_ref()), Some(id.public_key));
        assert_eq!(id.fingerprint, fingerprint_of(&id.public_key));
        assert!(valid_fingerprint(&id.fingerprint));
    }

    /// Moves bytes between a client and a server until both finished the
    /// handshake (or one failed).
    fn handshake(
        client: &mut rustls::ClientConnection,
        server: &mut rustls::ServerConnection,
    ) -> Result<(), rustls::Error> {
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn a_peer_that_offers_only_aes_256_still_connects() {
        let a = Identity::from_pem(test_keys::random_pem().as_bytes()).unwrap();
        let b = Identity::from_pem(test_keys::random_pem().as_bytes()).unwrap();
        let name = ServerName::try_from("web4-rtt").unwrap();
        // Ours: AES-128 first, on both sides.
        let mut client =
            rustls::ClientConnection::new(client_config(&b, &a.fingerprint).unwrap(), name.clone())
                .unwrap();
        let mut server =
            rustls::ServerConnection::new(server_config(&a, AllowPolicy::Any).unwrap()).unwrap();
        handshake(&mut client, &mut server).unwrap();
        let suite = |c: Option<rustls::SupportedCipherSuite>| c.map(|s| s.suite());
        assert_eq!(
            suite(client.negotiated_cipher_suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        // A peer (another implementation) that offers only AES-256.
        let mut p = ring_provider::default_provider();
        p.cipher_suites = vec![ring_provider::cipher_suite::TLS13_AES_256_GCM_SHA384];
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier {
                expected: a.fingerprint.clone(),
            }))
            .with_client_auth_cert(vec![b.cert.clone()], b.key_der())
            .unwrap();
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        let mut client = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut server =
            rustls::ServerConnection::new(server_config(&a, AllowPolicy::Any).unwrap()).unwrap();
        handshake(&mut client, &mut server).unwrap();
        assert_eq!(
            suite(server.negotiated_cipher_suite()),
            Some(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384)
        );
        assert_eq!(server.alpn_protocol(), Some(ALPN));
    }

    #[test]
    fn garbage_keys_and_certificates_are_refused() {
        assert!(Identity::from_pem(b"not a pem").is_err());
        assert!(cert_ed25519_key(b"").is_none());
        assert!(cert_ed25519_key(&[0x30, 0x82, 0xff, 0xff]).is_none());
        let mut rng = crate::codec::Prng::new(3);
        for _ in 0..10_000 {
            let v: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
            let _ = cert_ed25519_key(&v);
        }
    }
}
