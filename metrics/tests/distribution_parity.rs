//! Parity of the distribution metrics with pytorch-fid, torch-fidelity and prdc, on the
//! feature sets in tests/parity/distribution (written by tests/parity/distribution_goldens.py,
//! which records the reference versions).

use assay_metrics::distribution::frechet::frechet_distance_of;
use assay_metrics::distribution::gaussian::GaussianStats;
use assay_metrics::distribution::inception_score::{inception_score, ScoreInput};
use assay_metrics::distribution::kid::{kid_with_subsets, Kernel};
use assay_metrics::distribution::prdc::{prdc, Prdc, PrdcConfig};
use assay_metrics::distribution::Features;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/distribution")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("goldens.json")).unwrap()).unwrap()
}

fn load(name: &Value) -> Features {
    let bytes = std::fs::read(dir().join(name.as_str().unwrap())).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let data: Vec<f32> = npy.into_vec().unwrap();
    Features::from_f32(shape[0] as usize, shape[1] as usize, data).unwrap()
}

/// The features `large_cases` in distribution_goldens.py generates, bit for bit:
/// [seed, rows, dim, "real" | "fake"].
fn hashed(spec: &Value) -> Features {
    let seed = spec[0].as_u64().unwrap();
    let (rows, dim) = (
        spec[1].as_u64().unwrap() as usize,
        spec[2].as_u64().unwrap() as usize,
    );
    let fake = spec[3] == "fake";
    let data = (0..(rows * dim) as u64)
        .map(|i| {
            let mut z = (seed << 40)
                .wrapping_add(i)
                .wrapping_add(0x9E3779B97F4A7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 * 2f32.powi(-24);
            if fake {
                (u * 1.1f32 - 0.05f32).max(0.0)
            } else {
                u
            }
        })
        .collect();
    Features::from_f32(rows, dim, data).unwrap()
}

/// A JSON list of row indices.
fn ids(x: &Value) -> Vec<usize> {
    x.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect()
}

fn subsets_of(v: &Value) -> Vec<(Vec<usize>, Vec<usize>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (ids(&p[0]), ids(&p[1])))
        .collect()
}

fn fd(a: &Features, b: &Features) -> f64 {
    frechet_distance_of(&GaussianStats::of(a), &GaussianStats::of(b))
        .unwrap()
        .value
}

#[test]
fn frechet_matches_pytorch_fid_where_it_is_well_conditioned() {
    let g = golden();
    for c in g["frechet"].as_array().unwrap() {
        let got = fd(&load(&c["a"]), &load(&c["b"]));
        let want = c["pytorch_fid"].as_f64().unwrap();
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "{}: {got} vs {want}",
            c["name"]
        );
    }
}

#[test]
fn frechet_is_closer_to_the_truth_than_scipy_where_it_is_not() {
    let g = golden();
    for c in g["frechet_ill_conditioned"].as_array().unwrap() {
        let got = fd(&load(&c["a"]), &load(&c["b"]));
        let truth = c["mpmath"].as_f64().unwrap();
        let scipy = c["pytorch_fid"].as_f64().unwrap();
        let (ours, theirs) = ((got - truth).abs(), (scipy - truth).abs());
        eprintln!(
            "{}: assay error {ours:.3e}, pytorch-fid error {theirs:.3e}",
            c["name"]
        );
        assert!(got >= 0.0, "{}: negative FD {got}", c["name"]);
        assert!(
            ours <= theirs,
            "{}: assay off by {ours:e}, pytorch-fid by {theirs:e}",
            c["name"]
        );
        assert!(
            ours <= 1e-9 * truth.abs().max(1.0),
            "{}: assay off by {ours:e}",
            c["name"]
        );
    }
}

#[test]
fn kid_matches_torch_fidelity_on_the_same_subsets() {
    let g = golden();
    let k = &g["kid"];
    let subsets = subsets_of(&k["subsets"]);
    let r = kid_with_subsets(&load(&k["a"]), &load(&k["b"]), &subsets, Kernel::default()).unwrap();
    for (got, want) in [
        (r.mean, k["mean"].as_f64().unwrap()),
        (r.std, k["std"].as_f64().unwrap()),
    ] {
        assert!(((got - want) / want).abs() < 1e-9, "{got} vs {want}");
    }
}

