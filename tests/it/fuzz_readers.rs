//! Fuzz-style properties: the pickle reader and the zip reader never panic, whatever
//! bytes they get (random, or real fixture bytes mutated, truncated and spliced).

use crate::util;

use std::sync::OnceLock;

use ckpt::formats::pickle;
use ckpt::formats::torchzip::TorchZip;
use proptest::prelude::*;

/// (timm data.pkl, whole Lightning .ckpt zip) from the real fixtures, unpacked once.
fn seeds() -> &'static (Vec<u8>, Vec<u8>) {
    static SEEDS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let (_t, timm) = util::fixtures::unpack("timm-basic");
        let pkl = TorchZip::open(&timm.join("last.pth.tar"))
            .unwrap()
            .read_pickle()
            .unwrap();
        let (_l, root) = util::fixtures::unpack("lightning-basic");
        let zip = std::fs::read(root.join("version_0/checkpoints/last.ckpt")).unwrap();
        (pkl, zip)
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if data.is_empty() {
            break;
        }
        let len = data.len();
        match m {
            Mutation::Flip(i, b) => data[i % len] ^= b,
            Mutation::Set(i, b) => data[i % len] = *b,
            Mutation::Truncate(i) => data.truncate(i % len),
            Mutation::Insert(i, v) => {
                let at = i % len;
                data.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i % len;
                let end = (at + n).min(len);
                data.drain(at..end);
            }
        }
    }
    data
}

/// Open, list, read the pickle and CRC-check a zip written to a temp file.
fn exercise_zip(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.ckpt");
    std::fs::write(&p, bytes).unwrap();
    if let Ok(mut z) = TorchZip::open(&p) {
        let _ = z.pickle_entry();
        if let Ok(pkl) = z.read_pickle() {
            let _ = pickle::parse(&pkl);
        }
        let _ = z.verify();
    }
    let _ = ckpt::layout::check_file_integrity(&p);
    let _ = ckpt::formats::safetensors::check(&p);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn pickle_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = pickle::parse(&bytes);
    }

    #[test]
    fn pickle_never_panics_on_opcode_soup(
        ops in proptest::collection::vec(
            prop_oneof![
                Just(vec![b'(']), Just(vec![b'}']), Just(vec![b']']), Just(vec![b')']),
                Just(vec![b'e']), Just(vec![b'u']), Just(vec![b's']), Just(vec![b'a']),
                Just(vec![b't']), Just(vec![0x85]), Just(vec![0x86]), Just(vec![0x87]),
                Just(vec![b'R']), Just(vec![b'b']), Just(vec![0x81]), Just(vec![b'Q']),
                Just(vec![b'q', 0]), Just(vec![b'h', 0]), Just(vec![b'q', 1]), Just(vec![b'h', 1]),
                Just(vec![0x94]), Just(vec![b'N']), Just(vec![b'K', 7]), Just(vec![b'2']),
                Just(vec![b'0']), Just(vec![b'1']), Just(vec![0x93]),
                Just(vec![0x8c, 1, b'x']), Just(vec![b'c', b'm', b'\n', b'n', b'\n']),
            ],
            0..200,
        )
    ) {
        let mut bytes = vec![0x80, 4];
        for op in ops {
            bytes.extend(op);
        }
        bytes.push(b'.');
        let _ = pickle::parse(&bytes);
    }

    #[test]
    fn pickle_never_panics_on_a_mutated_real_pickle(muts in proptest::collection::vec(mutation(), 1..6)) {
        let bytes = apply(seeds().0.clone(), &muts);
        let _ = pickle::parse(&bytes);
        let _ = pickle::parse_keys(&bytes, &["epoch", "saver"]);
    }

    #[test]
    fn zip_reader_never_panics_on_a_mutated_real_checkpoint(muts in proptest::collection::vec(mutation(), 1..6)) {
        exercise_zip(&apply(seeds().1.clone(), &muts));
    }

    #[test]
    fn zip_reader_never_panics_on_random_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..400), pk in any::<bool>()) {
        if pk && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(b"PK\x03\x04");
            let n = bytes.len();
            if n >= 26 {
                bytes[n - 22..n - 18].copy_from_slice(&0x0605_4b50u32.to_le_bytes());
            }
        }
        exercise_zip(&bytes);
    }
}

#[test]
fn the_real_pickles_parse_to_the_expected_data() {
    let v = pickle::parse(&seeds().0).unwrap();
    assert_eq!(v.get("epoch").and_then(|e| e.as_i64()), Some(7));
    assert_eq!(v.get("metric").and_then(|e| e.as_f64()), Some(35.0));
    assert_eq!(v.get("arch").and_then(|e| e.as_str()), Some("test_resnet"));
    let saver = v.get("saver").unwrap();
    assert_eq!(saver.get("best_epoch").and_then(|e| e.as_i64()), Some(5));
    // Tensors are persistent ids: opaque, never loaded.
    let sd = v.get("state_dict").and_then(|s| s.as_dict()).unwrap();
    assert!(!sd.is_empty());
    // Selective parse: the same facts, without building the state dict.
    let k = pickle::parse_keys(&seeds().0, &["epoch", "saver"]).unwrap();
    assert_eq!(k.get("epoch"), v.get("epoch"));
    assert_eq!(k.get("saver"), v.get("saver"));
    assert!(k.get("state_dict").is_none());
}

#[test]
fn exponential_memo_sharing_is_bounded() {
    // l0 = [x]; l1 = [l0, l0]; l2 = [l1, l1]; ... 60 levels => 2^60 leaves if copied.
    let mut p = vec![0x80, 2, 0x8c, 200];
    p.extend(std::iter::repeat_n(b'a', 200));
    p.extend([b'q', 0]);
    for i in 0..60u8 {
        p.extend([b']', b'(', b'h', i, b'h', i, b'e', b'q', i + 1]);
    }
    p.push(b'.');
    let e = pickle::parse(&p).unwrap_err();
    assert!(e.reason.contains("too many"), "{e}");
}
