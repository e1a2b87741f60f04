//! Regenerates reference/data/hmm.json, the committed parameters of the default HMM, from its
//! seed: `cargo run -p assay-reference --example write_hmm`.

use assay_reference::data::hmm_text::{Hmm, DEFAULT_SEED};

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hmm.json");
    let json = serde_json::to_string_pretty(&Hmm::generate(DEFAULT_SEED)).expect("serialises");
    std::fs::write(path, json + "\n").expect("writes reference/data/hmm.json");
    println!("wrote {path}");
}
