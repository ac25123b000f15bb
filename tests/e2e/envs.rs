//! Course kernel environments, built by the real clx from PyPI: a course's
//! `requirements.txt` gives its decks their packages, and changing a pin
//! re-executes that course's decks and no others.

use std::path::Path;

use clx_e2e::*;

const USES_SIX: &str = "# %% [markdown]\n# Six\n\n# %%\nimport six\nprint(\"six\", six.__version__)\n";
const PLAIN: &str = "# %% [markdown]\n# Plain\n\n# %%\nprint(\"plain\", 6 * 7)\n";

fn build(env: &Env, spec: &Path) -> String {
    let out = env.clx().arg("build").arg(spec).output().expect("run clx");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    err
}

fn completed_page(course: &TestCourse, deck: &str) -> String {
    let pages = course.outputs_ending(&format!("{deck}.html"));
    let page = pages.iter().find(|p| p.to_string_lossy().contains("/Completed/")).expect("a completed page");
    std::fs::read_to_string(page).expect("read page")
}

#[test]
fn a_course_requirements_file_gives_its_decks_their_packages_and_a_new_pin_reruns_only_that_course() {
    let env = Env::new();
    let course = TestCourse::new(&[("six", &[("slides_six.py", USES_SIX)]), ("plain", &[("slides_plain.py", PLAIN)])]);
    std::fs::write(course.root().join("requirements.txt"), "six==1.16.0\n").expect("write requirements");
    let other = TestCourse::new(&[("plain", &[("slides_plain.py", PLAIN)])]);

    let first = build(&env, &course.spec());
    assert!(first.contains("4 built, 0 from cache"), "{first}");
    assert!(completed_page(&course, "slides_six").contains("six 1.16.0"), "the deck imported six from the course env");
    let envs: Vec<_> = std::fs::read_dir(env.state_dir().join("envs"))
        .expect("envs dir")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(envs.len(), 1, "one environment for the course");
    let freeze = std::fs::read_to_string(envs[0].path().join("freeze.txt")).expect("freeze.txt");
    assert!(freeze.contains("six==1.16.0"), "{freeze}");
    let other_first = build(&env, &other.spec());
    assert!(other_first.contains("0 from cache"), "{other_first}");

    let unchanged = build(&env, &course.spec());
    assert!(unchanged.contains("0 built, 4 from cache"), "an unchanged rebuild runs nothing: {unchanged}");
    let doctor = |course: &TestCourse| {
        let out = env.clx().arg("doctor").current_dir(course.root()).output().expect("run clx doctor");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let report = doctor(&course);
    let line = report.lines().find(|l| l.contains("course environment")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains(&*envs[0].path().to_string_lossy()) && line.contains("up to date"), "{line}");
    // The lock as a Windows checkout writes it (a byte-order mark, CRLF)
    // names the same environment for the doctor as for the build.
    let lock = course.root().join("requirements.lock");
    let locked = std::fs::read_to_string(&lock).expect("read lock");
    std::fs::write(&lock, format!("\u{feff}{}", locked.replace('\n', "\r\n"))).expect("write lock");
    let report = doctor(&course);
    let line = report.lines().find(|l| l.contains("course environment")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains(&*envs[0].path().to_string_lossy()) && line.contains("up to date"), "{line}");
    let windows = build(&env, &course.spec());
    assert!(windows.contains("0 built, 4 from cache"), "the build agrees: {windows}");

    std::fs::write(course.root().join("requirements.txt"), "six==1.17.0\n").expect("write requirements");
    assert!(doctor(&course).contains("not built yet"), "a changed pin needs a new environment");
    let upgraded = build(&env, &course.spec());
    assert!(upgraded.contains("4 built, 0 from cache"), "every deck of the course runs again: {upgraded}");
    assert!(completed_page(&course, "slides_six").contains("six 1.17.0"), "the new pin is what the deck sees");
    let other_again = build(&env, &other.spec());
    assert!(other_again.contains("0 built, 2 from cache"), "the other course is untouched: {other_again}");
    let again = build(&env, &course.spec());
    assert!(again.contains("0 built, 4 from cache"), "the new environment is reused: {again}");
}

#[test]
fn a_missing_module_says_where_the_kernel_ran_and_where_to_declare_the_package() {
    let env = Env::new();
    let course = TestCourse::new(&[("six", &[("slides_six.py", USES_SIX)])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ModuleNotFoundError: No module named 'six'"), "{err}");
    assert!(
        err.contains("the kernel ran in ")
            && err.contains("declare the package in requirements.txt at the course root"),
        "{err}"
    );
}

#[test]
fn a_package_pip_cannot_install_is_an_error_naming_the_requirements_file() {
    let env = Env::new();
    let course = TestCourse::new(&[("six", &[("slides_six.py", USES_SIX)])]);
    std::fs::write(course.root().join("requirements.txt"), "six==0.0.0.999\n").expect("write requirements");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("requirements.txt: ") && err.contains("cannot install the course's Python packages"), "{err}");
    assert!(err.contains("six==0.0.0.999"), "the installer's own words end the message: {err}");
    let unfinished: Vec<_> = std::fs::read_dir(env.state_dir().join("envs"))
        .expect("envs dir")
        .flatten()
        .filter(|e| e.path().join("clx-env.json").exists())
        .collect();
    assert!(unfinished.is_empty(), "a failed environment never looks finished");

    // Not remembered: fixing the pin builds the environment and runs the deck.
    let again = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(stderr(&again).contains("0 from cache"), "the failure was cached: {}", stderr(&again));
    std::fs::write(course.root().join("requirements.txt"), "six==1.16.0\n").expect("write requirements");
    let fixed = build(&env, &course.spec());
    assert!(fixed.contains("2 built, 0 from cache"), "{fixed}");
}

#[test]
fn the_example_course_prints_a_table_with_the_package_its_requirements_file_names() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples/python-course"), dir.path());
    build(&env, &dir.path().join("course-specs/python-course.xml"));
    let page = dir
        .path()
        .join("output/public/En/Python Basics/Slides/Html/Completed/Data Reading and Drawing/01 Reading Data CSV.html");
    let page = std::fs::read_to_string(&page).expect("the data deck's page");
    assert!(page.contains("<pre>name      score\n------  -------\nAda"), "tabulate's table of the scores: {page}");
}

#[test]
fn pages_that_print_paths_warnings_and_temp_dirs_are_byte_identical_across_state_dirs() {
    let deck = "# %% [markdown]\n# Paths\n\n# %%\nimport os, tempfile, warnings\nimport helper\n\
                warnings.warn(\"old API\", DeprecationWarning)\nprint(os.getcwd())\nprint(tempfile.gettempdir())\n\
                print(helper.__file__)\n\n# %%\ndef f():\n    pass\nf.__code__.co_filename\n";
    let course = TestCourse::new(&[("paths", &[("slides_paths.py", deck), ("helper.py", "X = 1\n")])]);
    let speaker_page = |course: &TestCourse| {
        let pages = course.outputs_ending("slides_paths.html");
        let page = pages.iter().find(|p| p.to_string_lossy().contains("/Speaker/")).expect("a speaker page");
        std::fs::read_to_string(page).expect("read page")
    };
    let (first_env, second_env) = (Env::new(), Env::new());
    build(&first_env, &course.spec());
    let first = file_tree(&course.out());
    let page = speaker_page(&course);
    assert!(page.contains("DeprecationWarning: old API"), "the warning is in the page: {page}");
    assert!(page.contains("/tmp/ipykernel/"), "cell files without the kernel's pid: {page}");
    assert!(page.contains("$CLX_HOME/run/"), "the run directory under a placeholder: {page}");
    let state = first_env.state_dir();
    assert!(!page.contains(&*state.to_string_lossy()), "no state dir in the page: {page}");

    build(&second_env, &course.spec());
    let second = file_tree(&course.out());
    for (path, bytes) in &first {
        assert!(second.get(path) == Some(bytes), "{path} differs between the builds in two state dirs");
    }
    assert_eq!(first.len(), second.len());
}

#[test]
fn unpinned_requirements_are_locked_on_the_first_build_and_change_only_through_env_update() {
    let env = Env::new();
    let course = TestCourse::new(&[("six", &[("slides_six.py", USES_SIX)])]);
    let nothing = env.clx().args(["env", "update"]).arg(course.root()).output().expect("run clx env update");
    assert_eq!(nothing.status.code(), Some(2), "{}", stderr(&nothing));
    assert!(stderr(&nothing).contains("no requirements.txt here, so nothing to lock"), "{}", stderr(&nothing));
    std::fs::write(course.root().join("requirements.txt"), "six\n").expect("write requirements");
    let lock_path = course.root().join("requirements.lock");
    let pinned_six = || {
        let lock = std::fs::read_to_string(&lock_path).expect("requirements.lock beside requirements.txt");
        assert!(lock.contains("--hash=sha256:"), "every pin with its hashes: {lock}");
        assert!(lock.contains("\nipykernel=="), "ipykernel is locked too: {lock}");
        let line = lock.lines().find(|l| l.starts_with("six==")).unwrap_or_else(|| panic!("{lock}")).to_owned();
        line.trim_start_matches("six==").trim_end_matches([' ', '\\']).to_owned()
    };

    let first = build(&env, &course.spec());
    let locked = pinned_six();
    assert!(
        first.contains(&format!("locked requirements.txt into requirements.lock: six {locked}, ipykernel ")),
        "{first}"
    );
    assert!(completed_page(&course, "slides_six").contains(&format!("six {locked}")), "the lock's version ran");
    assert!(build(&env, &course.spec()).contains("0 built, 2 from cache"), "an unchanged rebuild runs nothing");

    let update = |expected: &str| {
        let out = env.clx().args(["env", "update"]).current_dir(course.root()).output().expect("run clx env update");
        let text = stdout(&out);
        assert!(out.status.success(), "{text}{}", stderr(&out));
        assert!(text.contains(expected), "{expected} missing from: {text}");
    };
    update("requirements.lock: unchanged");
    std::fs::write(course.root().join("requirements.txt"), "six==1.16.0\n").expect("write requirements");
    update(&format!("six {locked} -> 1.16.0"));
    let rerun = build(&env, &course.spec());
    assert!(rerun.contains("2 built, 0 from cache"), "a new lock is a new cache key: {rerun}");
    assert!(completed_page(&course, "slides_six").contains("six 1.16.0"));

    // Loosening the requirement again keeps the locked version: nothing is
    // upgraded behind the author's back.
    std::fs::write(course.root().join("requirements.txt"), "six\n").expect("write requirements");
    let loose = build(&env, &course.spec());
    assert!(loose.contains("requirements.txt changed since requirements.lock was made: resolved again"), "{loose}");
    assert_eq!(pinned_six(), "1.16.0");
    assert!(completed_page(&course, "slides_six").contains("six 1.16.0"));
}

/// A worker's user without a home directory (a system user, a container's
/// `nobody`, systemd's `DynamicUser`): `HOME=/nonexistent`. Under root the
/// build runs as a system user of its own, for whom `/nonexistent` cannot
/// be created; uv, pip and the kernels' tools keep their caches in the state
/// dir instead.
#[test]
fn a_user_without_a_home_directory_builds_a_course_with_its_own_environment() {
    let env = Env::new();
    let ts = "// %% [markdown]\n// # TS\n\n// %%\nconsole.log(\"ts\", 6 * 7)\n";
    let course = TestCourse::new(&[("six", &[("slides_six.py", USES_SIX), ("slides_ts.ts", ts)])]);
    std::fs::write(course.root().join("requirements.txt"), "six==1.16.0\n").expect("write requirements");
    let mut cmd = env.clx();
    cmd.env("HOME", "/nonexistent").env_remove("XDG_CACHE_HOME").arg("build").arg(course.spec());
    if let Some(user) = clx_e2e::pg::TestUser::ensure("clx-worker") {
        user.allow_traverse(&tools_dir().join("venv"));
        if let Ok(real) = std::fs::canonicalize(tools_dir().join("venv/bin/python3")) {
            user.allow_traverse(&real);
        }
        user.own(env.home.path());
        user.own(course.root());
        user.apply(&mut cmd);
    }
    let out = cmd.output().expect("run clx");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(completed_page(&course, "slides_six").contains("six 1.16.0"), "the deck imported six");
    assert!(completed_page(&course, "slides_ts").contains("ts 42"), "the TypeScript deck ran");
    assert!(env.state_dir().join("tool-cache/uv").is_dir(), "uv's cache is in the state dir");
}
