//! Cell ids: the first 16 hex digits of SHA3-224 over the source, made unique
//! within one notebook by feeding the same hasher `"{index}:{source}"` until
//! the id is new (the older Python tool's rule, so ids stay stable across tools).

use std::collections::HashSet;
use std::fmt::Write;

use sha3::{Digest, Sha3_224};

#[derive(Debug, Default)]
pub struct CellIds {
    used: HashSet<String>,
}

impl CellIds {
    /// The id for a cell at unfiltered position `index`.
    pub fn assign(&mut self, source: &str, index: usize) -> String {
        let mut hasher = Sha3_224::new();
        hasher.update(source.as_bytes());
        let mut id = short_hex(&hasher);
        let mut index = index;
        while self.used.contains(&id) {
            hasher.update(format!("{index}:{source}").as_bytes());
            id = short_hex(&hasher);
            index += 1;
        }
        self.used.insert(id.clone());
        id
    }
}

fn short_hex(hasher: &Sha3_224) -> String {
    let digest = hasher.clone().finalize();
    let mut out = String::with_capacity(16);
    for byte in &digest[..8] {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_predecessor_for_known_sources() {
        let mut ids = CellIds::default();
        assert_eq!(ids.assign("1 + 2", 1), "9fb2d3ad9d74409e");
        assert_eq!(ids.assign("print(\"Hello world!\")", 2), "e895e9d2f05b3070");
        assert_eq!(ids.assign("# And yet another test.", 3), "81758ce9a0abf709");
    }

    #[test]
    fn duplicate_sources_rehash_with_their_unfiltered_index() {
        let mut ids = CellIds::default();
        assert_eq!(ids.assign("plain = 1", 4), "169cb9a220af7156");
        assert_eq!(ids.assign("plain = 1", 19), "5b10dfe69d6bd0ee");
        assert_eq!(ids.assign("plain = 1", 20), "f129494bb23c011e");
    }
}
