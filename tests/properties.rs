//! Property tests over the three parsers of untrusted input — IDX files, the architecture notation,
//! model files: any bytes give a value or an error, never a panic, and valid inputs round-trip.
//! (cargo-fuzz needs a nightly toolchain; these run on stable, in CI, with `PROPTEST_CASES` to
//! run longer.)

use mnistlab::data::idx::{decompress, encode_idx, parse_idx};
use mnistlab::data::Dataset;
use mnistlab::model::{load_bytes, notation, save, ModelConfig, Normalization, Sequential};
use proptest::prelude::*;
use std::path::Path;

fn a_model_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let model = Sequential::new(
        ModelConfig::new("4C3-BN-ReLU-MP2-D10", Dataset::Mnist, Normalization::MinMax),
        1,
    )
    .unwrap();
    save(&model, &path).unwrap();
    std::fs::read(path).unwrap()
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..70, 1usize..8).prop_map(|(n, k)| format!("{n}C{k}")),
        (1usize..70, 1usize..6, 1usize..4).prop_map(|(n, k, s)| format!("{n}C{k}s{s}")),
        Just("BN".to_string()),
        Just("ReLU".to_string()),
        (1usize..5).prop_map(|k| format!("MP{k}")),
        Just("GAP".to_string()),
        Just("F".to_string()),
        (1usize..300).prop_map(|n| format!("D{n}")),
        (0.0f32..1.2).prop_map(|p| format!("Drop{p}")),
        "[A-Za-z0-9.]{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn idx_parser_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(idx) = parse_idx(Path::new("x"), bytes.clone()) {
            prop_assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>());
        }
        let _ = decompress(Path::new("x.gz"), bytes);
    }

    #[test]
    fn idx_parser_survives_damaged_valid_files(
        dims in proptest::collection::vec(1usize..6, 1..4),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let len: usize = dims.iter().product();
        let good = encode_idx(&dims, &vec![7; len]);
        prop_assert_eq!(parse_idx(Path::new("x"), good.clone()).unwrap().dims, dims);
        let _ = parse_idx(Path::new("x"), good[..cut.index(good.len())].to_vec());
        let mut bad = good.clone();
        bad[flip.index(good.len())] = value;
        let _ = parse_idx(Path::new("x"), bad);
    }

    #[test]
    fn notation_parses_or_names_a_token_and_builds_or_refuses(tokens in proptest::collection::vec(token(), 1..8)) {
        let text = tokens.join("-");
        match notation::parse(&text) {
            Ok(specs) => {
                prop_assert_eq!(notation::parse(&notation::render(&specs)).unwrap(), specs);
                let _ = Sequential::new(ModelConfig::new(&text, Dataset::Mnist, Normalization::None), 0);
            }
            Err(e) => prop_assert!(e.to_string().contains("token") || e.to_string().contains("empty"), "{}", e),
        }
    }

    #[test]
    fn model_loader_never_panics_on_damaged_files(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let good = a_model_file();
        prop_assert!(load_bytes(Path::new("m"), &good).is_ok());
        let _ = load_bytes(Path::new("m"), &good[..cut.index(good.len())]);
        let mut bad = good.clone();
        for (at, v) in flips {
            let i = at.index(bad.len());
            bad[i] = v;
        }
        let _ = load_bytes(Path::new("m"), &bad);
    }

    #[test]
    fn model_loader_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(load_bytes(Path::new("m"), &bytes).is_err());
    }
}
