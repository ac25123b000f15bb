//! Course languages beyond Python, built by the real clx with real kernels:
//! TypeScript in Deno's kernel and Java in JJava's (installed by
//! `scripts/setup --kernels typescript,java`, as CI does), Rust in evcxr's
//! (opt-in, see README).

use std::path::{Path, PathBuf};

use clx_e2e::*;

/// A copy of `examples/<name>` built once; the copy (kept alive by the
/// caller), its spec and its output folder.
fn build_example(env: &Env, name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let course = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples").join(name), course.path());
    let spec = course.path().join(format!("course-specs/{name}.xml"));
    let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let out_dir = course.path().join("output");
    (course, spec, out_dir)
}

fn kernelspec_installed(name: &str) -> bool {
    tools_dir().join("venv/share/jupyter/kernels").join(name).join("kernel.json").exists()
}

fn page(out: &Path, rel: &str) -> String {
    std::fs::read_to_string(out.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn typescript_example_course_runs_in_deno_with_outputs_in_completed_and_speaker_pages() {
    assert!(kernelspec_installed("deno"), "Deno's kernel is missing: run scripts/setup --kernels python,typescript");
    let env = Env::new();
    let (_course, _, out_dir) = build_example(&env, "typescript-course");
    for rel in [
        "public/En/TypeScript Basics/Slides/Html/Completed/First Steps/01 Hello, TypeScript.html",
        "speaker/En/TypeScript Basics/Slides/Html/Speaker/First Steps/01 Hello, TypeScript.html",
        "public/De/TypeScript Grundlagen/Folien/Html/Completed/Erste Schritte/01 Hallo, TypeScript.html",
    ] {
        let hello = page(&out_dir, rel);
        assert!(hello.contains("output_stdout\"><pre>Hello, TypeScript!"), "console.log in {rel}: {hello}");
        assert!(hello.contains("<pre>42</pre>"), "the expression's value, without terminal colours, in {rel}");
        assert!(hello.contains("<pre>&quot;Hello, Ada!&quot;</pre>"), "the sibling module was imported in {rel}");
    }
    let types = page(&out_dir, "public/En/TypeScript Basics/Slides/Html/Completed/First Steps/02 Types.html");
    assert!(types.contains("<pre>[ 4, 9, 25, 49 ]</pre>"), "{types}");
    assert!(types.contains("SyntaxError"), "the raises-exception cell shows its error: {types}");
    let notebook =
        page(&out_dir, "public/En/TypeScript Basics/Slides/Notebooks/Completed/First Steps/01 Hello, TypeScript.ipynb");
    assert!(notebook.contains("\"name\": \"deno\""), "the metadata names the kernel that ran: {notebook}");
    let code_along =
        page(&out_dir, "public/En/TypeScript Basics/Slides/Html/Code-Along/First Steps/01 Hello, TypeScript.html");
    assert!(!code_along.contains("output_stream"), "code-along never runs a kernel");
}

#[test]
fn a_failing_typescript_cell_is_reported_at_its_deck_line_and_rebuilding_gives_the_same_pages() {
    assert!(kernelspec_installed("deno"), "Deno's kernel is missing: run scripts/setup --kernels python,typescript");
    let env = Env::new();
    let bad = "// %% [markdown]\n// Fehler\n\n// %%\nconst x = 1;\n\n// %%\nconsole.log(x);\nnotDefined(x);\n";
    let good = "// %%\nconsole.log(Deno.cwd().length > 0 ? Deno.cwd() : \"?\");\n";
    let course = TestCourse::new(&[("bad", &[("slides_bad.ts", bad)]), ("good", &[("slides_good.ts", good)])]);
    let spec = std::fs::read_to_string(course.spec()).expect("spec");
    std::fs::write(course.spec(), spec.replace("<prog-lang>python</prog-lang>", "<prog-lang>typescript</prog-lang>"))
        .expect("write spec");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("slides_bad.ts:9: cell 3:"), "the deck line of the call: {err}");
    assert!(err.contains("ReferenceError: notDefined is not defined"), "{err}");

    // The deck printing its working directory: same bytes on a rebuild.
    let good_page = |course: &TestCourse| {
        let files = course.outputs_ending("slides_good.html");
        let speaker = files.iter().find(|p| p.to_string_lossy().contains("Speaker")).expect("speaker page");
        std::fs::read(speaker).expect("read page")
    };
    let first = good_page(&course);
    let again = env.clx().args(["build", "--no-cache"]).arg(course.spec()).output().expect("run clx");
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert_eq!(good_page(&course), first, "the working directory is the same on every build");
    assert!(String::from_utf8_lossy(&first).contains("/run/"), "ran in the stable run directory");
}

#[test]
fn java_example_course_runs_in_jjava_with_outputs_in_completed_and_speaker_pages_and_rebuilds_byte_identical() {
    assert!(kernelspec_installed("java"), "JJava's kernel is missing: run scripts/setup --kernels python,java");
    let kernelspec = std::fs::read_to_string(tools_dir().join("venv/share/jupyter/kernels/java/kernel.json"))
        .expect("read the java kernelspec");
    assert!(
        !kernelspec.contains("jjava-launcher"),
        "the java kernelspec starts the kernel's JVM through JJava's launcher JVM, out of the parent-death \
         signal's reach: run scripts/setup --kernels python,java to write the one that starts it directly"
    );
    let env = Env::new();
    let (course, spec, out_dir) = build_example(&env, "java-course");
    let executed = [
        ("public/En/Java Basics/Slides/Html/Completed/First Steps", "01 Hello, Java.html", "02 Classes.html"),
        ("speaker/En/Java Basics/Slides/Html/Speaker/First Steps", "01 Hello, Java.html", "02 Classes.html"),
        ("public/De/Java Grundlagen/Folien/Html/Completed/Erste Schritte", "01 Hallo, Java.html", "02 Klassen.html"),
        ("speaker/De/Java Grundlagen/Folien/Html/Speaker/Erste Schritte", "01 Hallo, Java.html", "02 Klassen.html"),
    ];
    for (dir, hello, classes) in executed {
        let hello = page(&out_dir, &format!("{dir}/{hello}"));
        assert!(hello.contains("output_stdout\"><pre>Hello, Java!"), "System.out.println in {dir}: {hello}");
        assert!(hello.contains("<pre>42</pre>"), "the expression's value in {dir}");
        assert!(hello.contains("In&nbsp;[1]"), "counting starts at 1 in {dir}");
        assert!(hello.contains("<pre>Hello, Ada!</pre>"), "the exercise's solution ran in {dir}");
        assert!(!hello.contains("Only for the authors"), "a `del` cell is in no output");
        let classes = page(&out_dir, &format!("{dir}/{classes}"));
        assert!(classes.contains("<pre>Point(4, 6)"), "the class from the cell before, in {dir}: {classes}");
        assert!(classes.contains("<pre>17</pre>"), "the data file read by relative path, in {dir}");
        assert!(classes.contains("IndexOutOfBoundsException"), "the raises-exception cell shows its error in {dir}");
    }
    let speaker = page(&out_dir, "speaker/En/Java Basics/Slides/Html/Speaker/First Steps/01 Hello, Java.html");
    let completed = page(&out_dir, "public/En/Java Basics/Slides/Html/Completed/First Steps/01 Hello, Java.html");
    assert!(speaker.contains("The shell needs no class") && !completed.contains("The shell needs no class"), "notes");
    assert!(completed.contains("multiplyExact"), "an `alt` cell is in completed");
    let code_along = page(&out_dir, "public/En/Java Basics/Slides/Html/Code-Along/First Steps/01 Hello, Java.html");
    assert!(!code_along.contains("output_stream") && !code_along.contains("multiplyExact"), "{code_along}");
    assert!(code_along.contains("&quot;...&quot;"), "the `start` cell is in code-along");
    let notebook = page(&out_dir, "public/En/Java Basics/Slides/Notebooks/Completed/First Steps/02 Classes.ipynb");
    assert!(notebook.contains("\"name\": \"java\""), "the metadata names the kernel that ran: {notebook}");
    let code = page(&out_dir, "public/En/Java Basics/Slides/Java/Completed/First Steps/01 Hello, Java.java");
    assert!(code.contains("System.out.println(\"Hello, Java!\");"), "{code}");

    let first = file_tree(&out_dir);
    let again = env.clx().args(["build", "--no-cache"]).arg(&spec).output().expect("run clx");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(file_tree(&out_dir) == first, "every output has the same bytes when the decks run again");

    // A cell that does not compile: reported at its deck line, the other
    // deck's pages still written.
    let deck = course.path().join("slides/module_100_basics/topic_100_hello/slides_hello.java");
    let mut text = std::fs::read_to_string(&deck).expect("deck");
    text.push_str("\n// %%\nint total = answer;\nSystem.out.println(total + missing);\n");
    std::fs::write(&deck, &text).expect("write deck");
    let line = text.lines().count();
    let broken = env.clx().arg("build").arg(&spec).output().expect("run clx");
    let err = stderr(&broken);
    assert_eq!(broken.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("slides_hello.java:{line}: cell 16:")), "the deck line ({line}) of the call: {err}");
    assert!(err.contains("cannot find symbol"), "{err}");
    let classes = "public/En/Java Basics/Slides/Html/Completed/First Steps/02 Classes.html";
    assert!(file_tree(&out_dir).get(classes) == first.get(classes), "the other deck's pages stay");

    // JJava's launcher starts the kernel's own JVM: a warm kernel still
    // starting when its worker stops must not leave that JVM behind.
    let state = env.state_dir();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !processes_with_env("CLX_HOME", &state).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let left = processes_with_env("CLX_HOME", &state);
    assert!(left.is_empty(), "processes outlived the builds: {left:?}");
}

