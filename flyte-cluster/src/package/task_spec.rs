//! A task as `admin.TaskSpec`: a container task that runs the workflow binary's `execute`
//! subcommand, with the task's options as Flyte's task metadata; and the task flytekit writes for
//! a `map_task`, which an array node runs once per element.

use flyte_idl::core::{
    self, resources::ResourceEntry, resources::ResourceName, runtime_metadata::RuntimeType,
    task_metadata::InterruptibleValue, ResourceType,
};
use flyte_idl::{admin, prost_types};
use flyte_runtime::{Interface, MapOptions, Resources, TaskInfo, Type};
use md5::{Digest, Md5};

use super::{identifier, qualified, typed_interface, Options, SDK_VERSION};

/// Flyte's template variables, each after its flag, in the order pyflyte writes them: the
/// contract between the container and propeller.
pub(crate) const TEMPLATE_ARGS: [(&str, &str); 5] = [
    ("--inputs", "{{.input}}"),
    ("--output-prefix", "{{.outputPrefix}}"),
    ("--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"),
    ("--checkpoint-path", "{{.checkpointOutputPrefix}}"),
    ("--prev-checkpoint", "{{.prevCheckpointPrefix}}"),
];

/// The variable a dynamic workflow's task container finds its image in: the graph its body
/// builds names the tasks it runs with their templates, whose image is that one (flytekit
/// carries its serialization settings, the image among them, in `_F_SS_C` on a dynamic task's
/// container, and on no other's).
pub const IMAGE_ENV: &str = "FLYTEKIT_RS_IMAGE";

/// Sets [`IMAGE_ENV`] to `image` in the container of `spec` (a dynamic workflow's task).
pub(crate) fn carry_image(spec: &mut admin::TaskSpec, image: &str) {
    if let Some(core::task_template::Target::Container(c)) = spec.template.as_mut().and_then(|t| t.target.as_mut()) {
        c.env.push(core::KeyValuePair {
            key: IMAGE_ENV.to_owned(),
            value: image.to_owned(),
        });
    }
}

/// The task's qualified name, `module.function`.
pub(crate) fn task_name(info: &TaskInfo) -> String {
    qualified(info.module(), info.name())
}

/// The spec of the task `info` describes, with the interface `interface`.
pub(crate) fn task_spec(info: &TaskInfo, interface: &Interface, options: &Options) -> admin::TaskSpec {
    let name = task_name(info);
    admin::TaskSpec {
        description: super::description(info.docs()),
        ..template(&name, info, typed_interface(interface), options, 0, &[])
    }
}

