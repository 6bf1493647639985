//! TFRecord framing: `u64 length`, `u32 masked CRC32C(length)`, payload, `u32 masked CRC32C(payload)`,
//! all little-endian. A record is built whole and written with one call, so a crash can only cut
//! the last record, which readers skip.

/// CRC32C masked as TFRecord requires (rotate right by 15, add a constant) so that CRCs of data
/// that embeds CRCs stay well distributed.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `payload` framed as one TFRecord.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vectors() {
        // RFC 3720 (iSCSI) test vectors for CRC32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(masked_crc32c(b""), 0xa282_ead8); // crc32c("") = 0
    }

    #[test]
    fn framing_byte_for_byte() {
        let rec = frame(b"abc");
        assert_eq!(rec.len(), 8 + 4 + 3 + 4);
        assert_eq!(&rec[..8], &3u64.to_le_bytes());
        assert_eq!(
            &rec[8..12],
            &masked_crc32c(&3u64.to_le_bytes()).to_le_bytes()
        );
        assert_eq!(&rec[12..15], b"abc");
        assert_eq!(&rec[15..], &masked_crc32c(b"abc").to_le_bytes());
        // Masking: rotate right 15, then add the constant.
        let crc = crc32c::crc32c(b"abc");
        assert_eq!(
            masked_crc32c(b"abc"),
            crc.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }
}
