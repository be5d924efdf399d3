//! `operator render`: the objects the operator would apply for a ChatApp, computed offline by the
//! same validation and builders the controller uses. For reviewing a spec before applying it, and
//! for checking the children with schema validators without a cluster.

use kube::ResourceExt;

use crate::build::Desired;
use crate::crd::ChatApp;
use crate::validate::validate;

/// Renders every child of the ChatApp in `yaml` as a multi-document YAML stream, or says why the
/// spec would be refused. Without `metadata.namespace` the objects go to `default`.
pub fn render(yaml: &str) -> Result<String, String> {
    let mut app: ChatApp = serde_yaml::from_str(yaml).map_err(|e| format!("not a ChatApp: {e}"))?;
    if app.namespace().is_none() {
        app.metadata.namespace = Some("default".into());
    }
    let problems = validate(&app);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        return Err(format!("invalid ChatApp:\n{}", lines.join("\n")));
    }
    let docs: Vec<String> = Desired::build(&app)
        .to_json()
        .iter()
        .map(crate::bundle::yaml_doc)
        .collect();
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(out: &str) -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn renders_every_child_of_the_samples() {
        let default = render(include_str!("../../deploy/samples/default.yaml")).unwrap();
        assert_eq!(
            kinds(&default),
            [
                "Deployment",
                "Service",
                "Deployment",
                "Service",
                "PodDisruptionBudget"
            ],
            "{default}"
        );
        let load = render(include_str!("../../deploy/samples/loadtest.yaml")).unwrap();
        assert!(kinds(&load).contains(&"ConfigMap".to_owned()), "{load}");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let out = render(include_str!("../../deploy/samples/default.yaml")).unwrap();
        assert!(out.contains("- --appendonly\n        - 'no'\n"), "{out}");
        let doc =
            crate::bundle::yaml_doc(&serde_json::json!({"a": "on", "b": ["yes", "x"], "c": true}));
        assert_eq!(doc, "a: 'on'\nb:\n- 'yes'\n- x\nc: true\n");
    }

    #[test]
    fn a_bad_spec_is_refused_with_the_field_named() {
        let err = render("apiVersion: chatapp.dev/v1alpha1\nkind: ChatApp\nmetadata:\n  name: x\nspec:\n  replicas: 500\n").unwrap_err();
        assert!(err.contains("spec.replicas"), "{err}");
        assert!(render("kind: [").unwrap_err().starts_with("not a ChatApp"));
    }
}
