//! `assay provenance sign|verify|inspect|keygen|check|sign-results`: C2PA manifests through
//! `assay_provenance::content_credentials`; re-hashing the inputs a results document names, and
//! its detached signature through `assay_provenance::results_signature`.

use crate::args::{
    ProvenanceCheckArgs, ProvenanceSignArgs, ProvenanceSignResultsArgs, ProvenanceVerifyArgs,
    SignAlgArg, SignerArgs, TrustArgs,
};
use crate::commands::watermark_image::{
    assay_key, assay_payload, encode, load_image, restore_layout,
};
use crate::error::{CliError, CliResult};
use crate::input::{files_and_folders, record_file};
use crate::output::{write_atomic, ResultRow, ResultsDoc};
use assay_provenance::content_credentials::{
    self, check_signing_certificate, generate_test_credentials, mime_of_extension, CredentialError,
    GenerationClaim, SignatureAlg, SigningCertificate,
};
use assay_provenance::results_signature::{self, SIGNATURE_EXTENSION};
use assay_provenance::watermark::spread_spectrum::{self, DEFAULT_PSNR_DB};
use assay_provenance::InputRecord;
use image::ImageFormat;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn alg_of(a: SignAlgArg) -> SignatureAlg {
    match a {
        SignAlgArg::Es256 => SignatureAlg::Es256,
        SignAlgArg::Ps256 => SignatureAlg::Ps256,
        SignAlgArg::Ed25519 => SignatureAlg::Ed25519,
    }
}

fn read(path: &Path, what: &str) -> CliResult<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| CliError::Input(format!("{}: cannot read {what}: {e}", path.display())))
}

fn mime_of(path: &Path) -> CliResult<&'static str> {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(mime_of_extension)
        .ok_or_else(|| {
            CliError::Input(format!(
                "{}: unsupported file type (JPEG, PNG, WebP, WAV, TIFF, GIF, MP4)",
                path.display()
            ))
        })
}

/// Files as given, and the supported files directly inside folders, sorted.
fn collect_assets(inputs: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    let files = files_and_folders(inputs, |dir| {
        let mut inside: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CliError::Input(format!("{}: cannot list: {e}", dir.display())))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && mime_of(p).is_ok())
            .collect();
        inside.sort();
        Ok(inside)
    })?;
    if files.is_empty() {
        return Err(CliError::Input(
            "no supported files among the inputs".into(),
        ));
    }
    Ok(files)
}

fn sha256_of(path: &Path) -> CliResult<String> {
    Ok(record_file(path)?.sha256)
}

/// Watermarks an image with the assay scheme, keeping its format (PNG or JPEG).
fn watermarked(path: &Path, key: &str, payload: &str) -> CliResult<Vec<u8>> {
    let input = load_image(path)?;
    let marked = spread_spectrum::embed(
        &input.rgb,
        &assay_key(Some(key))?,
        &assay_payload(payload)?,
        DEFAULT_PSNR_DB,
    )
    .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let format = if input.format == Some(ImageFormat::Jpeg) {
        ImageFormat::Jpeg
    } else {
        ImageFormat::Png
    };
    encode(&restore_layout(marked.image, &input), format, 95)
}