#[test]
fn inception_score_matches_torch_fidelity_with_its_permutation() {
    let g = golden();
    let c = &g["isc"];
    let f = load(&c["logits"]);
    let perm = ids(&c["permutation"]);
    let s = inception_score(
        &f.rows_f64(0, f.rows),
        f.rows,
        f.dim,
        ScoreInput::Logits,
        c["splits"].as_u64().unwrap() as usize,
        Some(&perm),
    )
    .unwrap();
    for (got, want) in [
        (s.mean, c["mean"].as_f64().unwrap()),
        (s.std, c["std"].as_f64().unwrap()),
    ] {
        assert!(((got - want) / want).abs() < 1e-9, "{got} vs {want}");
    }
}

/// Counts over the same neighbours: equal to the golden up to the division's last bit.
fn assert_prdc_equal(p: &Prdc, golden: &Value, case: &Value) {
    for (name, got) in [
        ("precision", p.precision),
        ("recall", p.recall),
        ("density", p.density),
        ("coverage", p.coverage),
    ] {
        let want = golden[name].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{case} {name}: {got} vs {want}");
    }
}

#[test]
fn prdc_matches_the_prdc_package_exactly() {
    let g = golden();
    for c in g["prdc"].as_array().unwrap() {
        let cfg = PrdcConfig {
            k: c["k"].as_u64().unwrap() as usize,
            block: 97,
            ..Default::default()
        };
        let p = prdc(&load(&c["real"]), &load(&c["fake"]), &cfg).unwrap();
        assert_prdc_equal(&p, c, &c["name"]);
    }
}

#[test]
fn large_sets_match_the_references_too() {
    let g = golden();
    let l = &g["large"];
    for c in l["frechet"].as_array().unwrap() {
        let got = fd(&hashed(&c["a"]), &hashed(&c["b"]));
        let want = c["pytorch_fid"].as_f64().unwrap();
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "FD {}: {got} vs {want}",
            c["a"]
        );
    }
    for c in l["prdc"].as_array().unwrap() {
        let cfg = PrdcConfig {
            k: c["k"].as_u64().unwrap() as usize,
            ..Default::default()
        };
        let p = prdc(&hashed(&c["real"]), &hashed(&c["fake"]), &cfg).unwrap();
        assert_prdc_equal(&p, c, &c["real"]);
    }
    for c in l["kid"].as_array().unwrap() {
        let subsets = subsets_of(&c["subsets"]);
        let r = kid_with_subsets(
            &hashed(&c["real"]),
            &hashed(&c["fake"]),
            &subsets,
            Kernel::default(),
        )
        .unwrap();
        for (got, want) in [
            (r.mean, c["mean"].as_f64().unwrap()),
            (r.std, c["std"].as_f64().unwrap()),
        ] {
            assert!(((got - want) / want).abs() < 1e-9, "KID: {got} vs {want}");
        }
    }
}

#[test]
fn numpy_random_state_draws_torch_fidelitys_subsets_and_permutation() {
    use assay_metrics::stats::numpy_random::RandomState;
    let g = golden();
    // KID: one RandomState(2020), a then b, subset after subset.
    let k = &g["kid"];
    let want = subsets_of(&k["subsets"]);
    let (na, nb) = (load(&k["a"]).rows, load(&k["b"]).rows);
    let size = want[0].0.len();
    let mut r = RandomState::new(2020);
    for (i, (a, b)) in want.iter().enumerate() {
        assert_eq!(
            &r.choice_without_replacement(na, size),
            a,
            "subset {i} of a"
        );
        assert_eq!(
            &r.choice_without_replacement(nb, size),
            b,
            "subset {i} of b"
        );
    }
    // IS: RandomState(2020).permutation(n).
    let c = &g["isc"];
    let perm = ids(&c["permutation"]);
    assert_eq!(RandomState::new(2020).permutation(perm.len()), perm);
}