/// The name flytekit gives the task of `map_task(f, concurrency=.., min_success_ratio=..)`:
/// `<module>.map_<function>_<md5>-arraynode`, the MD5 (hex) of the bound input names (sorted,
/// joined by `,`: none here), the concurrency, the minimum number of successes and the minimum
/// ratio, each as Python's `str` writes it (`None` when unset; the ratio is never unset, as
/// flytekit's default is `1.0`).
pub(crate) fn map_task_name(info: &TaskInfo, options: &MapOptions) -> String {
    let concurrency = options.concurrency.map_or_else(|| "None".to_owned(), |c| c.to_string());
    let ratio = python_float(options.min_success_ratio);
    let hash = Md5::digest(format!("{concurrency}None{ratio}").as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let module = info.module().replace("::", ".");
    let function = format!("map_{}_{hex}-arraynode", info.name());
    if module.is_empty() {
        function
    } else {
        format!("{module}.{function}")
    }
}

/// Whether elements of the map may fail, so that its outputs are lists of optionals.
pub(crate) fn may_fail(options: &MapOptions) -> bool {
    options.min_success_ratio < 1.0
}

/// The spec of the task flytekit writes for a map over the task `info`: the task's metadata,
/// each input and output a list, outputs of optionals when elements may fail.
pub(crate) fn map_task_spec(
    info: &TaskInfo,
    interface: &Interface,
    map: &MapOptions,
    options: &Options,
) -> admin::TaskSpec {
    let name = map_task_name(info, map);
    let optional = may_fail(map);
    let list = |ty: &Type, optional: bool| {
        let element = if optional {
            Type::optional(ty.clone())
        } else {
            ty.clone()
        };
        Type::Collection(Box::new(element))
    };
    let listed = Interface {
        inputs: interface
            .inputs
            .iter()
            .map(|(n, ty)| (n.clone(), list(ty, false)))
            .collect(),
        outputs: interface
            .outputs
            .iter()
            .map(|(n, ty)| (n.clone(), list(ty, optional)))
            .collect(),
    };
    template(&name, info, typed_interface(&listed), options, 1, &["--map"])
}

fn template(
    name: &str,
    info: &TaskInfo,
    interface: core::TypedInterface,
    options: &Options,
    task_type_version: i32,
    extra: &[&str],
) -> admin::TaskSpec {
    let mut args = vec!["execute".to_owned(), "--task".to_owned(), name.to_owned()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    for (flag, variable) in TEMPLATE_ARGS {
        args.push(flag.to_owned());
        args.push(variable.to_owned());
    }
    admin::TaskSpec {
        template: Some(core::TaskTemplate {
            id: Some(identifier(ResourceType::Task, name)),
            r#type: "container".to_owned(),
            metadata: Some(metadata(info)),
            interface: Some(interface),
            task_type_version,
            target: Some(core::task_template::Target::Container(core::Container {
                image: options.image.clone(),
                args,
                resources: Some(core::Resources {
                    requests: entries(info.requests()),
                    limits: entries(info.limits()),
                }),
                ..core::Container::default()
            })),
            ..core::TaskTemplate::default()
        }),
        description: None,
    }
}

/// The task's options as Flyte's task metadata, with the empty messages flytekit sets.
fn metadata(info: &TaskInfo) -> core::TaskMetadata {
    core::TaskMetadata {
        discoverable: info.cache_version().is_some(),
        discovery_version: info.cache_version().unwrap_or_default().to_owned(),
        runtime: Some(core::RuntimeMetadata {
            r#type: RuntimeType::FlyteSdk as i32,
            version: SDK_VERSION.to_owned(),
            flavor: "rust".to_owned(),
        }),
        timeout: info.timeout().map(duration),
        retries: Some(core::RetryStrategy {
            retries: info.retries(),
        }),
        generates_deck: Some(false),
        metadata: Some(core::K8sObjectMetadata::default()),
        interruptible_value: info.interruptible().then_some(InterruptibleValue::Interruptible(true)),
        ..core::TaskMetadata::default()
    }
}

pub(crate) fn duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// The resources named, in flytekit's order (cpu, memory, gpu, ephemeral storage).
fn entries(resources: Resources) -> Vec<ResourceEntry> {
    [
        (ResourceName::Cpu, resources.cpu),
        (ResourceName::Memory, resources.mem),
        (ResourceName::Gpu, resources.gpu),
        (ResourceName::EphemeralStorage, resources.ephemeral_storage),
    ]
    .into_iter()
    .filter_map(|(name, quantity)| {
        quantity.map(|q| ResourceEntry {
            name: name as i32,
            value: q.to_owned(),
        })
    })
    .collect()
}

/// A float as Python's `str` writes it: the shortest text that reads back as the same value,
/// with `.0` on a whole number and an exponent of at least two digits (`1e-05`).
pub(crate) fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{x:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{x:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_writes_them() {
        for (x, python) in [
            (0.75, "0.75"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e20, "1.5e+20"),
            (0.0, "0.0"),
        ] {
            assert_eq!(python_float(x), python, "{x}");
        }
    }

    #[test]
    fn the_map_task_name_without_options_is_flytekits() {
        let info = TaskInfo::new("inc", "plain", &["x"]);
        let options = MapOptions {
            concurrency: None,
            min_success_ratio: 1.0,
        };
        // `map_task(inc)` in a module `plain`, as pyflyte 1.16.31 names it.
        assert_eq!(
            map_task_name(&info, &options),
            "plain.map_inc_6b3bd0353da5de6e84d7982921ead2b3-arraynode"
        );
    }

    #[test]
    fn the_map_task_name_is_flytekits() {
        let info = TaskInfo::new("square", "twins::mapping", &["x"]);
        let options = MapOptions {
            concurrency: Some(4),
            min_success_ratio: 0.75,
        };
        // The MD5 of "4None0.75", as tests/flyte/README.md works it out.
        assert_eq!(
            map_task_name(&info, &options),
            "twins.mapping.map_square_1b6b0fecf4392c7d11c829144ba49908-arraynode"
        );
    }
}