pub fn sign(a: &ProvenanceSignArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("provenance sign", started);
    let credentials = Credentials::load(&a.signer)?;
    doc.add_input(&record_file(&a.signer.cert)?);
    let files = collect_assets(&a.inputs)?;
    let mut claim = GenerationClaim {
        model_name: a.model.clone(),
        model_version: a.model_version.clone(),
        ..Default::default()
    };
    if let Some(p) = &a.prompt_file {
        let rec = record_file(p)?;
        claim.prompt_sha256 = Some(rec.sha256.clone());
        doc.add_input(&rec);
    }
    if let Some(r) = &a.results {
        let rec = record_file(r)?;
        claim.results_sha256 = Some(rec.sha256.clone());
        doc.add_input(&rec);
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", a.out.display())))?;
    for file in &files {
        let mime = mime_of(file)?;
        let name = file
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| "asset".into());
        let out = a.out.join(&name);
        if out.exists() {
            return Err(CliError::Usage(format!(
                "{}: exists (Assay never writes over files)",
                out.display()
            )));
        }
        let original = read(file, "the asset")?;
        let rec = InputRecord::of_bytes(file.display().to_string(), &original);
        let mut file_claim = GenerationClaim {
            title: name.display().to_string(),
            ..claim.clone()
        };
        let bytes = if a.watermark {
            if !mime.starts_with("image/png") && !mime.starts_with("image/jpeg") {
                return Err(CliError::Input(format!(
                    "{}: --watermark marks PNG and JPEG images",
                    file.display()
                )));
            }
            let (k, p) = (
                a.watermark_key.as_deref().unwrap_or_default(),
                a.watermark_payload.as_deref().unwrap_or_default(),
            );
            file_claim.watermark = Some(("assay".into(), p.to_string()));
            watermarked(file, k, p)?
        } else {
            original
        };
        let had_manifest = content_credentials::has_manifest(&bytes, mime);
        let signed = content_credentials::sign(
            &bytes,
            mime,
            &file_claim,
            &credentials.chain,
            &credentials.key,
            credentials.alg(),
            a.signer.tsa_url.clone(),
        )
        .map_err(credentials.failed(file))?;
        write_atomic(&out, &signed, std::slice::from_ref(&rec))?;
        doc.add_input(&rec);
        doc.results.push(ResultRow::plain("provenance.signed", 1.0, 1, json!({
            "file": file.display().to_string(), "out": out.display().to_string(), "format": mime,
            "parent_manifest": had_manifest, "watermark": file_claim.watermark.as_ref().map(|(s, p)| json!({"scheme": s, "payload": p})),
            "note": format!("{}: signed{}", out.display(), if had_manifest { " (its manifest kept as parent)" } else { "" })})));
    }
    doc.results
        .insert(0, signer_row(&credentials.certificate, &a.signer.cert));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// `--cert` and `--key`, read, with the chain's signing certificate checked before anything
/// is written: an expired certificate or a weak key fails once, naming the certificate file,
/// not once per asset.
struct Credentials<'a> {
    args: &'a SignerArgs,
    chain: Vec<u8>,
    key: Vec<u8>,
    certificate: SigningCertificate,
}

impl<'a> Credentials<'a> {
    fn load(args: &'a SignerArgs) -> CliResult<Credentials<'a>> {
        let chain = read(&args.cert, "the certificate chain")?;
        let key = read(&args.key, "the private key")?;
        let certificate = check_signing_certificate(&chain, alg_of(args.alg))
            .map_err(|e| CliError::Input(format!("{}: {e}", args.cert.display())))?;
        Ok(Credentials {
            args,
            chain,
            key,
            certificate,
        })
    }

    fn alg(&self) -> SignatureAlg {
        alg_of(self.args.alg)
    }

    /// A signing failure of `item`, naming the credential files.
    fn failed(&self, item: &Path) -> impl Fn(CredentialError) -> CliError + '_ {
        let item = item.display().to_string();
        move |e| {
            CliError::Input(format!(
                "{item}: {e} (certificate {}, key {})",
                self.args.cert.display(),
                self.args.key.display()
            ))
        }
    }
}

fn signer_row(signer: &SigningCertificate, path: &Path) -> ResultRow {
    let mut details = serde_json::to_value(signer).unwrap_or(Value::Null);
    details["certificate"] = json!(path.display().to_string());
    details["note"] = json!(format!(
        "signer {} ({}, valid until {})",
        signer.subject, signer.key, signer.not_after
    ));
    ResultRow::plain("provenance.signer", 1.0, 1, details)
}

