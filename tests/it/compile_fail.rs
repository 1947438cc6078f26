//! The guarantees that are compile errors (a view cannot outlive its guard, an array
//! cannot grow while a view of it lives, a read-only guard cannot be written, `bool` is not
//! an element, mapping is `unsafe`), each checked for the error it must give: the snippets
//! in `tests/it/ui/` are compiled against this build of ndmmap, and each must fail with
//! exactly the error code and message named in its `//@` lines, and with no other error.
//! A `compile_fail` doctest passes whatever the error (stable rustdoc does not check error
//! codes), so a renamed method would make it pass while testing nothing; here the control
//! `ui/pass.rs`, the same calls written correctly, must compile, and an unexpected error
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;

/// What a snippet must give: its `//@ error:` code and `//@ message:` fragments, or
/// `//@ compiles`.
struct Expected {
    code: Option<String>,
    messages: Vec<String>,
}

fn expected(source: &str) -> Expected {
    let mut found = Expected { code: None, messages: Vec::new() };
    for line in source.lines().filter_map(|l| l.strip_prefix("//@ ")) {
        if let Some(code) = line.strip_prefix("error: ") {
            found.code = Some(code.trim().to_owned());
        } else if let Some(message) = line.strip_prefix("message: ") {
            found.messages.push(message.to_owned());
        } else {
            assert_eq!(line, "compiles", "unknown expectation {line:?}");
        }
    }
    found
}

/// Type-checks `snippet` as a library against the ndmmap library `rlib` (its
/// dependencies beside it), without linking.
fn compile(rlib: &Path, snippet: &Path, out: &Path) -> Output {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let deps = rlib.parent().expect("the deps folder");
    Command::new(rustc)
        .args(["--edition", "2024", "--crate-type", "lib", "--emit=metadata", "--color=never"])
        .arg("-o")
        .arg(out)
        .arg("--extern")
        .arg(format!("ndmmap={}", rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(snippet)
        .output()
        .expect("run rustc")
}

/// This build's ndmmap library: among the `libndmmap-*.rlib` beside the test binary (one
/// per set of features), the newest for which the control snippet compiles.
fn ndmmap_rlib(control: &Path, out: &Path) -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("the deps folder");
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .expect("read the deps folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("libndmmap-") && name.ends_with(".rlib")
        })
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|rlib| compile(rlib, control, out).status.success())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot run rustc")]
fn guarantees_fail_to_compile_with_the_expected_error() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ui");
    let out = tempfile::tempdir().unwrap();
    let control = ui.join("pass.rs");
    let rlib = ndmmap_rlib(&control, &out.path().join("pass.rmeta"));
    let Some(rlib) =
        common::require(rlib, "no ndmmap rlib beside the test binary compiles ui/pass.rs")
    else {
        return;
    };
    let mut snippets: Vec<PathBuf> = std::fs::read_dir(&ui)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("pass.rs"))
        .collect();
    snippets.sort();
    assert!(snippets.len() >= 5, "{snippets:?}");
    // All at once: each rustc waits mostly on loading metadata.
    let runs: Vec<_> = snippets
        .iter()
        .map(|snippet| {
            let (rlib, snippet, out) = (rlib.clone(), snippet.clone(), out.path().to_owned());
            std::thread::spawn(move || {
                let name = snippet.file_stem().unwrap().to_string_lossy().into_owned();
                let output = compile(&rlib, &snippet, &out.join(format!("{name}.rmeta")));
                (snippet, output)
            })
        })
        .collect();
    for run in runs {
        let (snippet, output) = run.join().unwrap();
        let source = std::fs::read_to_string(&snippet).unwrap();
        let want = expected(&source);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let name = snippet.display();
        let code = want.code.unwrap_or_else(|| panic!("{name}: no `//@ error:` line"));
        assert!(!output.status.success(), "{name} compiled, but must fail with {code}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error[")).collect();
        assert_eq!(errors.len(), 1, "{name}: expected exactly one error, {code}:\n{stderr}");
        assert!(errors[0].starts_with(&format!("error[{code}]")), "{name}: not {code}:\n{stderr}");
        for message in &want.messages {
            assert!(errors[0].contains(message.as_str()), "{name}: no {message:?} in\n{stderr}");
        }
    }
}
