//! The zip container `torch.save` writes: read its central directory (zip64 included),
//! find the `*/data.pkl` member, and CRC32-check every member.
//!
//! torch stores members uncompressed, so a stored member's bytes are read straight from
//! the file; nothing here trusts a size or offset without checking it against the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most central-directory entries we accept (a torch zip has one per tensor storage).
const MAX_ENTRIES: u64 = 10_000_000;
/// The largest central directory we read into memory.
const MAX_CENTRAL_DIR: u64 = 256 << 20;
/// The largest `data.pkl` we read into memory.
const MAX_PICKLE: u64 = 64 << 20;

/// One member of the archive, as its central directory entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    /// 0 = stored, 8 = deflate, …
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub local_header_offset: u64,
}

/// Why a zip could not be read or checked; `Display` is the reason shown to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipError(pub String);

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZipError {}

fn zerr<T>(msg: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError(msg.into()))
}

fn io_err(what: &str, e: std::io::Error) -> ZipError {
    ZipError(format!("{what}: {e}"))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// True when the file starts like a zip (local file header signature).
pub(crate) fn looks_like_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// An open torch zip with its member list.
#[derive(Debug)]
pub struct TorchZip {
    file: File,
    len: u64,
    pub entries: Vec<ZipEntry>,
}

impl TorchZip {
    /// Open and read the central directory.
    pub fn open(path: &Path) -> Result<TorchZip, ZipError> {
        let file = File::open(path).map_err(|e| io_err("cannot open", e))?;
        TorchZip::from_file(file)
    }

    pub fn from_file(mut file: File) -> Result<TorchZip, ZipError> {
        let len = file.metadata().map_err(|e| io_err("cannot stat", e))?.len();
        if len == 0 {
            return zerr("zero-byte file");
        }
        if len < 22 {
            return zerr(format!("truncated: {len} bytes is too short for a zip"));
        }
        let tail_len = len.min(22 + 65535);
        let tail = read_at(&mut file, len - tail_len, tail_len as usize)?;
        let Some(eocd) = (0..=tail.len() - 22)
            .rev()
            .find(|&i| u32_at(&tail, i) == 0x0605_4b50)
        else {
            return zerr(if looks_like_zip_start(&mut file) {
                "truncated: no end of central directory (the file was cut short)"
            } else {
                "not a zip archive (no end of central directory)"
            });
        };
        let eocd_pos = len - tail_len + eocd as u64;
        let mut count = u64::from(u16_at(&tail, eocd + 10));
        let mut cd_size = u64::from(u32_at(&tail, eocd + 12));
        let mut cd_offset = u64::from(u32_at(&tail, eocd + 16));
        if (count == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff) && eocd >= 20 {
            // zip64: the locator sits right before the EOCD.
            let loc = eocd - 20;
            if u32_at(&tail, loc) == 0x0706_4b50 {
                let rec_pos = u64_at(&tail, loc + 8);
                if rec_pos.saturating_add(56) > len {
                    return zerr("truncated: zip64 end record lies past the end of the file");
                }
                let rec = read_at(&mut file, rec_pos, 56)?;
                if u32_at(&rec, 0) != 0x0606_4b50 {
                    return zerr("corrupt zip64 end of central directory");
                }
                count = u64_at(&rec, 32);
                cd_size = u64_at(&rec, 40);
                cd_offset = u64_at(&rec, 48);
            }
        }
        if count > MAX_ENTRIES || cd_size > MAX_CENTRAL_DIR {
            return zerr(format!(
                "implausible central directory ({count} members, {cd_size} bytes)"
            ));
        }
        match cd_offset.checked_add(cd_size) {
            Some(end) if end <= eocd_pos => {}
            _ => {
                return zerr(
                    "truncated or corrupt: central directory lies outside the file".to_string(),
                )
            }
        }
        let cd = read_at(&mut file, cd_offset, cd_size as usize)?;
        let entries = parse_central_directory(&cd, count)?;
        Ok(TorchZip { file, len, entries })
    }

    /// The pickle member (`<archive>/data.pkl`), if any.
    pub fn pickle_entry(&self) -> Option<&ZipEntry> {
        self.entries
            .iter()
            .filter(|e| e.name == "data.pkl" || e.name.ends_with("/data.pkl"))
            .min_by_key(|e| e.name.matches('/').count())
    }

    /// Offset of a member's data, from its local header.
    fn data_offset(&mut self, e: &ZipEntry) -> Result<u64, ZipError> {
        if e.local_header_offset.saturating_add(30) > self.len {
            return zerr(format!("truncated: member {} starts past the end", e.name));
        }
        let h = read_at(&mut self.file, e.local_header_offset, 30)?;
        if u32_at(&h, 0) != 0x0403_4b50 {
            return zerr(format!("corrupt local header for member {}", e.name));
        }
        let n = u64::from(u16_at(&h, 26));
        let m = u64::from(u16_at(&h, 28));
        let start = e.local_header_offset + 30 + n + m;
        match start.checked_add(e.compressed_size) {
            Some(end) if end <= self.len => Ok(start),
            _ => zerr(format!(
                "truncated: member {} ends past the end of the file",
                e.name
            )),
        }
    }

    /// Read a stored member fully (bounded), e.g. `data.pkl`.
    pub(crate) fn read_member(&mut self, e: &ZipEntry) -> Result<Vec<u8>, ZipError> {
        if e.method != 0 {
            return zerr(format!(
                "member {} is compressed (method {}); only stored members are read",
                e.name, e.method
            ));
        }
        if e.size > MAX_PICKLE {
            return zerr(format!(
                "member {} is {} bytes, more than the {} MiB ckpt reads; not read",
                e.name,
                e.size,
                MAX_PICKLE >> 20
            ));
        }
        if e.size != e.compressed_size {
            return zerr(format!("member {} has an implausible size", e.name));
        }
        let start = self.data_offset(e)?;
        read_at(&mut self.file, start, e.size as usize)
    }

    /// Read and return the pickle bytes.
    pub fn read_pickle(&mut self) -> Result<Vec<u8>, ZipError> {
        let Some(e) = self.pickle_entry().cloned() else {
            return zerr("no data.pkl member: not a torch checkpoint");
        };
        self.read_member(&e)
    }

    /// CRC32 every stored and every deflated member (inflated as a stream, never past
    /// its recorded size); the first mismatch or truncation is the error. Returns the
    /// members it could not check (another compression method), named with the method.
    pub fn verify(&mut self) -> Result<Vec<String>, ZipError> {
        let entries = self.entries.clone();
        let mut buf = vec![0u8; 1 << 20];
        let mut unchecked = Vec::new();
        for e in &entries {
            let start = self.data_offset(e)?;
            if e.method == 8 {
                self.verify_deflated(e, start, &mut buf)?;
                continue;
            }
            if e.method != 0 {
                unchecked.push(format!("{} (compression method {})", e.name, e.method));
                continue;
            }
            if e.size != e.compressed_size {
                return zerr(format!("member {} has inconsistent sizes", e.name));
            }
            self.file
                .seek(SeekFrom::Start(start))
                .map_err(|err| io_err("seek failed", err))?;
            let mut h = crc32fast::Hasher::new();
            let mut left = e.size;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                self.file
                    .read_exact(&mut buf[..n])
                    .map_err(|err| io_err(&format!("reading member {}", e.name), err))?;
                h.update(&buf[..n]);
                left -= n as u64;
            }
            let got = h.finalize();
            if got != e.crc32 {
                return zerr(format!(
                    "CRC mismatch in member {}: stored {:08x}, computed {got:08x}",
                    e.name, e.crc32
                ));
            }
        }
        Ok(unchecked)
    }

    /// Inflate a deflated member as a stream and check its size and CRC32.
    fn verify_deflated(
        &mut self,
        e: &ZipEntry,
        start: u64,
        buf: &mut [u8],
    ) -> Result<(), ZipError> {
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(|err| io_err("seek failed", err))?;
        let raw = (&mut self.file).take(e.compressed_size);
        let mut inflate = flate2::read::DeflateDecoder::new(raw);
        let mut h = crc32fast::Hasher::new();
        let mut total: u64 = 0;
        loop {
            let n = match inflate.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return zerr(format!("member {} does not inflate: {err}", e.name));
                }
            };
            total += n as u64;
            if total > e.size {
                return zerr(format!(
                    "member {} inflates past its recorded {} bytes",
                    e.name, e.size
                ));
            }
            h.update(&buf[..n]);
        }
        if total != e.size {
            return zerr(format!(
                "member {} inflates to {total} bytes, its entry says {}",
                e.name, e.size
            ));
        }
        let got = h.finalize();
        if got != e.crc32 {
            return zerr(format!(
                "CRC mismatch in member {}: stored {:08x}, computed {got:08x}",
                e.name, e.crc32
            ));
        }
        Ok(())
    }
}