pub fn verify(a: &ProvenanceVerifyArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("provenance verify", started);
    let anchors = trust_anchors(&a.trust)?;
    let files = collect_assets(&a.inputs)?;
    let mut failed = Vec::new();
    for file in &files {
        let mime = mime_of(file)?;
        let bytes = read(file, "the asset")?;
        doc.add_input(&InputRecord::of_bytes(file.display().to_string(), &bytes));
        let v = content_credentials::verify(&bytes, mime, anchors.as_deref())
            .map_err(|e| CliError::Input(format!("{}: {e}", file.display())))?;
        let passes = v.passes(a.trust.require_trusted);
        if !passes {
            failed.push(file.display().to_string());
        }
        let verdict = if !v.manifest_present {
            "no manifest".to_string()
        } else if passes {
            format!("valid, signer {}", v.trust)
        } else {
            format!(
                "INVALID: {}",
                if v.failures.is_empty() {
                    format!("signer {}", v.trust)
                } else {
                    v.failures.join(", ")
                }
            )
        };
        let mut details =
            serde_json::to_value(&v).map_err(|e| CliError::Internal(e.to_string()))?;
        details["file"] = json!(file.display().to_string());
        details["note"] = json!(format!("{}: {verdict}", file.display()));
        doc.results.push(ResultRow::plain(
            "provenance.valid",
            f64::from(u8::from(passes)),
            1,
            details,
        ));
    }
    if !failed.is_empty() {
        doc.failed = Some(format!(
            "{} of {} files failed validation: {}",
            failed.len(),
            files.len(),
            failed.join(", ")
        ));
    }
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn inspect(input: &Path) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("provenance inspect", started);
    let mime = mime_of(input)?;
    let bytes = read(input, "the asset")?;
    doc.add_input(&InputRecord::of_bytes(input.display().to_string(), &bytes));
    let store = content_credentials::manifest_json(&bytes, mime)
        .map_err(|e| CliError::Input(format!("{}: {e}", input.display())))?;
    let (value, details) = match store {
        Some(text) => {
            let store: Value =
                serde_json::from_str(&text).map_err(|e| CliError::Internal(e.to_string()))?;
            let n = store["manifests"].as_object().map_or(0, |m| m.len());
            (
                n as f64,
                json!({"manifest_store": store, "note": format!("{}: {n} manifest(s); the store is in --json", input.display())}),
            )
        }
        None => (
            0.0,
            json!({"manifest_store": null, "note": format!("{}: no manifest", input.display())}),
        ),
    };
    doc.results
        .push(ResultRow::plain("provenance.manifests", value, 1, details));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

pub fn keygen(out: &Path, alg: SignAlgArg, days: i64) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    if days < 1 {
        return Err(CliError::Usage("--days must be at least 1".into()));
    }
    let creds =
        generate_test_credentials(alg_of(alg), days).map_err(|e| CliError::Usage(e.to_string()))?;
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", out.display())))?;
    let files = [
        ("ca.pem", creds.ca_cert_pem.as_str()),
        ("chain.pem", creds.chain_pem.as_str()),
        ("signer.key.pem", creds.signer_key_pem.as_str()),
    ];
    for (name, _) in &files {
        if out.join(name).exists() {
            return Err(CliError::Usage(format!(
                "{}: exists (Assay never writes over files)",
                out.join(name).display()
            )));
        }
    }
    for (name, text) in &files {
        write_atomic(&out.join(name), text.as_bytes(), &[])?;
    }
    eprintln!("assay: TEST credentials: signatures made with them read back as untrusted; do not publish with them");
    let mut doc = ResultsDoc::new("provenance keygen", started);
    doc.results.push(ResultRow::plain("provenance.keygen", 1.0, 1, json!({
        "ca": out.join("ca.pem").display().to_string(), "chain": out.join("chain.pem").display().to_string(),
        "key": out.join("signer.key.pem").display().to_string(), "days": days,
        "note": format!("TEST CA and signer in {} (untrusted; --trust-anchors ca.pem to trust them locally)", out.display())})));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// The PEM text of `--trust-anchors`, when given.
fn trust_anchors(trust: &TrustArgs) -> CliResult<Option<String>> {
    let Some(p) = &trust.trust_anchors else {
        return Ok(None);
    };
    String::from_utf8(read(p, "the trust anchors")?)
        .map(Some)
        .map_err(|_| CliError::Input(format!("{}: not PEM text", p.display())))
}

/// Where a document's detached signature lives by default: next to it, `.cose` appended.
fn signature_path_of(results: &Path) -> PathBuf {
    let mut name = results.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{SIGNATURE_EXTENSION}"));
    results.with_file_name(name)
}

pub fn sign_results(a: &ProvenanceSignResultsArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let mut doc = ResultsDoc::new("provenance sign-results", started);
    let document = read(&a.results, "the results document")?;
    serde_json::from_slice::<Value>(&document).map_err(|e| {
        CliError::Input(format!(
            "{}: not a results document (JSON): {e}",
            a.results.display()
        ))
    })?;
    let credentials = Credentials::load(&a.signer)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| signature_path_of(&a.results));
    if out.exists() {
        return Err(CliError::Usage(format!(
            "{}: exists (Assay never writes over files)",
            out.display()
        )));
    }
    let (signature, signer) = results_signature::sign_detached(
        &document,
        &credentials.chain,
        &credentials.key,
        credentials.alg(),
        a.signer.tsa_url.clone(),
    )
    .map_err(credentials.failed(&a.results))?;
    let rec = InputRecord::of_bytes(a.results.display().to_string(), &document);
    write_atomic(&out, &signature, std::slice::from_ref(&rec))?;
    doc.add_input(&rec);
    doc.add_input(&record_file(&a.signer.cert)?);
    doc.results.push(signer_row(&signer, &a.signer.cert));
    doc.results.push(ResultRow::plain("provenance.results_signed", 1.0, 1, json!({
        "results": a.results.display().to_string(), "results_sha256": rec.sha256,
        "signature_file": out.display().to_string(), "format": "COSE_Sign1 (RFC 9052), detached payload, x5chain",
        "note": format!("{}: signed; `assay provenance check {}` verifies it", out.display(), a.results.display())})));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}

