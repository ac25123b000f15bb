//! "Did you mean": the nearest known name to a misspelt one, so the host and
//! plugins answer an unknown word the same way.

/// The known name closest to `word`, when it is close enough to be a slip of
/// the keyboard (a swapped, missing, extra or wrong letter or two) rather
/// than a different word. Ties go to the first candidate.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    // One edit in short words, up to a third of the letters in long ones.
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= limit && *d < c.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The end of a message about an unknown `word`: `; did you mean `x`? Then
/// the advice` when a candidate is near, else `; then the advice`. `quote`
/// writes a candidate as the message shows names.
pub fn advice<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    quote: impl Fn(&str) -> String,
    rest: &str,
) -> String {
    match nearest(word, candidates) {
        Some(near) => {
            let mut chars = rest.chars();
            let rest: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
            format!("; did you mean {}? {rest}", quote(near))
        }
        None => format!("; {rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_find_their_word_and_other_words_do_not() {
        let names = ["section", "sections", "topic", "dir-group"];
        assert_eq!(nearest("secton", names), Some("section"));
        assert_eq!(nearest("sectons", names), Some("sections"));
        assert_eq!(nearest("topik", names), Some("topic"));
        assert_eq!(nearest("dir-gruop", names), Some("dir-group"));
        assert_eq!(nearest("Topic", names), Some("topic"));
        assert_eq!(nearest("chapter", names), None);
        assert_eq!(nearest("x", ["y"]), None);
        let quote = |n: &str| format!("`{n}`");
        assert_eq!(advice("kepp", ["keep"], quote, "known tags: keep"), "; did you mean `keep`? Known tags: keep");
        assert_eq!(advice("zzz", ["keep"], quote, "known tags: keep"), "; known tags: keep");
    }
}
