//! Bounded parsers: a hostile pickle costs a capped, small multiple
//! of its size; trainer files are read up to a cap and say so; `verify` checks the CRC
//! of deflated zip members too and names the members it could not check.

use crate::util::cli::Dir;
use crate::util::payload::{torch_zip as zip, ZipMember as Member};

const PICKLE: &[u8] = b"\x80\x02}q\x00(X\x05\x00\x00\x00epochq\x01K\x03u.";

#[test]
fn verify_checks_the_crc_of_deflated_members() {
    let d = Dir::new("deflated");
    let tensor = vec![7u8; 100_000];
    let good = zip(&[
        Member {
            name: "archive/data.pkl",
            method: 0,
            data: PICKLE,
            crc: None,
        },
        Member {
            name: "archive/data/0",
            method: 8,
            data: &tensor,
            crc: None,
        },
    ]);
    let bad = zip(&[
        Member {
            name: "archive/data.pkl",
            method: 0,
            data: PICKLE,
            crc: None,
        },
        Member {
            name: "archive/data/0",
            method: 8,
            data: &tensor,
            crc: Some(0xdead_beef),
        },
    ]);
    let odd = zip(&[
        Member {
            name: "archive/data.pkl",
            method: 0,
            data: PICKLE,
            crc: None,
        },
        Member {
            name: "archive/data/1",
            method: 14,
            data: b"lzma bytes",
            crc: None,
        },
    ]);
    let g = d.create("good.pth.tar", &good);
    let b = d.create("bad.pth.tar", &bad);
    let o = d.create("odd.pth.tar", &odd);
    assert_eq!(
        ckpt::formats::torchzip::verify_file(&g).unwrap(),
        Vec::<String>::new()
    );
    let err = ckpt::formats::torchzip::verify_file(&b)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CRC mismatch in member archive/data/0"),
        "{err}"
    );
    let unchecked = ckpt::formats::torchzip::verify_file(&o).unwrap();
    assert_eq!(
        unchecked,
        vec!["archive/data/1 (compression method 14)".to_string()]
    );

    // Through `ckpt verify` on a timm run: the deflated damage is found (exit 3), and a
    // member it cannot inflate is named.
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("checkpoint-3.pth.tar"), &bad).unwrap();
    std::fs::write(run.join("checkpoint-4.pth.tar"), &odd).unwrap();
    let out = d.command().args(["verify", "run"]).assert_exit(3);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("CRC mismatch in member archive/data/0"),
        "{text}"
    );
    assert!(text.contains("compression method 14"), "{text}");
}

#[test]
fn a_hostile_pickle_is_refused_within_the_memory_cap() {
    // 16 MiB of EMPTY_LIST: each opcode byte made an ~80-byte node (1.3 GB here).
    let mut hostile = b"\x80\x02".to_vec();
    hostile.resize(16 << 20, b']');
    hostile.push(b'.');
    let err = ckpt::formats::pickle::parse_keys(&hostile, &["epoch"]).unwrap_err();
    assert!(err.reason.contains("MiB of memory"), "{err}");
    assert_eq!(
        ckpt::formats::pickle::machine_limit(hostile.len()),
        ckpt::formats::pickle::MAX_MACHINE_BYTES
    );

    // In a run: `ckpt ls` still lists it, with a warning naming the file.
    let d = Dir::new("hostile-pickle");
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    let ok = zip(&[Member {
        name: "archive/data.pkl",
        method: 0,
        data: PICKLE,
        crc: None,
    }]);
    std::fs::write(run.join("checkpoint-3.pth.tar"), &ok).unwrap();
    let evil = zip(&[Member {
        name: "archive/data.pkl",
        method: 0,
        data: &hostile,
        crc: None,
    }]);
    std::fs::write(run.join("last.pth.tar"), &evil).unwrap();
    let ls = d.command().args(["ls", "run", "--json"]).json();
    let warnings = ls["warnings"].to_string();
    assert!(
        warnings.contains("last.pth.tar") && warnings.contains("MiB of memory"),
        "{warnings}"
    );
}

#[test]
fn trainer_files_over_the_cap_are_not_read_and_say_so() {
    let d = Dir::new("big-state");
    let run = d.unpack("hf-basic");
    // A trainer_state.json past the cap (sparse: no disk used).
    let p = run.join("checkpoint-40/trainer_state.json");
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(ckpt::layout::hf::MAX_TRAINER_STATE + 1).unwrap();
    let ls = d.command().args(["ls", "hf-basic", "--json"]).json();
    let warnings = ls["warnings"].to_string();
    assert!(warnings.contains("more than the"), "{warnings}");
    // timm: an oversized summary.csv and args.yaml are not read either.
    let t = d.unpack("timm-basic");
    for name in ["summary.csv", "args.yaml"] {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(t.join(name))
            .unwrap();
        f.set_len(ckpt::layout::common::MAX_TRAINER_FILE + 1)
            .unwrap();
    }
    let ls = d.command().args(["ls", "timm-basic", "--json"]).json();
    let warnings = ls["warnings"].to_string();
    assert!(
        warnings.contains("summary.csv") && warnings.contains("more than the"),
        "{warnings}"
    );
    assert!(
        warnings.contains("args.yaml") && warnings.contains("more than the"),
        "{warnings}"
    );
}
