//! Checkpoint bytes for tests: deterministic, distinct per seed/epoch, and a torch.save
//! style zip built member by member (for the readers' bounded and CRC paths).

use std::io::Write;

/// `len` varied bytes from `seed` (xorshift): distinct per seed, incompressible.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The bytes of save number `generation` of `epoch`: distinct for each pair, a few
/// chunks long (20,000 to 25,000 bytes).
pub fn generation(epoch: u64, generation: u64) -> Vec<u8> {
    let len = 20_000 + (epoch as usize * 37 + generation as usize * 11) % 5_000;
    (0..len)
        .map(|i| {
            ((i as u64).wrapping_mul(31)
                ^ epoch.wrapping_mul(7919)
                ^ generation.wrapping_mul(104_729)) as u8
        })
        .collect()
}

/// One zip member: name, compression method (0 stored, 8 deflate, other: left as is),
/// its uncompressed bytes, and the CRC to record (the real one unless overridden).
pub struct ZipMember<'a> {
    pub name: &'a str,
    pub method: u16,
    pub data: &'a [u8],
    pub crc: Option<u32>,
}

/// A zip laid out like torch.save's (local headers, central directory, end record).
pub fn torch_zip(members: &[ZipMember<'_>]) -> Vec<u8> {
    let mut z = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let stored = match m.method {
            8 => {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(m.data).unwrap();
                enc.finish().unwrap()
            }
            _ => m.data.to_vec(),
        };
        let crc = m.crc.unwrap_or_else(|| crc32fast::hash(m.data));
        let at = z.len() as u32;
        let fields = |v: &mut Vec<u8>| {
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&m.method.to_le_bytes());
            v.extend_from_slice(&[0, 0, 0, 0]); // time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            v.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        };
        z.extend_from_slice(b"PK\x03\x04");
        z.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut z);
        z.extend_from_slice(&0u16.to_le_bytes()); // extra
        z.extend_from_slice(m.name.as_bytes());
        z.extend_from_slice(&stored);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&[20, 0, 20, 0]);
        fields(&mut central);
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attrs
        central.extend_from_slice(&at.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_at = z.len() as u32;
    z.extend_from_slice(&central);
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0]);
    let n = members.len() as u16;
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&(central.len() as u32).to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}
