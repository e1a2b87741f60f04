//! C2PA manifests (Content Credentials) for generated media, through the `c2pa` crate.
//!
//! [`sign`] writes a manifest that says the asset was created by a trained model
//! (`c2pa.created`, digital source type `trainedAlgorithmicMedia`), with Assay as claim
//! generator, the model when known, and an `org.assay.provenance` assertion (watermark scheme
//! and payload, sha256 of a results document or of the prompt). An asset that already carries
//! a manifest is signed as an edit: its manifest becomes the parent ingredient (the intent
//! C2PA gives for this), never stripped. [`verify`] reads the store back with c2pa's validator
//! and sorts its status codes into signature, content hash and trust. Credentials are checked
//! first ([`check_signing_certificate`]) so that an expired or weak certificate fails with a
//! message instead of a manifest every reader rejects.

use std::io::Cursor;

use c2pa::{Builder, BuilderIntent, Context, DigitalSourceType, Reader, SigningAlg};
use serde::Serialize;
use serde_json::{json, Value};

pub use crate::signing_credentials::{
    check_signing_certificate, generate_test_credentials, SigningCertificate, TestCredentials,
};

/// Label of Assay's own assertion.
pub const ASSAY_ASSERTION: &str = "org.assay.provenance";
/// IPTC digital source type of media made by a trained model.
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    Input(String),
    #[error("C2PA: {0}")]
    C2pa(#[from] c2pa::Error),
}

/// Signature algorithms offered for signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlg {
    Es256,
    Ps256,
    Ed25519,
}

impl SignatureAlg {
    pub(crate) fn c2pa(self) -> SigningAlg {
        match self {
            SignatureAlg::Es256 => SigningAlg::Es256,
            SignatureAlg::Ps256 => SigningAlg::Ps256,
            SignatureAlg::Ed25519 => SigningAlg::Ed25519,
        }
    }
}

/// MIME type of the formats Assay signs, from a file extension.
pub fn mime_of_extension(ext: &str) -> Option<&'static str> {
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "wav" => Some("audio/wav"),
        "tif" | "tiff" => Some("image/tiff"),
        "gif" => Some("image/gif"),
        "mp4" => Some("video/mp4"),
        _ => None,
    }
}

/// What the manifest says about how the asset was made.
#[derive(Debug, Clone, Default)]
pub struct GenerationClaim {
    pub title: String,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    /// Watermark scheme and payload (hex), when the asset was also watermarked.
    pub watermark: Option<(String, String)>,
    /// sha256 of the evaluation results document the asset belongs to.
    pub results_sha256: Option<String>,
    /// sha256 of the prompt.
    pub prompt_sha256: Option<String>,
}

impl GenerationClaim {
    fn assay_assertion(&self) -> Value {
        let mut v = json!({"generator": "assay", "assay_version": env!("CARGO_PKG_VERSION")});
        if let Some((scheme, payload)) = &self.watermark {
            v["watermark"] = json!({"scheme": scheme, "payload": payload});
        }
        if let Some(h) = &self.results_sha256 {
            v["results_sha256"] = json!(h);
        }
        if let Some(h) = &self.prompt_sha256 {
            v["prompt_sha256"] = json!(h);
        }
        v
    }
}

/// True when the asset carries a C2PA manifest store (valid or not).
pub fn has_manifest(bytes: &[u8], mime: &str) -> bool {
    Reader::from_context(Context::new())
        .with_stream(mime, Cursor::new(bytes))
        .is_ok()
}

