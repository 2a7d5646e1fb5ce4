//! Every vendored `.proto` file made it into the crate: each names one of its types through the
//! facade (which fails to compile if the type is missing), and the list of files here is the list
//! of files in `protos/` (which fails at run time if a file is vendored without being listed).

use std::collections::BTreeSet;
use std::path::PathBuf;

use flyte_idl::{admin, core, event};

/// `(file, the Rust path of one of its types)`, one entry per vendored file.
macro_rules! one_type_per_file {
    ($($file:literal => $ty:ty,)*) => {
        [$(($file, std::any::type_name::<$ty>()),)*]
    };
}

fn listed_types() -> [(&'static str, &'static str); 39] {
    one_type_per_file! {
    "flyteidl/admin/agent.proto" => admin::TaskExecutionMetadata,
    "flyteidl/admin/cluster_assignment.proto" => admin::ClusterAssignment,
    "flyteidl/admin/common.proto" => admin::NamedEntityIdentifier,
    "flyteidl/admin/description_entity.proto" => admin::DescriptionEntity,
    "flyteidl/admin/event.proto" => admin::WorkflowExecutionEventRequest,
    "flyteidl/admin/execution.proto" => admin::ExecutionCreateRequest,
    "flyteidl/admin/launch_plan.proto" => admin::LaunchPlanSpec,
    "flyteidl/admin/matchable_resource.proto" => admin::MatchableResource,
    "flyteidl/admin/node_execution.proto" => admin::NodeExecutionGetRequest,
    "flyteidl/admin/notification.proto" => admin::EmailMessage,
    "flyteidl/admin/project.proto" => admin::Project,
    "flyteidl/admin/project_attributes.proto" => admin::ProjectAttributes,
    "flyteidl/admin/project_domain_attributes.proto" => admin::ProjectDomainAttributes,
    "flyteidl/admin/schedule.proto" => admin::Schedule,
    "flyteidl/admin/signal.proto" => admin::Signal,
    "flyteidl/admin/task.proto" => admin::TaskSpec,
    "flyteidl/admin/task_execution.proto" => admin::TaskExecutionGetRequest,
    "flyteidl/admin/version.proto" => admin::GetVersionResponse,
    "flyteidl/admin/workflow.proto" => admin::WorkflowSpec,
    "flyteidl/admin/workflow_attributes.proto" => admin::WorkflowAttributes,
    "flyteidl/core/artifact_id.proto" => core::ArtifactId,
    "flyteidl/core/catalog.proto" => core::CatalogMetadata,
    "flyteidl/core/compiler.proto" => core::CompiledWorkflowClosure,
    "flyteidl/core/condition.proto" => core::BooleanExpression,
    "flyteidl/core/dynamic_job.proto" => core::DynamicJobSpec,
    "flyteidl/core/errors.proto" => core::ErrorDocument,
    "flyteidl/core/execution.proto" => core::ExecutionError,
    "flyteidl/core/execution_envs.proto" => core::ExecutionEnvAssignment,
    "flyteidl/core/identifier.proto" => core::Identifier,
    "flyteidl/core/interface.proto" => core::TypedInterface,
    "flyteidl/core/literals.proto" => core::Literal,
    "flyteidl/core/metrics.proto" => core::Span,
    "flyteidl/core/security.proto" => core::SecurityContext,
    "flyteidl/core/tasks.proto" => core::TaskTemplate,
    "flyteidl/core/types.proto" => core::LiteralType,
    "flyteidl/core/workflow.proto" => core::WorkflowTemplate,
    "flyteidl/core/workflow_closure.proto" => core::WorkflowClosure,
    "flyteidl/event/cloudevents.proto" => event::CloudEventWorkflowExecution,
    "flyteidl/event/event.proto" => event::TaskExecutionEvent,
    }
}

#[test]
fn every_vendored_proto_file_has_a_type_in_the_facade() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protos");
    let mut vendored = BTreeSet::new();
    for package in ["core", "admin", "event"] {
        for entry in std::fs::read_dir(root.join("flyteidl").join(package)).expect("read a vendored package") {
            let path = entry.expect("read a directory entry").path();
            if path.extension().is_some_and(|e| e == "proto") {
                let relative = path
                    .strip_prefix(&root)
                    .expect("under protos/")
                    .to_str()
                    .expect("a UTF-8 path");
                vendored.insert(relative.replace('\\', "/"));
            }
        }
    }
    let listed: BTreeSet<String> = listed_types().iter().map(|(file, _)| (*file).to_owned()).collect();
    assert_eq!(
        listed, vendored,
        "the files listed here are not the files vendored in protos/"
    );
    for (file, ty) in listed_types() {
        let package = file.split('/').nth(1).expect("flyteidl/<package>/<file>");
        assert!(
            ty.contains(&format!("::{package}::")),
            "{ty}, listed for {file}, is not in `{package}`"
        );
    }
}
