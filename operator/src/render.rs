//! `operator render`: the objects the operator would apply for a ChatApp, computed offline by the
//! same validation and builders the controller uses. For reviewing a spec before applying it, and
//! for checking the children with schema validators without a cluster.

use kube::ResourceExt;

use crate::controller::validate::validate;
use crate::crd::ChatApp;
use crate::resources::Desired;

/// Renders every child of the ChatApp in `yaml` as a multi-document YAML stream, or says why the
/// spec would be refused. Without `metadata.namespace` the objects go to `default`.
pub fn render(yaml: &str) -> Result<String, String> {
    let mut app: ChatApp =
        serde_norway::from_str(yaml).map_err(|e| format!("not a ChatApp: {e}"))?;
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
mod tests;
