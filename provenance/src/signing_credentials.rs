//! Signing credentials: a check of a certificate chain before anything is signed, and
//! throw-away test credentials.
//!
//! C2PA readers reject a manifest whose signing certificate was expired when it signed, holds
//! an RSA key under 2048 bits, is self-signed, or lacks an extended key usage C2PA accepts
//! (C2PA 2.x §14.5.1). The c2pa crate would still write such a manifest, and only its readers
//! would complain, file by file. [`check_signing_certificate`] refuses before anything is
//! signed, with a message that says what is wrong and what to do about it.

use c2pa::crypto::cose::{
    check_end_entity_certificate_profile, CertificateProfileError, CertificateTrustPolicy,
};
use c2pa::status_tracker::StatusTracker;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SubjectPublicKeyInfo,
};
use serde::Serialize;
use x509_parser::oid_registry::{OID_EC_P256, OID_SIG_ED25519};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;

use crate::content_credentials::{CredentialError, SignatureAlg};

/// The smallest RSA modulus C2PA accepts for a signing certificate.
pub const MIN_RSA_BITS: usize = 2048;

/// What the check found out about the signing certificate (the first of the chain).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SigningCertificate {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// "EC P-256", "Ed25519" or "RSA 3072-bit".
    pub key: String,
    /// Certificates in the chain file, the signing one included.
    pub chain_len: usize,
}

fn input(message: String) -> CredentialError {
    CredentialError::Input(message)
}

/// The DER certificates of a PEM chain, in file order.
pub(crate) fn chain_ders(chain_pem: &[u8]) -> Result<Vec<Vec<u8>>, CredentialError> {
    let mut ders = Vec::new();
    for (i, pem) in Pem::iter_from_buffer(chain_pem).enumerate() {
        let pem = pem.map_err(|e| input(format!("certificate {} of the chain: {e}", i + 1)))?;
        if pem.label != "CERTIFICATE" {
            return Err(input(format!(
                "block {} of the chain is a {:?}, not a CERTIFICATE (is this the key file?)",
                i + 1,
                pem.label
            )));
        }
        ders.push(pem.contents);
    }
    if ders.is_empty() {
        return Err(input("the chain file holds no PEM certificate".into()));
    }
    Ok(ders)
}

