//! `check_file_integrity`: torch zip CRCs and safetensors headers on real fixture files,
//! and on truncated, zero-byte and bit-flipped copies of them.

use std::fs;
use std::path::Path;

use crate::util::fixtures::unpack;
use ckpt::formats::torchzip::TorchZip;
use ckpt::layout::{self, check_file_integrity};
use ckpt::snapshot::CheckpointState;

fn truncate_copy(src: &Path, dest: &Path, keep: usize) {
    let data = fs::read(src).unwrap();
    fs::write(dest, &data[..keep.min(data.len())]).unwrap();
}

#[test]
fn intact_fixture_files_pass() {
    let (_t, timm) = unpack("timm-basic");
    for f in [
        "checkpoint-3.pth.tar",
        "checkpoint-4.pth.tar",
        "checkpoint-5.pth.tar",
        "last.pth.tar",
        "model_best.pth.tar",
        "recovery-2-1.pth.tar",
    ] {
        assert_eq!(check_file_integrity(&timm.join(f)), None, "{f}");
    }
    let (_l, lightning) = unpack("lightning-basic");
    for e in fs::read_dir(lightning.join("version_0/checkpoints")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(check_file_integrity(&p), None, "{}", p.display());
    }
    let (_h, hf) = unpack("hf-basic");
    for f in [
        "model.safetensors",
        "optimizer.pt",
        "training_args.bin",
        "rng_state.pth",
    ] {
        let p = hf.join("checkpoint-20").join(f);
        assert_eq!(check_file_integrity(&p), None, "{}", p.display());
    }
    // Formats we do not know are not judged.
    assert_eq!(check_file_integrity(&timm.join("summary.csv")), None);
    assert_eq!(
        check_file_integrity(&hf.join("checkpoint-20/trainer_state.json")),
        None
    );
}

#[test]
fn truncated_and_zero_byte_timm_copies_are_damaged_with_a_reason() {
    let (_t, timm) = unpack("timm-basic");
    let src = timm.join("checkpoint-3.pth.tar");
    let len = fs::metadata(&src).unwrap().len() as usize;
    for keep in [len - 1, len - 22, len / 2, 100, 3] {
        let dest = timm.join(format!("cut-{keep}.pth.tar"));
        truncate_copy(&src, &dest, keep);
        let why = check_file_integrity(&dest).unwrap_or_else(|| panic!("{keep} bytes passed"));
        assert!(
            why.contains("truncated") || why.contains("corrupt") || why.contains("not a zip"),
            "{keep}: {why}"
        );
    }
    let cut = timm.join("cut-half.pth.tar");
    truncate_copy(&src, &cut, len / 2);
    assert!(check_file_integrity(&cut).unwrap().contains("truncated"));

    let zero = timm.join("zero.pth.tar");
    fs::write(&zero, b"").unwrap();
    assert_eq!(
        check_file_integrity(&zero).as_deref(),
        Some("zero-byte file")
    );

    // The scan itself marks a zero-byte checkpoint damaged without opening it.
    fs::write(timm.join("checkpoint-6.pth.tar"), b"").unwrap();
    let s = layout::scan(&timm, None).unwrap();
    let c6 = s.checkpoints.iter().find(|c| c.epoch == Some(6)).unwrap();
    assert_eq!(c6.state, CheckpointState::Damaged);
    assert_eq!(c6.damage.as_deref(), Some("zero-byte file"));
    assert_eq!(s.best.unwrap().epoch, Some(5));
}

#[test]
fn a_flipped_byte_inside_a_member_fails_its_crc() {
    let (_t, timm) = unpack("timm-basic");
    let src = timm.join("checkpoint-4.pth.tar");
    let mut z = TorchZip::open(&src).unwrap();
    let pkl = z.pickle_entry().unwrap().clone();
    assert!(pkl.name.ends_with("/data.pkl"));
    // The largest member: a tensor storage; flip a byte in the middle of its data.
    let big = z.entries.iter().max_by_key(|e| e.size).unwrap().clone();
    let data = fs::read(&src).unwrap();
    let name_len = u16::from_le_bytes([
        data[big.local_header_offset as usize + 26],
        data[big.local_header_offset as usize + 27],
    ]) as usize;
    let extra_len = u16::from_le_bytes([
        data[big.local_header_offset as usize + 28],
        data[big.local_header_offset as usize + 29],
    ]) as usize;
    let start = big.local_header_offset as usize + 30 + name_len + extra_len;
    let mut bad = data.clone();
    bad[start + big.size as usize / 2] ^= 0x40;
    let dest = timm.join("flipped.pth.tar");
    fs::write(&dest, &bad).unwrap();
    let why = check_file_integrity(&dest).expect("flipped byte must fail");
    assert!(
        why.contains("CRC mismatch") && why.contains(&big.name),
        "{why}"
    );

    // Flip a byte of the pickle too: CRC catches it before anyone parses it.
    let mut bad = data;
    let pickle = z.read_pickle().unwrap();
    let at = bad
        .windows(pickle.len())
        .position(|w| w == pickle.as_slice())
        .unwrap();
    bad[at + 10] ^= 0x01;
    fs::write(&dest, &bad).unwrap();
    assert!(check_file_integrity(&dest).unwrap().contains("data.pkl"));
}

#[test]
fn safetensors_from_the_hf_fixture_passes_and_a_truncated_copy_fails() {
    let (_t, hf) = unpack("hf-basic");
    let src = hf.join("checkpoint-40/model.safetensors");
    assert_eq!(ckpt::formats::safetensors::check(&src), Ok(()));
    let len = fs::metadata(&src).unwrap().len() as usize;
    let dest = hf.join("cut.safetensors");
    for keep in [len - 1, len / 2, 9, 5, 0] {
        truncate_copy(&src, &dest, keep);
        let why = check_file_integrity(&dest).unwrap_or_else(|| panic!("{keep} bytes passed"));
        assert!(
            why.contains("truncated") || why.contains("zero-byte"),
            "{keep}: {why}"
        );
    }
    // Trailing garbage is damage too; a header that is not JSON says so.
    let mut data = fs::read(&src).unwrap();
    data.extend_from_slice(b"junk");
    fs::write(&dest, &data).unwrap();
    assert!(check_file_integrity(&dest).unwrap().contains("trailing"));
    let mut data = fs::read(&src).unwrap();
    data[8] = b'!';
    fs::write(&dest, &data).unwrap();
    assert!(check_file_integrity(&dest).unwrap().contains("not JSON"));
}

#[test]
fn not_a_zip_and_missing_files_are_reported_not_panicked() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("checkpoint-1.pth.tar");
    fs::write(&p, vec![0x80u8; 5000]).unwrap();
    // A legacy (pre-zip) torch file or random bytes: not a zip, so not judged by CRC.
    assert_eq!(check_file_integrity(&p), None);
    assert!(ckpt::formats::torchzip::verify_file(&p)
        .unwrap_err()
        .to_string()
        .contains("not a zip"));
    assert!(check_file_integrity(&t.path().join("missing.pth.tar")).is_some());
    assert_eq!(check_file_integrity(t.path()), None);
}
