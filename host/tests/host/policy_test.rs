//! `goldylox policy test` tested: the template's scenarios pass on the
//! CLOCK they describe, a wrong expectation and every kind of misbehaving
//! component fail with the reason, a budget can fail, and the binary exits
//! non-zero on any failure.

use std::path::PathBuf;
use std::process::Command;

use goldylox_host::author::{Outcome, TEST_FILE, Target, run_tests, scenario::TestFile};

use super::animals::{Animal, TAME, wat};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gx-policy-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The scenario file `policy new` writes for an eviction policy.
fn template() -> String {
    let d = scratch("template");
    goldylox_host::author::new_project(
        &d.join("p"),
        "p",
        goldylox_host::author::Language::Rust,
        goldylox_sandbox::World::Eviction,
    )
    .unwrap();
    let text = std::fs::read_to_string(d.join("p").join(TEST_FILE)).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    text
}

fn test(component: &str, file: &str) -> Outcome {
    let target = Target {
        component: component.to_owned(),
        file: TestFile::parse(file, "test").unwrap(),
        origin: None,
    };
    run_tests(&target, &[]).unwrap()
}

fn animal(name: &str, a: &Animal) -> String {
    let d = scratch(name);
    let path = d.join(format!("{name}.wat"));
    std::fs::write(&path, wat(a)).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn the_template_scenarios_pass_on_the_clock_they_describe() {
    for component in ["wasm:clock", "builtin:clock"] {
        let outcome = test(component, &template());
        assert_eq!(outcome.failed(), 0, "{component}: {outcome:?}");
        assert!(
            outcome.checks.len() >= 8,
            "2 scenarios, 4 built-in, 2 budget: {outcome:?}"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_with_what_the_policy_chose() {
    let wrong = template().replace("evict = [\"b\"]", "evict = [\"a\"]");
    let outcome = test("wasm:clock", &wrong);
    let why = outcome
        .failure("scenario \"a hit buys a second chance\"")
        .unwrap();
    assert!(
        why.contains("expected victims [\"a\"], the policy chose [\"b\"]"),
        "{why}"
    );
    let kept = template().replace("kept = [\"a\"]", "kept = [\"b\"]");
    let why = test("wasm:clock", &kept)
        .failure("scenario \"a hit")
        .unwrap()
        .to_owned();
    assert!(why.contains("b must be kept"), "{why}");
    // Other policies decide otherwise, and the scenario says so.
    assert!(
        test(
            "builtin:wtinylfu",
            &template().replace("params = { max_freq = \"1\" }", "")
        )
        .failed()
            > 0
    );
}

#[test]
fn a_scenario_the_host_would_never_send_is_refused() {
    let file = "[[scenario]]\nname = \"ghost\"\ncapacity = 2\n[[scenario.step]]\nevents = [\"hit nobody\"]\n";
    let why = test("wasm:clock", file)
        .failure("scenario \"ghost\"")
        .unwrap()
        .to_owned();
    assert!(
        why.contains("hit of nobody, which is not resident"),
        "{why}"
    );
    let file = file.replace("hit nobody", "jump a");
    let why = test("wasm:clock", &file)
        .failure("scenario \"ghost\"")
        .unwrap()
        .to_owned();
    assert!(why.contains("an event is"), "{why}");
}

#[test]
fn misbehaving_components_fail_the_built_in_suite() {
    // Proposes nothing: the tier stays over capacity.
    let tame = test(&animal("tame", &TAME), "");
    let why = tame.failure("built-in churn").unwrap();
    assert!(why.contains("fell short"), "{why}");
    // Proposes made-up and duplicate victims.
    let liar = Animal {
        evict: "i32.const 256 i64.const 0xdead i64.store
                i32.const 16 i32.const 256 i32.store
                i32.const 20 i32.const 1 i32.store
                i32.const 16",
        ..TAME
    };
    let why = test(&animal("liar", &liar), "")
        .failure("built-in churn")
        .unwrap()
        .to_owned();
    assert!(why.contains("0xdead, which is not resident"), "{why}");
    // Traps when asked for victims.
    let traps = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/faulty/evict-traps.wat"
    );
    let why = test(traps, "")
        .failure("built-in churn")
        .unwrap()
        .to_owned();
    assert!(why.contains("evict failed"), "{why}");
}

#[test]
fn a_budget_can_fail_and_the_binary_exits_non_zero() {
    let tight = "[budget]\nns_per_event = 0.001\nmemory = \"1KiB\"\n";
    let outcome = test("wasm:clock", tight);
    assert!(outcome.failure("budget").is_some(), "{outcome:?}");
    assert_eq!(outcome.failed(), 2, "{outcome:?}");

    let d = scratch("binary");
    let file = d.join("tight.toml");
    std::fs::write(&file, tight).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .args([
            "policy",
            "test",
            file.to_str().unwrap(),
            "--component",
            "wasm:clock",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("built-in churn") && stdout.contains("FAILED: over budget"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 of"),
        "the exit says how many failed"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_goldylox"))
        .args(["policy", "test", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a policy project"), "{stderr}");
    std::fs::remove_dir_all(&d).unwrap();
}
