//! Splitting a PlantUML file into `@start…`/`@end…` blocks the way the
//! one-shot CLI does, and checking that a block is safe for `-pipe` mode,
//! whose reader is stricter (column 0 markers, matching end, no control lines).

/// One diagram block of a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub text: String,
    /// 1-based line of the `@start` line in the file.
    pub first_line: u32,
}

/// Every complete block, in file order (unterminated blocks are dropped,
/// as the one-shot CLI drops them).
pub fn blocks(source: &str) -> Vec<Block> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut out = Vec::new();
    let mut current: Option<(Vec<&str>, u32)> = None;
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed.starts_with("@start") => current = Some((vec![line], i as u32 + 1)),
            None => {}
            Some((lines, first)) => {
                lines.push(line);
                if trimmed.starts_with("@end") {
                    out.push(Block { text: lines.join("\n"), first_line: *first });
                    current = None;
                }
            }
        }
    }
    out
}

/// Whether `-pipe` reads this block as one diagram, exactly as written.
pub fn pipe_safe(block: &Block) -> bool {
    let lines: Vec<&str> = block.text.lines().collect();
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else { return false };
    if !first.starts_with("@start") {
        return false;
    }
    let word: String = first["@start".len()..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let plain_start = first.trim_end().len() == "@start".len() + word.len();
    let end = if plain_start { format!("@end{word}") } else { "@end".to_owned() };
    last.starts_with(&end) && !lines.iter().any(|l| l.starts_with("@@@format "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_remember_their_first_line() {
        let b = blocks("' comment\n\n@startuml\nA -> B\n@enduml\n@startuml x\nC\n@enduml\n@startuml\nunterminated\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].first_line, 3);
        assert_eq!(b[1].first_line, 6);
        assert!(pipe_safe(&b[0]) && pipe_safe(&b[1]));
    }

    #[test]
    fn indented_or_mismatched_blocks_are_not_pipe_safe() {
        assert!(!pipe_safe(&blocks("  @startuml\nA\n@enduml\n")[0]));
        assert!(!pipe_safe(&blocks("@startuml\nA\n@endmindmap\n")[0]));
        assert!(!pipe_safe(&blocks("@startuml\n@@@format svg\n@enduml\n")[0]));
    }
}
