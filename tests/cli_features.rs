//! End-to-end tests of `assay features ...` and `assay stats merge`.

mod common;

use common::{assay, json_of};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn parity(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity/distribution")
        .join(name)
        .display()
        .to_string()
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(parity("goldens.json")).unwrap()).unwrap()
}

fn write_npy(path: &Path, rows: usize, cols: usize, data: &[f64]) {
    use npyz::WriterBuilder;
    let mut f = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(&mut f)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// An .npz of integer arrays, as numpy's `np.savez` writes them.
fn write_index_npz(path: &Path, arrays: &[(&str, Vec<Vec<i64>>)]) {
    use npyz::WriterBuilder;
    let mut f = std::fs::File::create(path).unwrap();
    let mut w = npyz::npz::NpzWriter::new(&mut f);
    for (name, rows) in arrays {
        let mut a = w
            .array::<i64>(name, Default::default())
            .unwrap()
            .default_dtype()
            .shape(&[rows.len() as u64, rows[0].len() as u64])
            .begin_nd()
            .unwrap();
        a.extend(rows.iter().flatten().copied()).unwrap();
        a.finish().unwrap();
    }
    w.zip_writer().finish().unwrap();
}

fn read_f32(path: &str) -> (usize, usize, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let s = npy.shape().to_vec();
    let v: Vec<f32> = npy.into_vec().unwrap();
    (
        s[0] as usize,
        s[1] as usize,
        v.into_iter().map(f64::from).collect(),
    )
}

#[test]
fn fd_through_the_cli_matches_pytorch_fid() {
    let g = golden();
    for c in g["frechet"].as_array().unwrap() {
        let doc = json_of(&assay(&[
            "features",
            "fd",
            "--real",
            &parity(c["a"].as_str().unwrap()),
            "--fake",
            &parity(c["b"].as_str().unwrap()),
            "--bootstrap",
            "10",
            "--json",
            "-q",
        ]));
        let r = &doc["results"][0];
        let (got, want) = (
            r["value"].as_f64().unwrap(),
            c["pytorch_fid"].as_f64().unwrap(),
        );
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "{}: {got} vs {want}",
            c["name"]
        );
        let (lo, hi) = (
            r["ci_low"].as_f64().unwrap(),
            r["ci_high"].as_f64().unwrap(),
        );
        assert!(lo < got && got < hi, "{}: {lo} {got} {hi}", c["name"]);
        assert_eq!(doc["inputs"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn stats_files_are_pytorch_fid_shaped_and_merge_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols, data) = read_f32(&parity("gauss64_a.npy"));
    let half = rows / 3;
    let (p1, p2) = (dir.path().join("part1.npy"), dir.path().join("part2.npy"));
    write_npy(&p1, half, cols, &data[..half * cols]);
    write_npy(&p2, rows - half, cols, &data[half * cols..]);
    let s = |p: &Path| p.display().to_string();
    let (s1, s2, merged) = (
        dir.path().join("s1.npz"),
        dir.path().join("s2.npz"),
        dir.path().join("all.npz"),
    );
    json_of(&assay(&[
        "features",
        "stats",
        &s(&p1),
        "-o",
        &s(&s1),
        "--json",
    ]));
    json_of(&assay(&[
        "features",
        "stats",
        &s(&p2),
        "-o",
        &s(&s2),
        "--json",
    ]));
    let doc = json_of(&assay(&[
        "stats",
        "merge",
        &s(&s1),
        &s(&s2),
        "-o",
        &s(&merged),
        "--json",
    ]));
    assert_eq!(doc["results"][0]["n"], rows);
    // The merged stats give the same FD as the whole feature file.
    let b = parity("gauss64_b.npy");
    let whole = json_of(&assay(&[
        "features",
        "fd",
        "--real",
        &parity("gauss64_a.npy"),
        "--fake",
        &b,
        "--bootstrap",
        "0",
        "--json",
    ]));
    let from_stats = json_of(&assay(&[
        "features",
        "fd",
        "--real",
        &s(&merged),
        "--fake",
        &b,
        "--bootstrap",
        "0",
        "--json",
    ]));
    let (x, y) = (
        whole["results"][0]["value"].as_f64().unwrap(),
        from_stats["results"][0]["value"].as_f64().unwrap(),
    );
    assert!(((x - y) / x).abs() < 1e-10, "{x} vs {y}");
    // A stats file has no rows: PRDC needs features and says so.
    let out = assay(&["features", "prdc", "--real", &s(&merged), "--fake", &b]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stats only"));
}

#[test]
fn prdc_and_kid_through_the_cli() {
    let g = golden();
    let c = &g["prdc"][0];
    let doc = json_of(&assay(&[
        "features",
        "prdc",
        "--real",
        &parity(c["real"].as_str().unwrap()),
        "--fake",
        &parity(c["fake"].as_str().unwrap()),
        "--k",
        &c["k"].to_string(),
        "--json",
    ]));
    for r in doc["results"].as_array().unwrap() {
        let name = r["metric"].as_str().unwrap();
        assert!(
            (r["value"].as_f64().unwrap() - c[name].as_f64().unwrap()).abs() < 1e-12,
            "{name}"
        );
    }
    let k = &g["kid"];
    let (a, b) = (
        parity(k["a"].as_str().unwrap()),
        parity(k["b"].as_str().unwrap()),
    );
    let out = assay(&["features", "kid", "--real", &a, "--fake", &b]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "300 samples < default subset size 1000"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1000"));
    let doc = json_of(&assay(&[
        "features",
        "kid",
        "--real",
        &a,
        "--fake",
        &b,
        "--subset-size",
        "100",
        "--subsets",
        "20",
        "--json",
    ]));
    let v = doc["results"][0]["value"].as_f64().unwrap();
    // Other subsets than torch-fidelity's, same estimand: close to its mean.
    let want = k["mean"].as_f64().unwrap();
    assert!(
        (v - want).abs() < 3.0 * k["std"].as_f64().unwrap(),
        "{v} vs {want}"
    );

    // torch-fidelity's own subsets, given as indices: its mean and std to 1e-9.
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("subsets.npz");
    let side = |n: usize| -> Vec<Vec<i64>> {
        k["subsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                pair[n]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_i64().unwrap())
                    .collect()
            })
            .collect()
    };
    write_index_npz(&idx, &[("real", side(0)), ("fake", side(1))]);
    let idx_arg = idx.to_str().unwrap();
    let doc = json_of(&assay(&[
        "features",
        "kid",
        "--real",
        &a,
        "--fake",
        &b,
        "--subset-indices",
        idx_arg,
        "--json",
    ]));
    let r = &doc["results"][0];
    for (got, want) in [
        (r["value"].as_f64().unwrap(), want),
        (
            r["details"]["std"].as_f64().unwrap(),
            k["std"].as_f64().unwrap(),
        ),
    ] {
        assert!(((got - want) / want).abs() < 1e-9, "{got} vs {want}");
    }
    assert_eq!(
        doc["inputs"].as_array().unwrap().len(),
        3,
        "the index file is an input"
    );
    assert_eq!(r["details"]["subsets"], 10);

    // An index past the end of a set is an input error naming the file.
    write_index_npz(
        &idx,
        &[
            ("real", vec![vec![0, 1, 300]]),
            ("fake", vec![vec![0, 1, 2]]),
        ],
    );
    let out = assay(&[
        "features",
        "kid",
        "--real",
        &a,
        "--fake",
        &b,
        "--subset-indices",
        idx_arg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("subsets.npz") && err.contains("index 300"),
        "{err}"
    );
}

#[test]
fn inception_score_of_confident_diverse_logits_is_the_class_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("logits.npy");
    let data: Vec<f64> = (0..100)
        .flat_map(|i| (0..5).map(move |c| if c == i % 5 { 40.0 } else { -40.0 }))
        .collect();
    write_npy(&p, 100, 5, &data);
    let doc = json_of(&assay(&[
        "features",
        "is",
        "--logits",
        p.to_str().unwrap(),
        "--splits",
        "4",
        "--json",
    ]));
    assert!((doc["results"][0]["value"].as_f64().unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn bad_feature_inputs_exit_2_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let nan = d.join("nan.npy");
    write_npy(&nan, 3, 2, &[0.0, 1.0, 2.0, f64::NAN, 4.0, 5.0]);
    let small = d.join("small.npy");
    write_npy(&small, 3, 3, &[0.0; 9]);
    let empty = d.join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    let garbage = d.join("garbage.npy");
    std::fs::write(&garbage, b"not an npy file at all").unwrap();
    let txt = d.join("x.txt");
    std::fs::write(&txt, b"1 2 3").unwrap();
    let a = parity("gauss64_a.npy");
    let s = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "fd".into(),
                "--real".into(),
                s(&nan),
                "--fake".into(),
                s(&nan),
            ],
            "row 1, column 1 (counting from 0, as numpy does) is not finite",
        ),
        (
            vec![
                "fd".into(),
                "--real".into(),
                a.clone(),
                "--fake".into(),
                s(&small),
            ],
            "64-dimensional features but",
        ),
        (
            vec![
                "fd".into(),
                "--real".into(),
                s(&empty),
                "--fake".into(),
                a.clone(),
            ],
            "empty",
        ),
        (
            vec![
                "fd".into(),
                "--real".into(),
                s(&garbage),
                "--fake".into(),
                a.clone(),
            ],
            "garbage.npy",
        ),
        (
            vec![
                "fd".into(),
                "--real".into(),
                s(&txt),
                "--fake".into(),
                a.clone(),
            ],
            "unknown feature format",
        ),
        (
            vec![
                "prdc".into(),
                "--real".into(),
                s(&small),
                "--fake".into(),
                s(&small),
            ],
            "at least 6 samples",
        ),
        (
            vec![
                "prdc".into(),
                "--real".into(),
                a.clone(),
                "--fake".into(),
                a.clone(),
                "--device".into(),
                "tpu".into(),
            ],
            "unknown device 'tpu'",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["features".to_string()];
        full.extend(args);
        let out = assay(&full.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {err}");
        assert!(
            err.contains(needle),
            "{full:?}: expected '{needle}' in {err}"
        );
    }
}

#[test]
fn parquet_list_and_fixed_size_list_columns_read_like_npy() {
    use polars::prelude::*;
    let g = golden();
    let c = &g["frechet"][0];
    let a = parity(c["a"].as_str().unwrap());
    let b = parity(c["b"].as_str().unwrap());
    let (rows, dim, values) = read_f32(&a);
    // One row per sample: a variable-length list column (f64), a fixed-size list column (f32,
    // what pyarrow writes for embeddings), and a string column that is not features.
    let lists: Vec<Series> = values
        .chunks_exact(dim)
        .map(|r| Series::new("".into(), r))
        .collect();
    let list = Series::new("emb_list".into(), lists);
    let array = list
        .cast(&DataType::Array(Box::new(DataType::Float32), dim))
        .unwrap()
        .with_name("emb_array".into());
    let ids = Series::new(
        "id".into(),
        (0..rows).map(|i| format!("img{i}")).collect::<Vec<_>>(),
    );
    let mut df = DataFrame::new(rows, vec![list.into(), array.into(), ids.into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("feats.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let fd_with = |real: &str| {
        let doc = json_of(&assay(&[
            "features",
            "fd",
            "--real",
            real,
            "--fake",
            &b,
            "--bootstrap",
            "0",
            "--json",
        ]));
        doc["results"][0]["value"].as_f64().unwrap()
    };
    let want = fd_with(&a);
    // Without a CUDA build, asking for the GPU is a usage error that says how to get one; the
    // CPU run records its device.
    let out = assay(&[
        "features", "fd", "--real", &a, "--fake", &b, "--device", "cuda",
    ]);
    if out.status.code() == Some(2) {
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
    }
    let doc = json_of(&assay(&[
        "features",
        "kid",
        "--real",
        &a,
        "--fake",
        &b,
        "--subsets",
        "3",
        "--device",
        "cpu",
        "--json",
    ]));
    assert_eq!(doc["device"], "cpu");
    let pq = pq.to_str().unwrap();
    for col in ["emb_list", "emb_array"] {
        let got = fd_with(&format!("{pq}:{col}"));
        assert!(
            ((got - want) / want).abs() < 1e-12,
            "{col}: {got} vs {want}"
        );
    }
    let out = assay(&[
        "features",
        "fd",
        "--real",
        &format!("{pq}:id"),
        "--fake",
        &b,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'id'") && err.contains("not lists of numbers"),
        "{err}"
    );
    let out = assay(&["features", "fd", "--real", pq, "--fake", &b]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("columns: emb_list, emb_array, id"));
    // Rows of different lengths are not a matrix: the error names the row.
    let ragged = Series::new(
        "emb".into(),
        vec![
            Series::new("".into(), &[1.0f64, 2.0, 3.0]),
            Series::new("".into(), &[4.0f64, 5.0]),
        ],
    );
    let mut df = DataFrame::new(2, vec![ragged.into()]).unwrap();
    let bad = dir.path().join("ragged.parquet");
    ParquetWriter::new(std::fs::File::create(&bad).unwrap())
        .finish(&mut df)
        .unwrap();
    let out = assay(&[
        "features",
        "fd",
        "--real",
        bad.to_str().unwrap(),
        "--fake",
        &b,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ragged.parquet") && err.contains("row 1 (counting from 0) has 2 values"),
        "{err}"
    );
}

/// An .npy written byte by byte, for layouts npyz's writer does not produce (Fortran order,
/// big-endian) and for broken files.
fn raw_npy(path: &Path, descr: &str, fortran: bool, shape: (usize, usize), data: &[u8]) {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}, {}), }}",
        if fortran { "True" } else { "False" },
        shape.0,
        shape.1
    );
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn fortran_order_and_big_endian_npy_read_as_numpy_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (rows, cols) = (40, 3);
    // Deliberately lopsided columns, so a transposed or byte-swapped read changes the FD.
    let x: Vec<f64> = (0..rows * cols)
        .map(|k| ((k * 37 % 101) as f64) * (1 + k % cols) as f64 / 7.0)
        .collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(k, v)| v * 1.1 + (k % 5) as f64)
        .collect();
    let (c_order, fortran, big, other) = (
        d.join("c.npy"),
        d.join("f.npy"),
        d.join("be.npy"),
        d.join("y.npy"),
    );
    write_npy(&c_order, rows, cols, &x);
    write_npy(&other, rows, cols, &y);
    // Column-major bytes of the same array.
    let col_major: Vec<u8> = (0..cols)
        .flat_map(|j| (0..rows).map(move |i| (i, j)))
        .flat_map(|(i, j)| x[i * cols + j].to_le_bytes())
        .collect();
    raw_npy(&fortran, "<f8", true, (rows, cols), &col_major);
    let be: Vec<u8> = x.iter().flat_map(|v| v.to_be_bytes()).collect();
    raw_npy(&big, ">f8", false, (rows, cols), &be);
    let fd = |real: &Path| {
        let out = assay(&[
            "features",
            "fd",
            "--real",
            &real.display().to_string(),
            "--fake",
            &other.display().to_string(),
            "--bootstrap",
            "0",
            "--json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_of(&out)["results"][0]["value"].as_f64().unwrap()
    };
    let want = fd(&c_order);
    assert!(want > 1.0, "the test needs distinct sets, got FD {want}");
    assert_eq!(fd(&fortran), want);
    assert_eq!(fd(&big), want);

    // A file whose data stops short of its shape is exit 2, saying so.
    let short = d.join("short.npy");
    raw_npy(&short, "<f8", false, (rows, cols), &be[..be.len() - 8]);
    let out = assay(&[
        "features",
        "fd",
        "--real",
        &short.display().to_string(),
        "--fake",
        &other.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("short.npy") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn kid_with_torch_fidelitys_own_subsets_needs_no_index_file() {
    let g = golden();
    let k = &g["kid"];
    let file = |v: &Value| parity(v.as_str().unwrap());
    let out = assay(&[
        "features",
        "kid",
        "--real",
        &file(&k["a"]),
        "--fake",
        &file(&k["b"]),
        "--subsets",
        "10",
        "--subset-size",
        "100",
        "--torch-fidelity-subsets",
        "--json",
    ]);
    let doc = json_of(&out);
    let got = doc["results"][0]["value"].as_f64().unwrap();
    let want = k["mean"].as_f64().unwrap();
    assert!(
        ((got - want) / want).abs() < 1e-9,
        "{got} vs torch-fidelity {want}"
    );
    assert_eq!(doc["seed"], 2020);
}

#[test]
fn inception_score_with_torch_fidelitys_shuffle_matches_it() {
    let g = golden();
    let c = &g["isc"];
    let out = assay(&[
        "features",
        "is",
        "--logits",
        &parity(c["logits"].as_str().unwrap()),
        "--torch-fidelity-shuffle",
        "--json",
    ]);
    let doc = json_of(&out);
    let r = &doc["results"][0];
    for (got, want) in [
        (r["value"].as_f64().unwrap(), c["mean"].as_f64().unwrap()),
        (
            r["details"]["std"].as_f64().unwrap(),
            c["std"].as_f64().unwrap(),
        ),
    ] {
        assert!(
            ((got - want) / want).abs() < 1e-9,
            "{got} vs torch-fidelity {want}"
        );
    }
    assert_eq!(doc["seed"], 2020);
}
