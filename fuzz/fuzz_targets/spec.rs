//! The course-spec parser: any text gives a spec or a positioned error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(err) = clx::spec::parse_str(text, Path::new("course.xml")) {
        // Every XML or structure error points at a line the file has.
        if let Some((line, _)) = err.position() {
            assert!(line >= 1 && line as usize <= text.lines().count().max(1) + 1, "{err}: line {line}");
        }
        assert!(!err.to_string().is_empty());
    }
});
