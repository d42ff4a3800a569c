//! The compact JSON text of a value (as `Value::to_string` prints it), sized or hashed without
//! building it: a bulky value that is only measured or fingerprinted never exists as text.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The length in bytes of `value.to_string()`.
pub fn text_len(value: &Value) -> usize {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).expect("counting bytes cannot fail");
    counter.0
}

/// `identity::sha256_hex(value.to_string().as_bytes())`.
pub fn text_sha256_hex(value: &Value) -> String {
    let mut writer = std::io::BufWriter::with_capacity(16 * 1024, HashWriter(Sha256::new()));
    serde_json::to_writer(&mut writer, value).expect("hashing bytes cannot fail");
    let HashWriter(hasher) = writer.into_inner().map_err(|_| ()).expect("flushing into a hasher cannot fail");
    hex::encode(hasher.finalize())
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_and_hash_are_those_of_the_printed_text() {
        let long = "x\"\\\n\u{1}é😀/".repeat(5_000);
        let values = [
            json!(null),
            json!({}),
            json!({ "b": [1, -2, 3.5, 1e300, 0.1], "a": { "text": long, "flag": true }, "": "\u{7f}\t" }),
            json!([long, { "z": null, "y": [[], {}] }]),
        ];
        for value in values {
            let text = value.to_string();
            assert_eq!(text_len(&value), text.len());
            assert_eq!(text_sha256_hex(&value), crate::identity::sha256_hex(text.as_bytes()));
        }
    }
}
