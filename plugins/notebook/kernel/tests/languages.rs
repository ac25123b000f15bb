//! Deno's kernel and JJava's (installed in CI by `scripts/setup --kernels
//! typescript,java`) and evcxr's (opt-in: these tests run when its
//! kernelspec is installed).

use std::path::PathBuf;
use std::time::Duration;

use clx_kernel::{Executor, KernelError};

fn venv() -> PathBuf {
    clx_plugin_api::tools_dir().unwrap_or_default().join("venv")
}

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn deno_runs_typescript_in_the_deck_directory_without_terminal_colours() {
    let exec = Executor::new(&[venv()]).unwrap();
    exec.kernelspec("deno").expect("Deno's kernel: run scripts/setup --kernels python,typescript");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("helper.ts"), "export const base = 40;\n").unwrap();
    let mut s = exec.session_for("typescript", "deno", dir.path()).unwrap();
    let run = s.run("console.log(\"hi\");\nconst n: number = 2;\nn", LIMIT).unwrap();
    assert_eq!(run.outputs[0]["text"], "hi\n");
    assert_eq!(run.outputs[1]["data"]["text/plain"], "2", "plain value, no ANSI codes");
    let run = s.run("import { base } from \"./helper.ts\";\nbase + n", LIMIT).unwrap();
    assert_eq!(run.outputs[0]["data"]["text/plain"], "42", "{:?}", run.outputs);
    let run = s.run("Deno.cwd()", LIMIT).unwrap();
    let cwd = run.outputs[0]["data"]["text/plain"].as_str().unwrap_or_default().to_owned();
    assert_eq!(cwd, format!("{:?}", dir.path().to_string_lossy()));
    let run = s.run("const a = 1;\nthrow new Error(\"boom\");", LIMIT).unwrap();
    let error = run.error.expect("the cell threw");
    assert_eq!((error.ename.as_str(), error.evalue.as_str()), ("Error", "boom"));
    assert!(error.traceback.join("\n").contains("<anonymous>:2:"), "{:?}", error.traceback);
}

#[test]
fn a_stuck_deno_cell_times_out_and_a_dead_deno_kernel_is_reported() {
    let exec = Executor::new(&[venv()]).unwrap();
    exec.kernelspec("deno").expect("Deno's kernel: run scripts/setup --kernels python,typescript");
    let dir = tempfile::tempdir().unwrap();
    let mut s = exec.session("deno", dir.path()).unwrap();
    let err = s.run("while (true) {}", Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, KernelError::CellTimeout { secs: 1 }), "{err}");
    let mut s = exec.session("deno", dir.path()).unwrap();
    let err = s.run("Deno.exit(3)", LIMIT).unwrap_err();
    assert!(err.is_kernel_death(), "{err}");
}

#[test]
fn jjava_runs_java_with_classes_across_cells_in_the_deck_directory_even_when_started_ahead() {
    let exec = Executor::new(&[venv()]).unwrap();
    exec.kernelspec("java").expect("JJava's kernel: run scripts/setup --kernels python,java");
    for deck in 0..2 {
        // The second deck gets the kernel that was started ahead of it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scores.txt"), "7\n35\n").unwrap();
        let mut s = exec.session_for("java", "java", dir.path()).unwrap();
        let run = s.run("System.out.println(\"hi\");", LIMIT).unwrap();
        assert_eq!(run.outputs[0]["text"], "hi\n", "deck {deck}");
        assert_eq!(run.execution_count, Some(1), "the setup code is not counted, deck {deck}");
        s.run(
            "class Point {\n  final int x;\n  Point(int x) { this.x = x; }\n  int twice() { return 2 * x; }\n}",
            LIMIT,
        )
        .unwrap();
        let run = s.run("new Point(21).twice()", LIMIT).unwrap();
        assert_eq!(run.outputs[0]["data"]["text/plain"], "42", "a class from the cell before: {:?}", run.outputs);
        let sum = "java.nio.file.Files.readAllLines(java.nio.file.Path.of(\"scores.txt\")).stream().mapToInt(Integer::parseInt).sum()";
        let run = s.run(sum, LIMIT).unwrap();
        assert_eq!(run.outputs[0]["data"]["text/plain"], "42", "a deck file by relative path: {:?}", run.outputs);
        let run = s.run("System.getProperty(\"user.dir\")", LIMIT).unwrap();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(run.outputs[0]["data"]["text/plain"], cwd.to_string_lossy().as_ref(), "deck {deck}");
        let run = s.run("int a = 1;\nSystem.out.println(a + missing);", LIMIT).unwrap();
        let error = run.error.expect("a compile error");
        assert_eq!(error.ename, "CompilationException");
        let traceback = clx_kernel::strip_ansi(&error.traceback.join("\n"));
        assert!(traceback.contains("|   System.out.println(a + missing);"), "{traceback}");
        let run = s.run("Integer.parseInt(\"x\")", LIMIT).unwrap();
        assert!(run.error.expect("an exception").evalue.contains("NumberFormatException"));
    }
}

#[test]
fn a_missing_language_kernel_is_an_environment_error_with_its_install_command() {
    let exec = Executor::new(&[venv()]).unwrap();
    let err = exec.session_for("cpp", "xcpp-not-installed", std::path::Path::new("/")).err().expect("must fail");
    assert!(err.is_environment());
    let text = err.to_string();
    assert!(text.contains("C++") && text.contains("`xcpp-not-installed`") && text.contains("xeus-cpp"), "{text}");
}

#[test]
fn evcxr_runs_rust_when_installed() {
    let exec = Executor::new(&[venv()]).unwrap();
    if exec.kernelspec("rust").is_err() {
        eprintln!("skipped: evcxr's kernel is not installed (scripts/setup --kernels rust)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = exec.session_for("rust", "rust", dir.path()).unwrap();
    let run = s.run("println!(\"hi\");\nlet n: i32 = 6 * 7;\nn", LIMIT).unwrap();
    assert_eq!(run.outputs[0]["text"], "hi\n");
    assert_eq!(run.outputs[1]["data"]["text/plain"], "42");
    let run = s.run("std::env::current_dir().unwrap()", LIMIT).unwrap();
    assert_eq!(run.outputs[0]["data"]["text/plain"], format!("{:?}", dir.path()));
    let run = s.run("let x = 1;\nlet s: i32 = \"x\";", LIMIT).unwrap();
    let error = run.error.expect("compile error");
    assert!(clx_kernel::strip_ansi(&error.traceback.join("\n")).contains(" 2 │"), "{:?}", error.traceback);
}
