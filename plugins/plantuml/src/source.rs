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

/// The block as `-pipe` must receive it. The pipe reader only sees
/// `@start`/`@end` markers in column 0 with a matching end keyword, and
/// treats `@@@format` lines as commands; anything else makes it swallow the
/// request or merge it with the next one. Indented markers are moved to
/// column 0 (same picture as the one-shot CLI); the rest is refused.
pub fn pipe_text(block: &Block) -> Result<String, String> {
    let mut lines: Vec<&str> = block.text.lines().collect();
    let (Some(first), Some(last)) = (lines.first().map(|l| l.trim()), lines.last().map(|l| l.trim())) else {
        return Err("empty diagram block".into());
    };
    let word: String =
        first["@start".len().min(first.len())..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let plain_start = first.len() == "@start".len() + word.len();
    let end = if plain_start { format!("@end{word}") } else { "@end".to_owned() };
    if !first.starts_with("@start") || !last.starts_with(&end) {
        return Err(format!("`{first}` must be closed by `{end}`, not `{last}`"));
    }
    if let Some(i) = lines.iter().position(|l| l.starts_with("@@@format ")) {
        return Err(format!("line {} starts with `@@@format`, which PlantUML reserves; indent it or remove it", i + 1));
    }
    let n = lines.len();
    lines[0] = first;
    lines[n - 1] = last;
    Ok(lines.join("\n"))
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
        assert_eq!(pipe_text(&b[0]).as_deref(), Ok("@startuml\nA -> B\n@enduml"));
        assert_eq!(pipe_text(&b[1]).as_deref(), Ok("@startuml x\nC\n@enduml"));
    }

    #[test]
    fn a_bom_is_stripped_and_indented_markers_move_to_column_zero() {
        let b = blocks("\u{feff}  @startuml\n  A -> B\n\t@enduml  \n");
        assert_eq!(pipe_text(&b[0]).as_deref(), Ok("@startuml\n  A -> B\n@enduml"));
    }

    #[test]
    fn mismatched_ends_and_format_lines_are_refused() {
        let err = pipe_text(&blocks("@startuml\nA\n@endmindmap\n")[0]).unwrap_err();
        assert!(err.contains("@enduml"), "{err}");
        let err = pipe_text(&blocks("@startuml\n@@@format svg\n@enduml\n")[0]).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}