/// Checks that the chain's signing certificate can make a manifest C2PA readers accept, with
/// `alg`: valid now, a key that fits `alg` (RSA at least [`MIN_RSA_BITS`]), and C2PA's
/// certificate profile (not self-signed, an accepted extended key usage, X.509 v3).
pub fn check_signing_certificate(
    chain_pem: &[u8],
    alg: SignatureAlg,
) -> Result<SigningCertificate, CredentialError> {
    let ders = chain_ders(chain_pem)?;
    let (_, leaf) = X509Certificate::from_der(&ders[0]).map_err(|e| {
        input(format!(
            "the signing certificate (first in the chain) is not X.509: {e}"
        ))
    })?;
    let subject = leaf.subject().to_string();
    let validity = leaf.validity();
    let now = ASN1Time::now();
    if now < validity.not_before {
        return Err(input(format!(
            "the signing certificate ({subject}) is not valid until {}",
            validity.not_before
        )));
    }
    if now > validity.not_after {
        return Err(input(format!(
            "the signing certificate ({subject}) expired on {}: C2PA readers reject what it \
             signs; renew it, or make test credentials with `assay provenance keygen`",
            validity.not_after
        )));
    }
    let spki = leaf.public_key();
    let wrong_alg = |key: &str, wanted: &str| {
        input(format!(
            "the signing certificate holds {key} key, which signs with --alg {wanted}, not {}",
            format!("{alg:?}").to_lowercase()
        ))
    };
    let key = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits < MIN_RSA_BITS {
                return Err(input(format!(
                    "the signing certificate ({subject}) holds a {bits}-bit RSA key; C2PA \
                     requires at least {MIN_RSA_BITS} bits: issue a new certificate for a \
                     larger key"
                )));
            }
            if alg != SignatureAlg::Ps256 {
                return Err(wrong_alg("an RSA", "ps256"));
            }
            format!("RSA {bits}-bit")
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            if curve.as_ref() != Some(&OID_EC_P256) {
                return Err(input(format!(
                    "the signing certificate holds an EC key on curve {}; Assay signs \
                     ES256, which needs P-256",
                    curve.map_or("(unnamed)".into(), |c| c.to_id_string())
                )));
            }
            if alg != SignatureAlg::Es256 {
                return Err(wrong_alg("an EC P-256", "es256"));
            }
            "EC P-256".to_string()
        }
        _ if spki.algorithm.algorithm == OID_SIG_ED25519 => {
            if alg != SignatureAlg::Ed25519 {
                return Err(wrong_alg("an Ed25519", "ed25519"));
            }
            "Ed25519".to_string()
        }
        _ => {
            return Err(input(format!(
                "the signing certificate's key type ({}) is not one C2PA signs with; use an \
                 EC P-256, Ed25519 or RSA (2048 bits or more) key",
                spki.algorithm.algorithm.to_id_string()
            )))
        }
    };
    let mut log = StatusTracker::default();
    check_end_entity_certificate_profile(
        &ders[0],
        &CertificateTrustPolicy::default(),
        &mut log,
        None,
    )
    .map_err(|e| match e {
        CertificateProfileError::SelfSignedCertificate => input(format!(
            "the signing certificate ({subject}) is self-signed; C2PA requires one issued by a \
             CA (`assay provenance keygen` makes a test CA and a signer)"
        )),
        CertificateProfileError::InvalidEku => input(format!(
            "the signing certificate ({subject}) lacks an extended key usage C2PA accepts \
             (emailProtection, documentSigning, timeStamping or OCSPSigning)"
        )),
        other => input(format!(
            "the signing certificate ({subject}) does not meet C2PA's certificate profile: \
             {other}"
        )),
    })?;
    Ok(SigningCertificate {
        subject,
        issuer: leaf.issuer().to_string(),
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        key,
        chain_len: ders.len(),
    })
}

/// A local test CA and a signing certificate issued by it, PEM.
#[derive(Debug, Clone)]
pub struct TestCredentials {
    pub ca_cert_pem: String,
    /// Signing certificate then CA certificate: what `sign` takes.
    pub chain_pem: String,
    pub signer_key_pem: String,
}

/// How to make test credentials. The validity window and the RSA size are open so that tests
/// can make the credentials a signer must refuse (expired, a 1024-bit key).
#[derive(Debug, Clone)]
pub struct TestCredentialSpec {
    pub alg: SignatureAlg,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// Modulus size of the signer's key for PS256.
    pub rsa_bits: usize,
}

impl TestCredentialSpec {
    /// Valid from yesterday for `days` days, RSA keys of 2048 bits.
    pub fn valid_for_days(alg: SignatureAlg, days: i64) -> TestCredentialSpec {
        let now = time::OffsetDateTime::now_utc();
        TestCredentialSpec {
            alg,
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(days),
            rsa_bits: MIN_RSA_BITS,
        }
    }
}

/// Makes a test CA and a signing certificate valid for `days` days.
pub fn generate_test_credentials(
    alg: SignatureAlg,
    days: i64,
) -> Result<TestCredentials, CredentialError> {
    generate_test_credentials_with(&TestCredentialSpec::valid_for_days(alg, days))
}