/// Verifies the document's detached signature, when there is one, into `doc`; returns the
/// reason it fails, if it does.
fn check_signature(
    a: &ProvenanceCheckArgs,
    document: &[u8],
    doc: &mut ResultsDoc,
) -> CliResult<Option<String>> {
    let path = match &a.signature {
        Some(p) if !p.is_file() => {
            return Err(CliError::Input(format!(
                "{}: no such signature file",
                p.display()
            )))
        }
        Some(p) => p.clone(),
        None => signature_path_of(&a.results),
    };
    if !path.is_file() {
        doc.results.push(ResultRow::plain("provenance.results_signature", 0.0, 1, json!({
            "signature_file": null, "note": format!("{}: not signed (no {})", a.results.display(), path.display())})));
        return Ok(a
            .trust
            .require_trusted
            .then(|| format!("{}: not signed, and --require-trusted", a.results.display())));
    }
    let anchors = trust_anchors(&a.trust)?;
    let signature = read(&path, "the signature")?;
    doc.add_input(&InputRecord::of_bytes(
        path.display().to_string(),
        &signature,
    ));
    let v = results_signature::verify_detached(&signature, document, anchors.as_deref())
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let passes = v.passes(a.trust.require_trusted);
    let verdict = if passes {
        format!(
            "valid; signed by \"{}\", signer {}",
            v.signer.as_deref().unwrap_or("?"),
            v.trust
        )
    } else if !v.signature_valid {
        "INVALID: the document changed since it was signed, or the signature is damaged".into()
    } else if !v.failures.is_empty() {
        format!("INVALID: {}", v.failures.join(", "))
    } else {
        format!("signer {}, and --require-trusted", v.trust)
    };
    let mut details = serde_json::to_value(&v).map_err(|e| CliError::Internal(e.to_string()))?;
    details["signature_file"] = json!(path.display().to_string());
    details["signature_file"] = json!(path.display().to_string());
    details["note"] = json!(format!("{}: {verdict}", path.display()));
    doc.results.push(ResultRow::plain(
        "provenance.results_signature",
        f64::from(u8::from(passes)),
        1,
        details,
    ));
    Ok((!passes).then(|| format!("{}: {verdict}", path.display())))
}

pub fn check(a: &ProvenanceCheckArgs) -> CliResult<ResultsDoc> {
    let started = Instant::now();
    let results = a.results.as_path();
    let bytes = read(results, "the results document")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Input(format!("{}: not UTF-8 text", results.display())))?;
    let recorded: Value = serde_json::from_str(text).map_err(|e| {
        CliError::Input(format!(
            "{}: not a results document (JSON): {e}",
            results.display()
        ))
    })?;
    let inputs = recorded["inputs"].as_array().ok_or_else(|| {
        CliError::Input(format!(
            "{}: no \"inputs\" list (write it with --json)",
            results.display()
        ))
    })?;
    let mut doc = ResultsDoc::new("provenance check", started);
    doc.add_input(&record_file(results)?);
    let (mut changed, mut missing) = (Vec::new(), 0usize);
    for (i, input) in inputs.iter().enumerate() {
        let (Some(path), Some(sha)) = (input["path"].as_str(), input["sha256"].as_str()) else {
            return Err(CliError::Input(format!(
                "{}: inputs[{i}] lacks path or sha256",
                results.display()
            )));
        };
        let p = Path::new(path);
        let (status, now) = if !p.is_file() {
            missing += 1;
            ("missing", None)
        } else {
            let now = sha256_of(p)?;
            if now == sha {
                ("match", Some(now))
            } else {
                changed.push(path.to_string());
                ("changed", Some(now))
            }
        };
        doc.results.push(ResultRow::plain(
            "provenance.input",
            f64::from(u8::from(status == "match")),
            1,
            json!({
            "path": path, "recorded_sha256": sha, "sha256_now": now, "status": status,
            "note": format!("{path}: {status}")}),
        ));
    }
    let mut failures = Vec::new();
    if !changed.is_empty() {
        failures.push(format!(
            "{} input(s) changed since the results were computed: {}",
            changed.len(),
            changed.join(", ")
        ));
    }
    failures.extend(check_signature(a, &bytes, &mut doc)?);
    if !failures.is_empty() {
        doc.failed = Some(failures.join("; "));
    }
    let matched = inputs.len() - changed.len() - missing;
    doc.results.insert(0, ResultRow::plain("provenance.inputs_matching", matched as f64, inputs.len(), json!({
        "changed": changed.len(), "missing": missing, "recorded_command": recorded["command_line"].clone(),
        "note": format!("{matched} of {} inputs match, {} changed, {missing} missing", inputs.len(), changed.len())})));
    doc.elapsed_s = started.elapsed().as_secs_f64();
    Ok(doc)
}
