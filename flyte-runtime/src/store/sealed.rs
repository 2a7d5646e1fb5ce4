//! Values as the store keeps them (outputs, an execution's inputs, cache entries): sealed with
//! a checksum that every read verifies, so that a bit flipped on disk is found, never used.
//!
//! ```text
//! CRC-32 of the rest (u32, little endian)
//! for each slot: its length (u64, little endian) and its bytes
//! ```

use crate::value::Encoded;

/// The slots, framed and sealed.
pub(super) fn seal(values: &[Encoded]) -> Vec<u8> {
    let mut blob = vec![0; 4];
    for literal in values {
        blob.extend_from_slice(&(literal.len() as u64).to_le_bytes());
        // Chunk by chunk: `as_bytes` would keep a joined copy of a chunked value.
        for chunk in literal.chunks() {
            blob.extend_from_slice(chunk);
        }
    }
    let crc = crc32fast::hash(&blob[4..]);
    blob[..4].copy_from_slice(&crc.to_le_bytes());
    blob
}

/// The slots of a sealed blob, or what is wrong with it.
pub(super) fn open(blob: &[u8]) -> Result<Vec<Encoded>, String> {
    let Some((crc, framed)) = blob.split_first_chunk::<4>() else {
        return Err(format!("are {} bytes, too short to be a stored value", blob.len()));
    };
    if crc32fast::hash(framed) != u32::from_le_bytes(*crc) {
        return Err("fail their checksum: they were damaged after they were written".to_owned());
    }
    unframe(framed).ok_or_else(|| "pass their checksum but are not framed as stored values".to_owned())
}

/// Seals a blob written before values carried a checksum (schema 2 and older), if it is framed
/// as such a blob was; the migration that adds checksums trusts what it finds once.
pub(super) fn seal_legacy(framed: &[u8]) -> Option<Vec<u8>> {
    unframe(framed).map(|values| seal(&values))
}

fn unframe(mut framed: &[u8]) -> Option<Vec<Encoded>> {
    let mut values = Vec::new();
    while !framed.is_empty() {
        let (len, rest) = framed.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        values.push(Encoded::from_bytes(&rest[..len]));
        framed = &rest[len..];
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<Encoded> {
        vec![Encoded::encode(&7u64).unwrap(), Encoded::encode("text").unwrap()]
    }

    #[test]
    fn sealed_values_open_as_they_were() {
        assert_eq!(open(&seal(&values())).unwrap(), values());
        assert_eq!(open(&seal(&[])).unwrap(), []);
    }

    /// A value taken in chunks seals as the same bytes in one buffer do.
    #[test]
    fn a_value_in_chunks_seals_as_its_bytes() {
        let whole = Encoded::encode("a few bytes of text").unwrap();
        let bytes = whole.as_bytes();
        let chunked = Encoded::from_cbor_chunks(vec![bytes[..3].to_vec(), bytes[3..9].to_vec(), bytes[9..].to_vec()]);
        let sealed = seal(&[values()[0].clone(), chunked]);
        assert_eq!(sealed, seal(&[values()[0].clone(), whole.clone()]));
        assert_eq!(open(&sealed).unwrap(), [values()[0].clone(), whole]);
    }

    #[test]
    fn every_flipped_bit_is_found() {
        let blob = seal(&values());
        for bit in 0..blob.len() * 8 {
            let mut damaged = blob.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(open(&damaged).is_err(), "bit {bit} flipped went unnoticed");
        }
    }

    #[test]
    fn short_and_misframed_blobs_are_refused() {
        assert_eq!(
            open(&[1, 2]).unwrap_err(),
            "are 2 bytes, too short to be a stored value"
        );
        // A valid checksum over bytes that are not frames: a bug, not damage, but never used.
        let mut blob = vec![0; 4];
        blob.extend_from_slice(&[9, 0, 0]);
        let crc = crc32fast::hash(&blob[4..]);
        blob[..4].copy_from_slice(&crc.to_le_bytes());
        assert!(open(&blob).unwrap_err().contains("not framed"));
    }

    #[test]
    fn legacy_blobs_are_sealed_once_framed() {
        let mut framed = Vec::new();
        for v in values() {
            framed.extend_from_slice(&(v.as_bytes().len() as u64).to_le_bytes());
            framed.extend_from_slice(v.as_bytes());
        }
        assert_eq!(open(&seal_legacy(&framed).unwrap()).unwrap(), values());
        assert_eq!(seal_legacy(&framed[..framed.len() - 1]), None);
    }
}
