//! False positives of Assay's image watermark on 1,000 unmarked images: none at the stated
//! threshold. Hosts: crops of the parity photographs and flat graphic at many positions and
//! sizes (each crop moves the host under the keyed cell grid, so each is a new trial for the
//! detector), half of them mirrored; every detector geometry hypothesis is tried on each.

use std::path::Path;

use assay_provenance::watermark::robustness::DETECTION_ALPHA;
use assay_provenance::watermark::spread_spectrum::{detect, geometries, SpreadSpectrumKey};
use image::imageops;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[test]
fn no_false_positive_on_1000_unmarked_images() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parity");
    let hosts: Vec<image::RgbImage> = [
        "watermark/images/host_china_300x220.png",
        "watermark/images/host_flower_258x262.png",
        "watermark/images/host_grey_256x256.png",
        "watermark/images/host_flat_320x244.png",
        "images/china_400x300.png",
    ]
    .iter()
    .map(|f| image::open(dir.join(f)).unwrap().to_rgb8())
    .collect();
    let key = SpreadSpectrumKey::new("false-positive-test-key");
    let mut rng = ChaCha20Rng::seed_from_u64(1000);
    let (mut decoded, mut tried) = (0, 0);
    for i in 0..1000 {
        let host = &hosts[i % hosts.len()];
        let w = rng.random_range(128..=host.width().min(256));
        let h = rng.random_range(128..=host.height().min(256));
        let (x, y) = (
            rng.random_range(0..=host.width() - w),
            rng.random_range(0..=host.height() - h),
        );
        let mut crop = imageops::crop_imm(host, x, y, w, h).to_image();
        if i % 2 == 1 {
            imageops::flip_horizontal_in_place(&mut crop);
        }
        let d = detect(&crop, &key, None).unwrap();
        assert_eq!(
            d.hypotheses_tried,
            geometries().len(),
            "every hypothesis is tried when nothing decodes"
        );
        decoded += usize::from(d.detected);
        tried += d.hypotheses_tried;
        assert!(
            !(d.detected && d.p_value < DETECTION_ALPHA),
            "image {i}: {d:?}"
        );
    }
    assert_eq!(decoded, 0);
    // The bound the detector states: each hypothesis passes the 32-bit check with 2^-32.
    assert!(tried as f64 * 2f64.powi(-32) < 1e-4);
}
