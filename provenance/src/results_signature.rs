//! Detached signatures of results documents.
//!
//! A signature is a COSE_Sign1 (RFC 9052) over the document's exact bytes, with a detached
//! payload and the signing certificate chain in its protected header (`x5chain`, RFC 9360): the
//! same structure a C2PA claim signature has. It is made and checked with the c2pa crate's
//! COSE code, so the credentials, the certificate checks and the trust anchors are those of the
//! C2PA manifests, and any COSE library can read it. It lives next to the document as
//! `RESULTS.json.cose`.

use std::borrow::Cow;

use c2pa::crypto::cose::{self, CertificateTrustPolicy, TimeStampStorage, Verifier};
use c2pa::crypto::raw_signature::signer_from_cert_chain_and_private_key;
use c2pa::status_tracker::StatusTracker;
use c2pa::validation_results::validation_codes::{
    SIGNING_CREDENTIAL_TRUSTED, SIGNING_CREDENTIAL_UNTRUSTED,
};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::content_credentials::{CredentialError, SignatureAlg};
use crate::signing_credentials::{check_signing_certificate, SigningCertificate};

/// Extension added to a document's file name for its detached signature.
pub const SIGNATURE_EXTENSION: &str = "cose";

/// Signs `document` (its bytes as they are on disk). The chain's signing certificate is
/// checked first, and the new signature is verified before it is returned, so a key that does
/// not belong to the certificate is caught here rather than by whoever checks the document.
pub fn sign_detached(
    document: &[u8],
    chain_pem: &[u8],
    key_pem: &[u8],
    alg: SignatureAlg,
    tsa_url: Option<String>,
) -> Result<(Vec<u8>, SigningCertificate), CredentialError> {
    let certificate = check_signing_certificate(chain_pem, alg)?;
    let signer = signer_from_cert_chain_and_private_key(chain_pem, key_pem, alg.c2pa(), tsa_url)
        .map_err(|e| {
            CredentialError::Input(format!("certificate or key not usable for {alg:?}: {e}"))
        })?;
    let signature = cose::sign(
        signer.as_ref(),
        document,
        None,
        TimeStampStorage::V2_sigTst2_CTT,
    )
    .map_err(|e| CredentialError::Input(format!("COSE signing failed: {e}")))?;
    let check = verify_detached(&signature, document, None)?;
    if !check.signature_valid {
        return Err(CredentialError::Input(
            "the signature does not verify against the certificate: does the key belong to it?"
                .into(),
        ));
    }
    Ok((signature, certificate))
}

/// The verdict on a detached signature.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DetachedVerification {
    /// The signature verifies over the document's current bytes with the certificate's key.
    pub signature_valid: bool,
    /// "trusted" when the chain leads to one of the trust anchors, else "untrusted".
    pub trust: String,
    pub signer: Option<String>,
    pub issuer: Option<String>,
    pub alg: Option<String>,
    /// Validation codes (C2PA's vocabulary) other than an untrusted signing credential, e.g.
    /// `signingCredential.expired`.
    pub failures: Vec<String>,
}

impl DetachedVerification {
    /// Passes when the signature is valid and nothing failed; an untrusted signer fails only
    /// when trust is required.
    pub fn passes(&self, require_trusted: bool) -> bool {
        self.signature_valid
            && self.failures.is_empty()
            && (!require_trusted || self.trust == "trusted")
    }
}