/// Signs `bytes` (a `mime` asset) with a certificate chain (signing certificate first) and its
/// private key, both PEM. Returns the signed asset.
pub fn sign(
    bytes: &[u8],
    mime: &str,
    claim: &GenerationClaim,
    chain_pem: &[u8],
    key_pem: &[u8],
    alg: SignatureAlg,
    tsa_url: Option<String>,
) -> Result<Vec<u8>, CredentialError> {
    check_signing_certificate(chain_pem, alg)?;
    let signer =
        c2pa::create_signer::from_keys(chain_pem, key_pem, alg.c2pa(), tsa_url).map_err(|e| {
            CredentialError::Input(format!("certificate or key not usable for {alg:?}: {e}"))
        })?;
    let context = Context::new().with_settings(r#"{"verify": {"verify_after_sign": true}}"#)?;
    let mut generator = json!({"name": "Assay", "version": env!("CARGO_PKG_VERSION")});
    if let Some(model) = &claim.model_name {
        generator = json!({"name": "Assay", "version": env!("CARGO_PKG_VERSION"),
                           "model": model, "model_version": claim.model_version});
    }
    let definition = json!({"title": claim.title, "claim_generator_info": [generator]});
    let mut builder = Builder::from_context(context).with_definition(definition.to_string())?;
    if has_manifest(bytes, mime) {
        // An existing manifest becomes the parent ingredient (with c2pa.opened).
        builder.set_intent(BuilderIntent::Edit);
    } else {
        builder.set_intent(BuilderIntent::Create(
            DigitalSourceType::TrainedAlgorithmicMedia,
        ));
        let mut created =
            json!({"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA});
        if let Some(model) = &claim.model_name {
            created["softwareAgent"] = json!({"name": model, "version": claim.model_version});
        }
        builder.add_action(created)?;
    }
    builder.add_assertion(ASSAY_ASSERTION, &claim.assay_assertion())?;
    let mut out = Cursor::new(Vec::new());
    builder.sign(signer.as_ref(), mime, &mut Cursor::new(bytes), &mut out).map_err(|e| match e {
        c2pa::Error::CoseSignature | c2pa::Error::ClaimVerification(_) | c2pa::Error::InvalidEcdsaSignature => CredentialError::Input(format!(
            "the signature does not verify against the certificate: does the key belong to it? ({e})"
        )),
        other => CredentialError::C2pa(other),
    })?;
    Ok(out.into_inner())
}

/// The verdict on one asset.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verification {
    pub manifest_present: bool,
    /// c2pa's validation state: Invalid, WellFormed, Valid or Trusted.
    pub state: String,
    pub signature_valid: bool,
    pub content_hash_valid: bool,
    /// "trusted", "untrusted" (no anchor given, or not among them), or "unknown".
    pub trust: String,
    /// Failure codes other than an untrusted signing credential.
    pub failures: Vec<String>,
    pub actions: Vec<String>,
    pub digital_source_type: Option<String>,
    pub claim_generator: Option<String>,
    pub signer: Option<String>,
    pub assay: Option<Value>,
    pub manifests: usize,
}

impl Verification {
    /// A verdict without a readable store: absent, or present but unreadable.
    fn without_store(manifest_present: bool, state: &str, failures: Vec<String>) -> Verification {
        Verification {
            manifest_present,
            state: state.into(),
            signature_valid: false,
            content_hash_valid: false,
            trust: "unknown".into(),
            failures,
            actions: vec![],
            digital_source_type: None,
            claim_generator: None,
            signer: None,
            assay: None,
            manifests: 0,
        }
    }

    /// Passes unless the store is broken; an untrusted signer fails only when trust is required.
    pub fn passes(&self, require_trusted: bool) -> bool {
        self.manifest_present
            && self.failures.is_empty()
            && self.signature_valid
            && self.content_hash_valid
            && (!require_trusted || self.trust == "trusted")
    }
}

fn reader(
    bytes: &[u8],
    mime: &str,
    trust_anchors_pem: Option<&str>,
) -> Result<Reader, c2pa::Error> {
    let mut context = Context::new();
    if let Some(anchors) = trust_anchors_pem {
        let settings = c2pa::Settings::new()
            .with_value("trust.trust_anchors", anchors.to_string())?
            .with_value("verify.verify_trust", true)?;
        context = context.with_settings(settings)?;
    }
    Reader::from_context(context).with_stream(mime, Cursor::new(bytes))
}

/// Verifies the manifest store of an asset.
pub fn verify(
    bytes: &[u8],
    mime: &str,
    trust_anchors_pem: Option<&str>,
) -> Result<Verification, CredentialError> {
    let reader = match reader(bytes, mime, trust_anchors_pem) {
        Ok(r) => r,
        Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => {
            return Ok(Verification::without_store(false, "none", vec![]));
        }
        // A store that cannot even be read is a broken manifest: invalid, not bad input.
        Err(e) => {
            let why = format!("unreadable manifest store: {e}");
            return Ok(Verification::without_store(true, "Invalid", vec![why]));
        }
    };
    let codes = |pick: fn(
        &c2pa::validation_results::StatusCodes,
    ) -> &Vec<c2pa::validation_status::ValidationStatus>| {
        reader
            .validation_results()
            .and_then(|v| v.active_manifest())
            .map(|s| {
                pick(s)
                    .iter()
                    .map(|c| c.code().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let success = codes(|s| s.success());
    let failure = codes(|s| s.failure());
    let untrusted = failure.iter().any(|c| c == "signingCredential.untrusted");
    let failures: Vec<String> = failure
        .iter()
        .filter(|c| *c != "signingCredential.untrusted")
        .cloned()
        .collect();
    let signature_valid = success.iter().any(|c| c == "claimSignature.validated")
        && !failures.iter().any(|c| c.starts_with("claimSignature"));
    let content_hash_valid = success
        .iter()
        .any(|c| c.ends_with("Hash.match") || c == "assertion.dataHash.match")
        && !failures
            .iter()
            .any(|c| c.contains("Hash.mismatch") || c.contains("dataHash"));
    let trust = if untrusted {
        "untrusted"
    } else if success.iter().any(|c| c == "signingCredential.trusted") {
        "trusted"
    } else {
        "unknown"
    };
    let manifest = reader.active_manifest();
    let store: Value = serde_json::from_str(&reader.json()).unwrap_or(Value::Null);
    let active = reader
        .active_label()
        .map(|l| &store["manifests"][l])
        .cloned()
        .unwrap_or(Value::Null);
    let mut actions = Vec::new();
    let mut digital_source_type = None;
    let mut assay = None;
    for assertion in active["assertions"].as_array().into_iter().flatten() {
        let label = assertion["label"].as_str().unwrap_or_default();
        if label.starts_with("c2pa.actions") {
            for a in assertion["data"]["actions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                actions.extend(a["action"].as_str().map(String::from));
                if digital_source_type.is_none() {
                    digital_source_type = a["digitalSourceType"].as_str().map(String::from);
                }
            }
        } else if label == ASSAY_ASSERTION {
            assay = Some(assertion["data"].clone());
        }
    }
    Ok(Verification {
        manifest_present: true,
        state: format!("{:?}", reader.validation_state()),
        signature_valid,
        content_hash_valid,
        trust: trust.into(),
        failures,
        actions,
        digital_source_type,
        claim_generator: manifest
            .and_then(|m| m.claim_generator_info.as_ref())
            .and_then(|g| g.first())
            .map(|g| g.name.clone()),
        signer: manifest
            .and_then(|m| m.signature_info())
            .and_then(|s| s.common_name.clone()),
        assay,
        manifests: store["manifests"].as_object().map_or(0, |m| m.len()),
    })
}

/// The manifest store as JSON (c2pa's report), or None when the asset has none.
pub fn manifest_json(bytes: &[u8], mime: &str) -> Result<Option<String>, CredentialError> {
    match Reader::from_context(Context::new()).with_stream(mime, Cursor::new(bytes)) {
        Ok(r) => Ok(Some(r.json())),
        Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 100]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    }

    #[test]
    fn signs_verifies_and_catches_a_flipped_pixel_byte() {
        let keys = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let claim = GenerationClaim {
            title: "x.png".into(),
            model_name: Some("gan".into()),
            watermark: Some(("assay".into(), "deadbeef".into())),
            ..Default::default()
        };
        let signed = sign(
            &png(),
            "image/png",
            &claim,
            keys.chain_pem.as_bytes(),
            keys.signer_key_pem.as_bytes(),
            SignatureAlg::Es256,
            None,
        )
        .unwrap();
        let v = verify(&signed, "image/png", None).unwrap();
        assert!(v.passes(false), "{v:?}");
        assert!(!v.passes(true), "untrusted without anchors");
        assert_eq!(v.trust, "untrusted");
        assert_eq!(v.actions, vec!["c2pa.created"]);
        assert_eq!(
            v.digital_source_type.as_deref(),
            Some(TRAINED_ALGORITHMIC_MEDIA)
        );
        assert_eq!(
            v.assay.as_ref().unwrap()["watermark"]["payload"],
            "deadbeef"
        );
        // With our CA as the trust anchor, the signer is trusted.
        let trusted = verify(&signed, "image/png", Some(&keys.ca_cert_pem)).unwrap();
        assert_eq!(trusted.trust, "trusted", "{trusted:?}");
        assert!(trusted.passes(true));
        // One flipped byte inside the image data.
        let mut tampered = signed.clone();
        let idat = tampered.windows(4).position(|w| w == b"IDAT").unwrap();
        tampered[idat + 10] ^= 1;
        let t = verify(&tampered, "image/png", None).unwrap();
        assert!(!t.passes(false), "{t:?}");
        assert!(
            t.failures
                .iter()
                .any(|f| f == "assertion.dataHash.mismatch"),
            "{t:?}"
        );
        // An unsigned asset has no manifest.
        assert!(!verify(&png(), "image/png", None).unwrap().manifest_present);
    }

    #[test]
    fn a_signed_asset_signed_again_keeps_the_first_manifest_as_parent() {
        let keys = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let sign_once =
            |bytes: &[u8]| sign_with(&keys, SignatureAlg::Es256, bytes, "image/png").unwrap();
        let twice = sign_once(&sign_once(&png()));
        let v = verify(&twice, "image/png", None).unwrap();
        assert!(v.passes(false), "{v:?}");
        assert_eq!(v.manifests, 2);
        assert!(v.actions.contains(&"c2pa.opened".to_string()), "{v:?}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let a = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let b = generate_test_credentials(SignatureAlg::Es256, 30).unwrap();
        let mixed = TestCredentials {
            signer_key_pem: b.signer_key_pem,
            ..a
        };
        let err = sign_with(&mixed, SignatureAlg::Es256, &png(), "image/png");
        assert!(err.is_err());
    }

    fn webp() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, 200, y as u8 * 5]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::WebP)
            .unwrap();
        bytes
    }

    fn sign_with(
        keys: &TestCredentials,
        alg: SignatureAlg,
        bytes: &[u8],
        mime: &str,
    ) -> Result<Vec<u8>, CredentialError> {
        let claim = GenerationClaim {
            title: "x".into(),
            ..Default::default()
        };
        sign(
            bytes,
            mime,
            &claim,
            keys.chain_pem.as_bytes(),
            keys.signer_key_pem.as_bytes(),
            alg,
            None,
        )
    }

    #[test]
    fn ps256_with_a_2048_bit_rsa_key_signs_webp_and_a_flipped_byte_is_caught() {
        let keys = generate_test_credentials(SignatureAlg::Ps256, 30).unwrap();
        let cert =
            check_signing_certificate(keys.chain_pem.as_bytes(), SignatureAlg::Ps256).unwrap();
        assert_eq!(cert.key, "RSA 2048-bit");
        let signed = sign_with(&keys, SignatureAlg::Ps256, &webp(), "image/webp").unwrap();
        let v = verify(&signed, "image/webp", Some(&keys.ca_cert_pem)).unwrap();
        assert!(v.passes(true), "{v:?}");
        assert_eq!(v.actions, vec!["c2pa.created"]);
        // One flipped byte inside the VP8L image data chunk.
        let mut tampered = signed.clone();
        let vp8l = tampered.windows(4).position(|w| w == b"VP8L").unwrap();
        tampered[vp8l + 20] ^= 0x10;
        let t = verify(&tampered, "image/webp", None).unwrap();
        assert!(!t.passes(false), "{t:?}");
        assert!(!t.content_hash_valid, "{t:?}");
        // ES256 asked of an RSA certificate is refused before signing.
        let e = sign_with(&keys, SignatureAlg::Es256, &webp(), "image/webp").unwrap_err();
        assert!(e.to_string().contains("--alg ps256"), "{e}");
    }

    #[test]
    fn an_rsa_key_under_2048_bits_is_refused_before_signing() {
        let spec = crate::signing_credentials::TestCredentialSpec {
            rsa_bits: 1024,
            ..crate::signing_credentials::TestCredentialSpec::valid_for_days(
                SignatureAlg::Ps256,
                30,
            )
        };
        let keys = crate::signing_credentials::generate_test_credentials_with(&spec).unwrap();
        let e = sign_with(&keys, SignatureAlg::Ps256, &png(), "image/png").unwrap_err();
        assert!(matches!(e, CredentialError::Input(_)));
        assert!(e.to_string().contains("1024-bit RSA key"), "{e}");
    }
}
