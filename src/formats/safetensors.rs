//! safetensors integrity: an 8-byte little-endian header length, a JSON header, and
//! tensor data whose highest end offset must reach exactly the end of the file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// safetensors itself refuses headers larger than this.
const MAX_HEADER: u64 = 100 << 20;

/// Check a `.safetensors` file against its own header; `Err(reason)` when damaged.
pub fn check(path: &Path) -> Result<(), String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = f.metadata().map_err(|e| format!("cannot stat: {e}"))?.len();
    if len == 0 {
        return Err("zero-byte file".into());
    }
    if len < 8 {
        return Err(format!(
            "truncated: {len} bytes, shorter than the 8-byte header length"
        ));
    }
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|e| format!("cannot read header length: {e}"))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER {
        return Err(format!("header length {n} is implausible"));
    }
    if 8 + n > len {
        return Err(format!(
            "truncated: header of {n} bytes does not fit in a {len}-byte file"
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| format!("cannot read header: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| format!("header is not JSON: {e}"))?;
    let Some(obj) = json.as_object() else {
        return Err("header is not a JSON object".into());
    };
    let mut max_end = 0u64;
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let offs = t
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)));
        let Some((begin, end)) = offs else {
            return Err(format!("tensor {name:?} has no valid data_offsets"));
        };
        if begin > end {
            return Err(format!("tensor {name:?} has data_offsets [{begin}, {end}]"));
        }
        max_end = max_end.max(end);
    }
    let data_len = len - 8 - n;
    if max_end != data_len {
        let what = if max_end > data_len {
            "truncated"
        } else {
            "trailing data"
        };
        return Err(format!(
            "{what}: the header describes {max_end} data bytes, the file holds {data_len}"
        ));
    }
    Ok(())
}