/// Verifies a detached signature over `document`, trusting the PEM roots given (if any).
pub fn verify_detached(
    signature: &[u8],
    document: &[u8],
    trust_anchors_pem: Option<&str>,
) -> Result<DetachedVerification, CredentialError> {
    let mut policy = CertificateTrustPolicy::default();
    if let Some(anchors) = trust_anchors_pem {
        policy
            .add_trust_anchors(anchors.as_bytes())
            .map_err(|e| CredentialError::Input(format!("the trust anchors: {e}")))?;
    }
    let verifier = Verifier::VerifyTrustPolicy(Cow::Owned(policy));
    let mut log = StatusTracker::default();
    let outcome = verifier.verify_signature(signature, document, b"", None, &mut log);
    let mut failures: Vec<String> = log
        .filter_errors()
        .filter_map(|item| item.validation_status.as_ref().map(|s| s.to_string()))
        .filter(|code| code != SIGNING_CREDENTIAL_UNTRUSTED)
        .collect();
    let (signature_valid, info) = match outcome {
        Ok(info) => (info.validated, Some(info)),
        Err(e) => {
            if failures.is_empty() {
                failures.push(format!("signature: {e}"));
            }
            (false, None)
        }
    };
    if !signature_valid && failures.is_empty() {
        failures.push("claimSignature.mismatch".into());
    }
    failures.dedup();
    let leaf = signing_certificate_names(signature);
    Ok(DetachedVerification {
        signature_valid,
        trust: if log.has_status(SIGNING_CREDENTIAL_TRUSTED) {
            "trusted".into()
        } else {
            "untrusted".into()
        },
        signer: leaf.as_ref().map(|(subject, _)| subject.clone()),
        issuer: leaf.map(|(_, issuer)| issuer),
        alg: info.as_ref().and_then(|i| i.alg.map(|a| a.to_string())),
        failures,
    })
}

/// Common names (else whole names) of the subject and issuer of the signature's signing
/// certificate, when the signature is well-formed enough to carry one.
fn signing_certificate_names(signature: &[u8]) -> Option<(String, String)> {
    let sign1 = cose::parse_cose_sign1(signature, b"", &mut StatusTracker::default()).ok()?;
    let chain = cose::cert_chain_from_sign1(&sign1).ok()?;
    let (_, leaf) = X509Certificate::from_der(chain.first()?).ok()?;
    let name = |n: &X509Name| {
        n.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok().map(str::to_string))
            .unwrap_or_else(|| n.to_string())
    };
    Some((name(leaf.subject()), name(leaf.issuer())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_credentials::generate_test_credentials;

    const DOC: &[u8] = br#"{"assay_version":"0.1.0","command":"text bleu","results":[]}"#;

    #[test]
    fn a_signed_document_verifies_and_an_edited_one_does_not() {
        for alg in [SignatureAlg::Es256, SignatureAlg::Ed25519] {
            let keys = generate_test_credentials(alg, 30).unwrap();
            let (sig, cert) = sign_detached(
                DOC,
                keys.chain_pem.as_bytes(),
                keys.signer_key_pem.as_bytes(),
                alg,
                None,
            )
            .unwrap();
            assert!(cert.subject.contains("Assay TEST signer"));
            let v = verify_detached(&sig, DOC, None).unwrap();
            assert!(v.passes(false) && !v.passes(true), "{alg:?}: {v:?}");
            assert_eq!(v.signer.as_deref(), Some("Assay TEST signer (untrusted)"));
            let trusted = verify_detached(&sig, DOC, Some(&keys.ca_cert_pem)).unwrap();
            assert_eq!(trusted.trust, "trusted", "{trusted:?}");
            // One character of the document changed.
            let mut edited = DOC.to_vec();
            edited[20] = b'9';
            let e = verify_detached(&sig, &edited, None).unwrap();
            assert!(!e.signature_valid && !e.passes(false), "{e:?}");
            // Another CA is no anchor for this signer.
            let other = generate_test_credentials(alg, 30).unwrap();
            let t = verify_detached(&sig, DOC, Some(&other.ca_cert_pem)).unwrap();
            assert_eq!(t.trust, "untrusted");
        }
    }

    #[test]
    fn a_key_of_another_certificate_and_garbage_signatures_are_caught() {
        let a = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let b = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let e = sign_detached(
            DOC,
            a.chain_pem.as_bytes(),
            b.signer_key_pem.as_bytes(),
            SignatureAlg::Es256,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does the key belong"), "{e}");
        let v = verify_detached(b"not cbor", DOC, None).unwrap();
        assert!(!v.signature_valid && !v.failures.is_empty(), "{v:?}");
    }
}
