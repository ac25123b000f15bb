//! What differs between the deck languages: comment token, names, and the
//! notebook metadata jupytext and Jupyter expect.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgLang {
    Python,
    Cpp,
    CSharp,
    Java,
    TypeScript,
    Rust,
}

impl ProgLang {
    pub fn parse(name: &str) -> Option<ProgLang> {
        Some(match name {
            "python" => ProgLang::Python,
            "cpp" | "c" => ProgLang::Cpp,
            "csharp" => ProgLang::CSharp,
            "java" => ProgLang::Java,
            "typescript" => ProgLang::TypeScript,
            "rust" => ProgLang::Rust,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ProgLang::Python => "python",
            ProgLang::Cpp => "cpp",
            ProgLang::CSharp => "csharp",
            ProgLang::Java => "java",
            ProgLang::TypeScript => "typescript",
            ProgLang::Rust => "rust",
        }
    }

    pub fn comment(self) -> &'static str {
        match self {
            ProgLang::Python => "#",
            _ => "//",
        }
    }

    pub fn is_python(self) -> bool {
        self == ProgLang::Python
    }

    /// jupytext's `main_language`.
    pub fn main_language(self) -> &'static str {
        match self {
            ProgLang::Python => "python",
            ProgLang::Cpp => "c++",
            ProgLang::CSharp => "csharp",
            ProgLang::Java => "java",
            ProgLang::TypeScript => "typescript",
            ProgLang::Rust => "rust",
        }
    }

    /// The notebook's `kernelspec` metadata for the language's default kernel.
    pub fn kernelspec(self) -> Value {
        let (display, language, name) = match self {
            ProgLang::Python => ("Python 3 (ipykernel)", "python", "python3"),
            ProgLang::Cpp => ("C++17", "C++17", "xcpp17"),
            ProgLang::CSharp => (".NET (C#)", "C#", ".net-csharp"),
            ProgLang::Java => ("Java", "java", "java"),
            ProgLang::TypeScript => ("Deno", "typescript", "deno"),
            ProgLang::Rust => ("Rust", "rust", "rust"),
        };
        json!({"display_name": display, "language": language, "name": name})
    }

    /// The `kernelspec` metadata for a kernel chosen in `clx.toml`; the
    /// default kernel's exactly as [`ProgLang::kernelspec`].
    pub fn kernelspec_named(self, name: &str) -> Value {
        let default = self.kernelspec();
        if default["name"] == name {
            return default;
        }
        // xeus-cpp installs one kernelspec per standard: xcpp17, xcpp20, …
        if let Some(standard) =
            name.strip_prefix("xcpp").filter(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        {
            let title = format!("C++{standard}");
            return json!({"display_name": title, "language": title, "name": name});
        }
        json!({"display_name": name, "language": default["language"], "name": name})
    }

    pub fn language_info(self) -> Value {
        match self {
            ProgLang::Python => json!({
                "codemirror_mode": {"name": "ipython", "version": 3},
                "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
                "nbconvert_exporter": "python", "pygments_lexer": "ipython3"
            }),
            ProgLang::Cpp => json!({
                "codemirror_mode": "text/x-c++src", "file_extension": ".cpp",
                "mimetype": "text/x-c++src", "name": "c++", "version": "17"
            }),
            ProgLang::CSharp => json!({
                "file_extension": ".cs", "mimetype": "text/x-csharp", "name": "C#",
                "pygments_lexer": "csharp", "version": "12.0"
            }),
            ProgLang::Java => json!({
                "codemirror_mode": "java", "file_extension": ".java", "mimetype": "text/java",
                "name": "Java", "pygments_lexer": "java", "version": ""
            }),
            ProgLang::TypeScript => json!({
                "codemirror_mode": "typescript", "file_extension": ".ts", "mimetype": "text/x.typescript",
                "name": "typescript", "pygments_lexer": "typescript", "version": "5.6.2"
            }),
            // As evcxr's kernel_info reports it.
            ProgLang::Rust => json!({
                "codemirror_mode": "rust", "file_extension": ".rs", "mimetype": "text/rust",
                "name": "Rust", "pygment_lexer": "rust", "version": ""
            }),
        }
    }

    /// The built-in `macros.j2`.
    pub fn builtin_macros(self) -> &'static str {
        match self {
            ProgLang::Python => include_str!("../templates/python/macros.j2"),
            ProgLang::Cpp => include_str!("../templates/cpp/macros.j2"),
            ProgLang::CSharp => include_str!("../templates/csharp/macros.j2"),
            ProgLang::Java => include_str!("../templates/java/macros.j2"),
            ProgLang::TypeScript => include_str!("../templates/typescript/macros.j2"),
            ProgLang::Rust => include_str!("../templates/rust/macros.j2"),
        }
    }
}