/// The signer's key: private key PEM and public key. RSA keys come from the `rsa` crate (ring,
/// behind rcgen, cannot generate them); the CA signs the certificate with its own key, so
/// rcgen only ever needs the RSA public key.
fn signer_key(
    spec: &TestCredentialSpec,
) -> Result<(String, SubjectPublicKeyInfo), CredentialError> {
    let err = |e: &dyn std::fmt::Display| input(format!("key generation: {e}"));
    match spec.alg {
        SignatureAlg::Ps256 => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, spec.rsa_bits)
                .map_err(|e| err(&e))?;
            let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(&e))?;
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| err(&e))?;
            let public = SubjectPublicKeyInfo::from_der(spki.as_bytes()).map_err(|e| err(&e))?;
            Ok((pem.to_string(), public))
        }
        SignatureAlg::Es256 | SignatureAlg::Ed25519 => {
            let alg = if spec.alg == SignatureAlg::Es256 {
                &rcgen::PKCS_ECDSA_P256_SHA256
            } else {
                &rcgen::PKCS_ED25519
            };
            let key = KeyPair::generate_for(alg).map_err(|e| err(&e))?;
            let public = SubjectPublicKeyInfo::from_der(&key.subject_public_key_info())
                .map_err(|e| err(&e))?;
            Ok((key.serialize_pem(), public))
        }
    }
}

/// Makes a test CA (ES256, or Ed25519 for Ed25519 signers) and a signing certificate by `spec`.
pub fn generate_test_credentials_with(
    spec: &TestCredentialSpec,
) -> Result<TestCredentials, CredentialError> {
    let err = |e: rcgen::Error| input(format!("certificate generation: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Assay TEST CA (untrusted)");
    ca.distinguished_name
        .push(DnType::OrganizationName, "Assay test credentials");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = spec.not_before;
    ca.not_after = spec.not_after;
    let ca_alg = if spec.alg == SignatureAlg::Ed25519 {
        &rcgen::PKCS_ED25519
    } else {
        &rcgen::PKCS_ECDSA_P256_SHA256
    };
    let ca_key = KeyPair::generate_for(ca_alg).map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut ee = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ee.distinguished_name
        .push(DnType::CommonName, "Assay TEST signer (untrusted)");
    ee.distinguished_name
        .push(DnType::OrganizationName, "Assay test credentials");
    ee.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    ee.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    ee.use_authority_key_identifier_extension = true;
    ee.not_before = spec.not_before;
    ee.not_after = spec.not_after;
    let (signer_key_pem, public) = signer_key(spec)?;
    debug_assert!(!public.der_bytes().is_empty());
    let ee_cert = ee.signed_by(&public, &issuer).map_err(err)?;
    Ok(TestCredentials {
        ca_cert_pem: ca_cert.pem(),
        chain_pem: format!("{}{}", ee_cert.pem(), ca_cert.pem()),
        signer_key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_test_credentials_pass_for_their_own_algorithm_only() {
        for alg in [SignatureAlg::Es256, SignatureAlg::Ed25519] {
            let keys = generate_test_credentials(alg, 30).unwrap();
            let cert = check_signing_certificate(keys.chain_pem.as_bytes(), alg).unwrap();
            assert_eq!(cert.chain_len, 2);
            assert!(cert.subject.contains("Assay TEST signer"), "{cert:?}");
            let other = if alg == SignatureAlg::Es256 {
                SignatureAlg::Ed25519
            } else {
                SignatureAlg::Es256
            };
            let e = check_signing_certificate(keys.chain_pem.as_bytes(), other).unwrap_err();
            assert!(e.to_string().contains("signs with --alg"), "{e}");
        }
    }

    #[test]
    fn an_expired_certificate_is_refused_with_its_end_date() {
        let now = time::OffsetDateTime::now_utc();
        let mut spec = TestCredentialSpec::valid_for_days(SignatureAlg::Es256, 1);
        spec.not_before = now - time::Duration::days(40);
        spec.not_after = now - time::Duration::days(10);
        let keys = generate_test_credentials_with(&spec).unwrap();
        let e = check_signing_certificate(keys.chain_pem.as_bytes(), SignatureAlg::Es256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expired on"), "{e}");
        let year = spec.not_after.year().to_string();
        assert!(e.contains(&year), "{e}");
    }

    #[test]
    fn a_key_file_given_as_the_chain_is_named() {
        let keys = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let e = check_signing_certificate(keys.signer_key_pem.as_bytes(), SignatureAlg::Es256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a CERTIFICATE"), "{e}");
    }
}
