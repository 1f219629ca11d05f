//! Property tests: the param and bin parsers return errors, never panic, on any input.
//! Bounded (a few thousand cases) so CI stays fast.

use ncnnq::model;
use proptest::prelude::*;

const SEED_PARAM: &str = "7767517\n4 5\nInput data 0 1 data 0=8 1=8 2=3\n\
Convolution conv 1 1 data c -23330=4,3,8,8,4 0=4 1=3 4=1 5=1 6=108 9=2 -23310=1,1.000000e-01\n\
Split sp 1 2 c c0 c1\nConcat cat 2 1 c0 c1 out 0=0\n";

fn seed_bin() -> Vec<u8> {
    let mut g = model::parse_param(SEED_PARAM.as_bytes(), "seed").unwrap();
    model::random_weights::fill_random_weights(&mut g, 1).unwrap();
    model::bin_file::write_weights(&g, model::Storage::Keep).unwrap()
}

fn load(param: &[u8], bin: &[u8]) {
    if let Ok(mut g) = model::parse_param(param, "fuzz.param") {
        let _ = model::bin_file::read_weights(&mut g, bin, "fuzz.bin");
        let _ = model::param_text::write(&g);
        let _ = model::param_bin::write(&g);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        load(&bytes, &bytes);
    }

    #[test]
    fn mutated_text_params_never_panic(
        edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..6),
        cut in 0usize..400,
    ) {
        let mut p = SEED_PARAM.as_bytes().to_vec();
        for (pos, byte) in edits {
            let i = pos % p.len();
            p[i] = byte;
        }
        p.truncate(cut.max(1).min(p.len()));
        load(&p, &seed_bin());
    }

    #[test]
    fn mutated_binary_params_and_bins_never_panic(
        edits in proptest::collection::vec((0usize..4000, any::<u8>()), 1..6),
        cut in 0usize..4000,
    ) {
        let g = model::parse_param(SEED_PARAM.as_bytes(), "seed").unwrap();
        let mut p = model::param_bin::write(&g).unwrap();
        let mut b = seed_bin();
        for (pos, byte) in &edits {
            let i = pos % p.len();
            p[i] = *byte;
            let j = pos % b.len();
            b[j] = *byte;
        }
        b.truncate(cut.min(b.len()));
        load(&p, &b);
    }
}
