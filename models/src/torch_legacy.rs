//! PyTorch's legacy (pre-1.6, non-zip) `torch.save` format, in which pytorch-fid's Inception
//! weights were published (2019). candle reads only the zip format; this reads the legacy one
//! with candle's pickle machine.
//!
//! The file is five pickles in a row, then the raw storages: (1) a magic number, (2) the
//! protocol version 1001, (3) a dict of system facts (endianness, type sizes), (4) the object,
//! here a state dict whose tensors are `_rebuild_tensor_v2(storage, offset, size, stride, ...)`
//! with storages as persistent ids `('storage', torch.FloatStorage, key, location, numel,
//! view)`, (5) the storage keys in file order. Each storage follows as an int64 element count
//! and its little-endian bytes.

use crate::error::{ModelError, Result};
use candle_core::pickle::{Object, Stack};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

/// The first pickle of every legacy file: protocol 2, LONG1 of 10 bytes (0x1950a86a20f9469cfc6c,
/// little-endian), STOP. Matched as bytes: candle's LONG1 reader holds at most 8 bytes.
const MAGIC_PICKLE: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

/// Whether `head` starts a legacy-format file.
pub fn is_legacy(head: &[u8]) -> bool {
    head.starts_with(&MAGIC_PICKLE[..8])
}

fn pickle(c: &mut Cursor<&[u8]>) -> candle_core::Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(c)?;
    stack.finalize()
}

/// All tensors of a legacy-format state dict, on the CPU, by name.
pub fn read_legacy_pth(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bad = |msg: String| ModelError::BadWeights {
        path: path.to_path_buf(),
        msg,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if !bytes.starts_with(&MAGIC_PICKLE) {
        return Err(bad("not a legacy PyTorch file (bad magic number)".into()));
    }
    let mut c = Cursor::new(&bytes[MAGIC_PICKLE.len()..]);
    let mut next = |what: &str| pickle(&mut c).map_err(|e| bad(format!("{what}: {e}")));
    match next("protocol version")? {
        Object::Int(1001) | Object::Long(1001) => {}
        other => return Err(bad(format!("unknown protocol version {other:?}"))),
    }
    if let Object::Dict(info) = next("system info")? {
        let big_endian = info.iter().any(|(k, v)| {
            *k == Object::Unicode("little_endian".into()) && *v == Object::Bool(false)
        });
        if big_endian {
            return Err(bad("saved on a big-endian machine".into()));
        }
    }
    let entries = match next("state dict")? {
        Object::Dict(e) => e,
        other => {
            return Err(bad(format!(
                "expected a state dict, found {}",
                format!("{other:?}").chars().take(80).collect::<String>()
            )))
        }
    };
    let keys: Vec<String> = match next("storage keys")? {
        Object::List(k) | Object::Tuple(k) => k
            .into_iter()
            .map(|k| k.unicode().map_err(|o| bad(format!("storage key {o:?}"))))
            .collect::<Result<_>>()?,
        other => return Err(bad(format!("expected storage keys, found {other:?}"))),
    };
    let mut infos = Vec::new();
    for (name, value) in entries {
        // Non-tensor entries (e.g. `_metadata`) give None and are skipped.
        if let Some(info) = value
            .into_tensor_info(name, Path::new(""))
            .map_err(|e| bad(format!("tensor record: {e}")))?
        {
            infos.push(info);
        }
    }
    let key_of = |p: &str| p.trim_start_matches('/').to_string();
    let elem_size: HashMap<String, usize> = infos
        .iter()
        .map(|i| (key_of(&i.path), i.dtype.size_in_bytes()))
        .collect();
    let pos = MAGIC_PICKLE.len() + c.position() as usize;
    let mut rest = Cursor::new(&bytes[pos..]);
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in keys {
        let mut n = [0u8; 8];
        rest.read_exact(&mut n)
            .map_err(|_| bad(format!("storage {key}: file ends early")))?;
        let numel = u64::from_le_bytes(n) as usize;
        let size = numel * elem_size.get(&key).copied().unwrap_or(1);
        let start = pos + rest.position() as usize;
        let data = bytes
            .get(start..start + size)
            .ok_or_else(|| bad(format!("storage {key}: file ends early")))?;
        storages.insert(key, data);
        rest.set_position(rest.position() + size as u64);
    }
    let mut out = HashMap::new();
    for info in infos {
        let key = key_of(&info.path);
        let data = storages
            .get(&key)
            .ok_or_else(|| bad(format!("{}: storage {key} missing", info.name)))?;
        if !info.layout.is_contiguous() {
            return Err(bad(format!("{}: a non-contiguous tensor", info.name)));
        }
        let start = info.layout.start_offset();
        let len = info.layout.shape().elem_count() * info.dtype.size_in_bytes();
        let raw = data
            .get(start..start + len)
            .ok_or_else(|| bad(format!("{}: outside its storage", info.name)))?;
        let t = Tensor::from_raw_buffer(raw, info.dtype, info.layout.dims(), &Device::Cpu)?;
        out.insert(info.name, t);
    }
    Ok(out)
}