fn looks_like_zip_start(file: &mut File) -> bool {
    read_at(file, 0, 4).is_ok_and(|m| m == b"PK\x03\x04")
}

fn read_at(file: &mut File, at: u64, n: usize) -> Result<Vec<u8>, ZipError> {
    file.seek(SeekFrom::Start(at))
        .map_err(|e| io_err("seek failed", e))?;
    let mut buf = vec![0u8; n];
    file.read_exact(&mut buf)
        .map_err(|e| io_err("truncated read", e))?;
    Ok(buf)
}

/// Parse `count` central directory entries from `cd`.
pub(crate) fn parse_central_directory(cd: &[u8], count: u64) -> Result<Vec<ZipEntry>, ZipError> {
    let mut out = Vec::with_capacity(count.min(4096) as usize);
    let mut at = 0usize;
    for _ in 0..count {
        if at + 46 > cd.len() || u32_at(cd, at) != 0x0201_4b50 {
            return zerr("corrupt central directory entry");
        }
        let method = u16_at(cd, at + 10);
        let crc32 = u32_at(cd, at + 16);
        let mut compressed_size = u64::from(u32_at(cd, at + 20));
        let mut size = u64::from(u32_at(cd, at + 24));
        let n = usize::from(u16_at(cd, at + 28));
        let m = usize::from(u16_at(cd, at + 30));
        let k = usize::from(u16_at(cd, at + 32));
        let mut local_header_offset = u64::from(u32_at(cd, at + 42));
        let name_end = at + 46 + n;
        let end = name_end + m + k;
        if end > cd.len() {
            return zerr("corrupt central directory entry (runs past its end)");
        }
        let name = String::from_utf8_lossy(&cd[at + 46..name_end]).into_owned();
        // zip64 extended information: only the fields saturated in the fixed part are present.
        let mut x = name_end;
        while x + 4 <= name_end + m {
            let id = u16_at(cd, x);
            let len = usize::from(u16_at(cd, x + 2));
            let body = x + 4;
            if body + len > name_end + m {
                break;
            }
            if id == 0x0001 {
                let mut p = body;
                let mut next = |v: &mut u64| {
                    if *v == 0xffff_ffff && p + 8 <= body + len {
                        *v = u64_at(cd, p);
                        p += 8;
                    }
                };
                next(&mut size);
                next(&mut compressed_size);
                next(&mut local_header_offset);
            }
            x = body + len;
        }
        out.push(ZipEntry {
            name,
            method,
            crc32,
            compressed_size,
            size,
            local_header_offset,
        });
        at = end;
    }
    Ok(out)
}

/// Read and parse the pickle of a torch zip checkpoint (data only; nothing is executed).
pub fn read_pickle_value(path: &Path) -> Result<crate::formats::pickle::Value, ZipError> {
    let mut z = TorchZip::open(path)?;
    let bytes = z.read_pickle()?;
    crate::formats::pickle::parse(&bytes).map_err(|e| ZipError(format!("unreadable pickle: {e}")))
}

/// Like [`read_pickle_value`], building only the top-level dict entries under `keys`.
pub(crate) fn read_pickle_keys(
    path: &Path,
    keys: &[&str],
) -> Result<crate::formats::pickle::Value, ZipError> {
    let mut z = TorchZip::open(path)?;
    let bytes = z.read_pickle()?;
    crate::formats::pickle::parse_keys(&bytes, keys)
        .map_err(|e| ZipError(format!("unreadable pickle: {e}")))
}

/// CRC-check a torch zip file; `Err(reason)` when damaged, else the members it could
/// not check (a compression method other than stored or deflate).
pub fn verify_file(path: &Path) -> Result<Vec<String>, ZipError> {
    TorchZip::open(path)?.verify()
}