/// evcxr's kernel takes a long compile (`scripts/setup --kernels rust`), so
/// it is optional: this test runs where the kernel is installed and says so
/// where it is not.
#[test]
fn rust_example_course_runs_in_evcxr() {
    if !kernelspec_installed("rust") {
        eprintln!("skipped: evcxr's kernel is not installed (scripts/setup --kernels rust)");
        return;
    }
    let env = Env::new();
    let (_course, _, out_dir) = build_example(&env, "rust-course");
    let hello = page(&out_dir, "public/En/Rust Basics/Slides/Html/Completed/First Steps/01 Hello, Rust.html");
    assert!(hello.contains("output_stdout\"><pre>Hello, Rust!"), "{hello}");
    assert!(hello.contains("<pre>42</pre>"), "{hello}");
    let code = page(&out_dir, "public/En/Rust Basics/Slides/Rust/Completed/First Steps/01 Hello, Rust.rs");
    assert!(code.contains("println!(\"Hello, Rust!\");"), "{code}");
}

#[test]
fn doctor_lists_every_course_language_with_its_kernelspec_or_how_to_install_it() {
    let env = Env::new();
    let out = env.clx().arg("doctor").output().expect("run clx doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| report.lines().map(str::trim).find(|l| l.starts_with(prefix)).map(str::to_owned);
    let python = line("python=python3 ").unwrap_or_else(|| panic!("{report}"));
    assert!(python.contains("kernel.json"), "where python3's kernelspec was found: {python}");
    // No C++ kernel can be installed from the registries here.
    let cpp = line("cpp=xcpp17 missing").unwrap_or_else(|| panic!("{report}"));
    assert!(cpp.contains("install it with: micromamba create -n xeus-cpp"), "{cpp}");
    for lang in ["csharp=", "java=", "typescript=", "rust="] {
        assert!(line(lang).is_some(), "{lang} missing from {report}");
    }
}
