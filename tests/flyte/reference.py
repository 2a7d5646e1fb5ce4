"""The flytekit 1.16.31 reference: packages, normalises, compares, loads and converts literals.

Run it with the Python of the virtual environment that `tests/support/flytekit.rs` creates
(flytekit 1.16.31 and its flyteidl). `README.md` beside this file explains each subcommand and
lists every normalisation with its reason.

    reference.py package OUT.tgz [--image IMAGE]
    reference.py normalize PKG.tgz
    reference.py compare A.tgz B.tgz
    reference.py load PKG.tgz
    reference.py edit IN.tgz OUT.tgz [--set KEY PATH JSON]... [--drop KEY]... [--rename-root NAME]
    reference.py encode TYPES VALUES OUT.pb
    reference.py decode TYPES LITERALMAP.pb

Exit status: 0 on success, 1 when `compare` finds a difference, 2 on any error (with a message on
stderr naming the file and what was wrong).
"""

import argparse
import dataclasses
import datetime
import enum
import importlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
import time
import typing

# The twins are imported by `encode`/`decode` (their dataclasses and enums): keep the source tree
# free of __pycache__ directories.
sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

DEFAULT_IMAGE = "example.com/twins:1"

# `<zero-padded index>_<name>_<kind>.pb`, as flytekit's `persist_registrable_entities` names them.
MEMBER = re.compile(r"^(?P<index>[0-9]+)_(?P<name>.+)_(?P<kind>[123])\.pb$")
KINDS = {"1": "task", "2": "workflow", "3": "launch_plan"}

# The Flyte template variables a task container's arguments must carry, flag by flag: the part of
# `args` that propeller fills in and that both SDKs must agree on.
TEMPLATE_ARG = re.compile(r"^\{\{\s*\.[A-Za-z]+\s*\}\}$")


class Failure(Exception):
    """A problem with an input: reported on stderr, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Reading and writing packages


class Entity:
    """One `.pb` of a package: its file, index, kind and the decoded admin message."""

    def __init__(self, member, index, width, kind, name, message):
        self.member = member
        self.index = index
        self.width = width
        self.kind = kind
        self.name = name
        self.message = message

    @property
    def id_name(self):
        if self.kind == "launch_plan":
            return self.message.id.name
        return self.message.template.id.name

    def as_dict(self):
        from google.protobuf import json_format

        # Proto field names (snake_case), as in the .proto files and in prost's structs. Scalars at
        # their default are absent, exactly as on the wire; an empty message that is set shows as {}.
        return json_format.MessageToDict(self.message, preserving_proto_field_name=True)


def message_class(kind):
    from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2

    return {
        "task": task_pb2.TaskSpec,
        "workflow": workflow_pb2.WorkflowSpec,
        "launch_plan": launch_plan_pb2.LaunchPlan,
    }[kind]


def read_package(path):
    """Every entity of the package at `path`, in index order. Raises Failure on anything that is
    not a `.pb` named as flytekit names them, or that does not decode as its kind."""
    try:
        archive = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError) as e:
        raise Failure(f"{path}: not a readable .tgz: {e}")
    entities = []
    with archive:
        for info in archive.getmembers():
            if info.isdir():
                continue
            base = info.name[2:] if info.name.startswith("./") else info.name
            m = MEMBER.match(base)
            if not info.isfile() or "/" in base or not m:
                raise Failure(
                    f"{path}: member {info.name!r} is not a file named <index>_<name>_<1|2|3>.pb at the top level"
                )
            kind = KINDS[m.group("kind")]
            data = archive.extractfile(info).read()
            message = message_class(kind)()
            try:
                message.ParseFromString(data)
            except Exception as e:  # protobuf raises DecodeError, or RuntimeWarning-like errors
                raise Failure(f"{path}: {info.name}: does not decode as {type(message).__name__}: {e}")
            entities.append(
                Entity(info.name, int(m.group("index")), len(m.group("index")), kind, m.group("name"), message)
            )
    if not entities:
        raise Failure(f"{path}: the package holds no .pb file")
    entities.sort(key=lambda e: e.index)
    return entities


def write_package(path, entities):
    with tarfile.open(path, "w:gz") as archive:
        for e in entities:
            data = e.message.SerializeToString()
            info = tarfile.TarInfo(e.member)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------------------
# Names


def canonical_name(name):
    """`twins.diamond.double` -> `diamond.double`: the last two dot-separated parts, the module the
    twin lives in and the function. The part before them is the Python package (`twins`) or the
    Rust crate, which must differ; the module and function names must not."""
    return ".".join(name.split(".")[-2:])


def identifier_names(tree, found):
    """Collects the `name` of every core.Identifier (a dict with `resource_type`) in a JSON tree."""
    if isinstance(tree, dict):
        if "resource_type" in tree and isinstance(tree.get("name"), str):
            found.add(tree["name"])
        for v in tree.values():
            identifier_names(v, found)
    elif isinstance(tree, list):
        for v in tree:
            identifier_names(v, found)
    return found


def replace_strings(tree, mapping):
    """A copy of a JSON tree with every string equal to a key of `mapping` replaced."""
    if isinstance(tree, dict):
        return {k: replace_strings(v, mapping) for k, v in tree.items()}
    if isinstance(tree, list):
        return [replace_strings(v, mapping) for v in tree]
    if isinstance(tree, str):
        return mapping.get(tree, tree)
    return tree


def entity_key(kind, name):
    return f"{kind}:{canonical_name(name)}"


# ---------------------------------------------------------------------------------------------
# Normalisation. Each rule says why the two SDKs must differ there; everything else is compared.

CONDITIONAL = "<conditional>"
SDK = "<sdk>"


def normalize_args(args):
    # flytekit's args start its entry point (`pyflyte-execute`, `pyflyte-map-execute`) and end with
    # its resolver, module and function; ours start the workflow binary's `execute` and name the
    # task. What must agree is the contract with propeller: the flags that carry Flyte's template
    # variables, with the same variables, in the same order. Keep those pairs, drop the rest.
    pairs = []
    for flag, value in zip(args, args[1:]):
        if flag.startswith("--") and TEMPLATE_ARG.match(value):
            pairs.append([flag, value])
    return pairs


def normalize_task_template(t):
    # Propeller's container plugin runs both "python-task" and "container" task types the same way;
    # a Rust task is not a Python task, so it is "container" there. Any other type stays as written
    # and shows up as a difference.
    if t.get("type") == "python-task":
        t["type"] = "container"
    runtime = t.get("metadata", {}).get("runtime")
    if runtime is not None:
        # FLYTE_SDK on both sides (compared); the SDK's version and flavor ("python"/"rust") differ.
        for field in ("version", "flavor"):
            if field in runtime:
                runtime[field] = SDK
    container = t.get("container")
    if container is not None and "args" in container:
        container["args"] = normalize_args(container["args"])


def normalize_node(n):
    # Flyte's upstream_node_ids is a set; flytekit writes it in set-iteration order.
    if "upstream_node_ids" in n:
        n["upstream_node_ids"] = sorted(n["upstream_node_ids"])
    branch = n.get("branch_node")
    if branch is not None:
        # flytekit takes a branch node's name and its error's failed_node_id from the user's
        # `conditional("name")`; a Rust `if` has no name to take them from.
        n.setdefault("metadata", {})
        n["metadata"]["name"] = CONDITIONAL
        if_else = branch.get("if_else", {})
        if "error" in if_else and "failed_node_id" in if_else["error"]:
            if_else["error"]["failed_node_id"] = CONDITIONAL
        for case in [if_else.get("case")] + if_else.get("other", []):
            if case and "then_node" in case:
                normalize_node(case["then_node"])
        if "else_node" in if_else:
            normalize_node(if_else["else_node"])
    array = n.get("array_node")
    if array is not None and "node" in array:
        normalize_node(array["node"])


def normalize_workflow_template(w):
    for n in w.get("nodes", []):
        normalize_node(n)
    if "failure_node" in w:
        normalize_node(w["failure_node"])


def normalize_description(spec):
    # The long description's format is the docstring language: reStructuredText for Python
    # docstrings, Markdown for rustdoc. A description with nothing in it is no description.
    d = spec.get("description")
    if d is None:
        return
    long = d.get("long_description")
    if long is not None:
        long.pop("format", None)
        if not long:
            del d["long_description"]
    if not d:
        del spec["description"]


def normalize_package(path):
    """The package at `path` as {entity key: normalised JSON}."""
    entities = read_package(path)
    names = set()
    raw = {}
    for e in entities:
        d = e.as_dict()
        identifier_names(d, names)
        key = entity_key(e.kind, e.id_name)
        if key in raw:
            raise Failure(f"{path}: {e.member} and {raw[key][0]} both normalise to {key}")
        raw[key] = (e.member, e.kind, d)
    mapping = {n: canonical_name(n) for n in names}
    # The same rule on a name made a DNS label, as flytekit names an array node's sub-node after the
    # launch plan it maps (`extra.flyte_package.per_item` -> `extra-flyte-package-per-item`).
    from flytekit.core.utils import _dnsify

    mapping.update({_dnsify(n): _dnsify(canonical_name(n)) for n in names})
    out = {}
    for key, (_member, kind, d) in raw.items():
        # Names: every Identifier's name, and any other string equal to one (flytekit uses the map
        # task's name as its array node's sub-node id and name).
        d = replace_strings(d, mapping)
        if kind == "task":
            normalize_task_template(d.get("template", {}))
            normalize_description(d)
        elif kind == "workflow":
            normalize_workflow_template(d.get("template", {}))
            for sub in d.get("sub_workflows", []):
                normalize_workflow_template(sub)
            normalize_description(d)
        out[key] = d
    return out


# ---------------------------------------------------------------------------------------------
# Comparison


def show(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else k
            if k not in b:
                out.append(f"{sub}: {show(a[k])} != (absent)")
            elif k not in a:
                out.append(f"{sub}: (absent) != {show(b[k])}")
            else:
                diff(a[k], b[k], sub, out)
    elif isinstance(a, list) and isinstance(b, list) and path.endswith("upstream_node_ids"):
        # A set (sorted by the normalisation): shown whole, not element by element.
        if a != b:
            out.append(f"{path}: {show(a)} != {show(b)}")
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(b):
                out.append(f"{sub}: {show(a[i])} != (absent)")
            elif i >= len(a):
                out.append(f"{sub}: (absent) != {show(b[i])}")
            else:
                diff(a[i], b[i], sub, out)
    elif type(a) is not type(b) or a != b:
        out.append(f"{path}: {show(a)} != {show(b)}")


def compare_packages(a_path, b_path):
    a, b = normalize_package(a_path), normalize_package(b_path)
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            lines.append(f"{key}: only in A")
        elif key not in a:
            lines.append(f"{key}: only in B")
        else:
            found = []
            diff(a[key], b[key], "", found)
            lines.extend(f"{key}: {line}" for line in found)
    return lines, len(set(a) | set(b))


# ---------------------------------------------------------------------------------------------
# Editing (to build packages that differ in known ways, for testing the comparison)


def set_path(tree, path, value):
    parts = path.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, [] if nxt.isdigit() else {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def edit_package(src, dst, sets, rename_root, drops):
    from google.protobuf import json_format

    entities = read_package(src)
    by_key = {entity_key(e.kind, e.id_name): e for e in entities}
    names = set()
    for e in entities:
        identifier_names(e.as_dict(), names)
    mapping = {}
    if rename_root is not None:
        mapping = {n: ".".join([rename_root] + n.split(".")[1:]) for n in names if "." in n}
    pending = {}
    for key, path, value in sets:
        if key not in by_key:
            raise Failure(f"{src}: no entity {key}; the package holds: {', '.join(sorted(by_key))}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as e:
            raise Failure(f"--set {key} {path}: the value {value!r} is not JSON: {e}")
        pending.setdefault(key, []).append((path, parsed))
    for key, e in by_key.items():
        d = e.as_dict()
        for path, value in pending.get(key, []):
            try:
                set_path(d, path, value)
            except (KeyError, IndexError, ValueError, TypeError) as err:
                raise Failure(f"--set {key} {path}: no such place in the entity: {err!r}")
        d = replace_strings(d, mapping)
        try:
            e.message = json_format.ParseDict(d, message_class(e.kind)())
        except json_format.ParseError as err:
            raise Failure(f"--set on {key}: the result is not a valid {e.kind}: {err}")
    for key in drops:
        if key not in by_key:
            raise Failure(f"{src}: no entity {key} to drop")
    kept = [e for key, e in by_key.items() if key not in drops]
    kept.sort(key=lambda e: e.index)
    for i, e in enumerate(kept):
        # Renumbered without gaps, at the same width, so that only the dropped entity is missing.
        kind = {v: k for k, v in KINDS.items()}[e.kind]
        e.member = f"{str(i).zfill(e.width)}_{mapping.get(e.name, e.name)}_{kind}.pb"
    write_package(dst, kept)


# ---------------------------------------------------------------------------------------------
# Loading through flytekit's own model classes


def pruned(tree):
    """A JSON tree without empty dicts and lists, at any depth: flytekit's models do not keep
    whether an empty message was set (they drop `overrides: {}`, add `auth_role: {}`)."""
    if isinstance(tree, dict):
        out = {k: pruned(v) for k, v in tree.items()}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(tree, list):
        return [pruned(v) for v in tree]
    return tree


def check_structure(path, entities):
    """What flytectl relies on: indices 0..n-1 of one width (so that name order is index order),
    the file named after its entity, and every entity after those it refers to."""
    problems = []
    widths = {e.width for e in entities}
    if len(widths) != 1:
        problems.append(f"indices are zero-padded to different widths {sorted(widths)}")
    indices = [e.index for e in entities]
    if indices != list(range(len(entities))):
        problems.append(f"indices are not 0..{len(entities) - 1} without gaps or repeats: {indices}")
    position = {}
    for e in entities:
        if e.name != e.id_name:
            problems.append(f"{e.member}: the file names {e.name!r} but the entity is {e.id_name!r}")
        key = (e.kind, e.id_name)
        if key in position:
            problems.append(f"{e.member}: {e.kind} {e.id_name} appears twice")
        position[key] = e.index
    for e in entities:
        d = e.as_dict()
        refs = []
        if e.kind == "workflow":
            subs = {s["id"]["name"] for s in d.get("sub_workflows", [])}
            for r in references(d.get("template", {})) + [x for s in d.get("sub_workflows", []) for x in references(s)]:
                if r[0] == "workflow" and r[1] in subs:
                    continue  # embedded in this spec
                refs.append(r)
        elif e.kind == "launch_plan":
            refs.append(("workflow", d.get("spec", {}).get("workflow_id", {}).get("name", "")))
        for kind, name in refs:
            at = position.get((kind, name))
            if at is None:
                problems.append(f"{e.member}: refers to {kind} {name!r}, which the package does not hold")
            elif at >= e.index:
                problems.append(f"{e.member}: refers to {kind} {name!r}, which comes later (index {at})")
    if problems:
        raise Failure(f"{path}: " + "; ".join(problems))


def all_nodes(nodes):
    """Nodes with those nested in branches and array nodes, depth first."""
    for n in nodes:
        yield n
        branch = n.get("branch_node", {}).get("if_else", {})
        inner = [c.get("then_node") for c in [branch.get("case")] + branch.get("other", []) if c]
        if "else_node" in branch:
            inner.append(branch["else_node"])
        if "node" in n.get("array_node", {}):
            inner.append(n["array_node"]["node"])
        yield from all_nodes([x for x in inner if x])


def references(template):
    refs = []
    nodes = list(template.get("nodes", []))
    if "failure_node" in template:
        nodes.append(template["failure_node"])
    for n in all_nodes(nodes):
        if "task_node" in n:
            refs.append(("task", n["task_node"].get("reference_id", {}).get("name", "")))
        wn = n.get("workflow_node", {})
        if "sub_workflow_ref" in wn:
            refs.append(("workflow", wn["sub_workflow_ref"].get("name", "")))
        if "launchplan_ref" in wn:
            refs.append(("launch_plan", wn["launchplan_ref"].get("name", "")))
    return refs


def check_bindings(where, template, interfaces):
    """Every promise names a workflow input or an output of a node of this workflow, every task or
    workflow node binds exactly its entity's inputs, and the workflow binds exactly its outputs:
    what FlyteAdmin's compiler would refuse, checked here since flytectl is not available."""
    problems = []
    inputs = set(template.get("interface", {}).get("inputs", {}).get("variables", {}))
    outputs = set(template.get("interface", {}).get("outputs", {}).get("variables", {}))
    top = list(template.get("nodes", []))
    if "failure_node" in template:
        top.append(template["failure_node"])
    nodes = list(all_nodes(top))
    produced = {}
    for n in nodes:
        entity = entity_of(n)
        produced[n.get("id", "")] = interfaces.get(entity, (None, None))[1] if entity else None

    def check_binding(owner, b):
        if "promise" in b:
            p = b["promise"]
            node, var = p.get("node_id", ""), p.get("var", "")
            if node in ("", "start-node"):
                if var not in inputs:
                    problems.append(f"{owner}: binds workflow input {var!r}, which the workflow does not have")
            elif node not in produced:
                problems.append(f"{owner}: binds {node}.{var}, but there is no node {node!r}")
            elif produced[node] is not None and var not in produced[node]:
                problems.append(f"{owner}: binds {node}.{var}, but {node}'s outputs are {sorted(produced[node])}")
        for item in b.get("collection", {}).get("bindings", []):
            check_binding(owner, item)
        for item in b.get("map", {}).get("bindings", {}).values():
            check_binding(owner, item)

    for n in nodes:
        owner = f"{where}: node {n.get('id', '')!r}"
        bound = [i.get("var", "") for i in n.get("inputs", [])]
        if len(bound) != len(set(bound)):
            problems.append(f"{owner}: binds an input twice: {bound}")
        entity = entity_of(n)
        if entity is not None and entity in interfaces and "array_node" not in n:
            wanted = interfaces[entity][0]
            if set(bound) != wanted:
                problems.append(f"{owner}: binds {sorted(bound)}, but {entity[1]} takes {sorted(wanted)}")
        for i in n.get("inputs", []):
            check_binding(owner, i.get("binding", {}))
    bound_outputs = [o.get("var", "") for o in template.get("outputs", [])]
    if sorted(bound_outputs) != sorted(outputs):
        problems.append(f"{where}: binds outputs {sorted(bound_outputs)}, but its interface has {sorted(outputs)}")
    for o in template.get("outputs", []):
        check_binding(f"{where}: output {o.get('var', '')!r}", o.get("binding", {}))
    return problems


def entity_of(node):
    if "task_node" in node:
        return ("task", node["task_node"].get("reference_id", {}).get("name", ""))
    wn = node.get("workflow_node", {})
    if "sub_workflow_ref" in wn:
        return ("workflow", wn["sub_workflow_ref"].get("name", ""))
    if "launchplan_ref" in wn:
        return ("launch_plan", wn["launchplan_ref"].get("name", ""))
    if "array_node" in node:
        return entity_of(node["array_node"].get("node", {}))
    return None


def load_package(path):
    """Loads every entity through flytekit's model classes and links each workflow's nodes to the
    package's tasks, sub-workflows and launch plans with `FlyteWorkflow.promote_from_model`."""
    from flytekit.models.admin.workflow import WorkflowSpec
    from flytekit.models.launch_plan import LaunchPlan
    from flytekit.models.task import TaskSpec
    from flytekit.remote.entities import FlyteLaunchPlan, FlyteTask, FlyteWorkflow

    entities = read_package(path)
    check_structure(path, entities)
    models = {"task": TaskSpec, "workflow": WorkflowSpec, "launch_plan": LaunchPlan}
    loaded = []
    for e in entities:
        try:
            model = models[e.kind].from_flyte_idl(e.message)
            back = model.to_flyte_idl()
        except Exception as err:
            raise Failure(f"{path}: {e.member}: flytekit's {models[e.kind].__name__} cannot load it: {err!r}")
        lost = []
        diff(pruned(e.as_dict()), pruned(Entity(e.member, 0, 0, e.kind, e.name, back).as_dict()), "", lost)
        if lost:
            raise Failure(
                f"{path}: {e.member}: flytekit's {models[e.kind].__name__} does not keep it as written "
                f"(written != as flytekit writes it back): " + "; ".join(lost)
            )
        loaded.append((e, model))

    tasks, launch_plans, interfaces = {}, {}, {}
    for e, model in loaded:
        d = e.as_dict()
        if e.kind == "task":
            try:
                task = FlyteTask.promote_from_model(model.template)
            except Exception as err:
                raise Failure(f"{path}: {e.member}: FlyteTask.promote_from_model fails: {err!r}")
            tasks[model.template.id] = task
            iface = d.get("template", {}).get("interface", {})
            interfaces[("task", e.id_name)] = variables(iface)
        elif e.kind == "launch_plan":
            try:
                FlyteLaunchPlan.promote_from_model(model.id, model.spec)
            except Exception as err:
                raise Failure(f"{path}: {e.member}: FlyteLaunchPlan.promote_from_model fails: {err!r}")
            launch_plans[model.id] = model.spec
        elif e.kind == "workflow":
            interfaces[("workflow", e.id_name)] = variables(d.get("template", {}).get("interface", {}))
            for sub in d.get("sub_workflows", []):
                interfaces[("workflow", sub["id"]["name"])] = variables(sub.get("interface", {}))

    # A launch plan has its workflow's interface (what a launchplan_ref node binds).
    for lp_id, lp_spec in launch_plans.items():
        interfaces[("launch_plan", lp_id.name)] = interfaces.get(("workflow", lp_spec.workflow_id.name), (set(), set()))

    problems = []
    for e, model in loaded:
        d = e.as_dict()
        if e.kind == "launch_plan":
            wf = d.get("spec", {}).get("workflow_id", {}).get("name", "")
            wanted = interfaces.get(("workflow", wf), (set(), set()))[0]
            have = set(d.get("spec", {}).get("default_inputs", {}).get("parameters", {}))
            have |= set(d.get("spec", {}).get("fixed_inputs", {}).get("literals", {}))
            if have != wanted:
                problems.append(f"{e.member}: launch plan inputs {sorted(have)}, but {wf} takes {sorted(wanted)}")
            continue
        if e.kind != "workflow":
            continue
        subs = {s.id: s for s in model.sub_workflows}
        try:
            flyte_wf = FlyteWorkflow.promote_from_model(
                model.template, sub_workflows=subs, tasks=tasks, node_launch_plans=launch_plans
            )
        except Exception as err:
            raise Failure(f"{path}: {e.member}: FlyteWorkflow.promote_from_model fails: {err!r}")
        linked = {n.id for n in flyte_wf.flyte_nodes if n.flyte_entity is not None}
        written = {n.id for n in model.template.nodes}
        if linked != written:
            problems.append(f"{e.member}: flytekit links nodes {sorted(linked)} of {sorted(written)}")
        problems += check_bindings(e.member, d.get("template", {}), interfaces)
        for sub in d.get("sub_workflows", []):
            problems += check_bindings(f"{e.member}: sub-workflow {sub['id']['name']}", sub, interfaces)
    if problems:
        raise Failure(f"{path}: " + "; ".join(problems))
    counts = {k: sum(1 for e in entities if e.kind == k) for k in ("task", "workflow", "launch_plan")}
    return counts


def variables(interface):
    return (
        set(interface.get("inputs", {}).get("variables", {})),
        set(interface.get("outputs", {}).get("variables", {})),
    )


# ---------------------------------------------------------------------------------------------
# Literals through flytekit's TypeEngine

TYPE_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*|\[|\]|,)")


def parse_type(text):
    """`int`, `float`, `bool`, `str`, `datetime`, `timedelta`, `List[T]`, `Dict[str, T]`,
    `Optional[T]`, or the dotted path of an Enum or a dataclass (`twins.structs.Shard`)."""
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = TYPE_TOKEN.match(text, pos)
        if not m:
            raise Failure(f"type {text!r}: cannot read it at {text[pos:]!r}")
        tokens.append(m.group(1))
        pos = m.end()

    def parse(i):
        if i >= len(tokens):
            raise Failure(f"type {text!r}: ends too early")
        name = tokens[i]
        i += 1
        args = []
        if i < len(tokens) and tokens[i] == "[":
            i += 1
            while True:
                arg, i = parse(i)
                args.append(arg)
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
                    continue
                if i < len(tokens) and tokens[i] == "]":
                    i += 1
                    break
                raise Failure(f"type {text!r}: expected `,` or `]`")
        return build(name, args), i

    def build(name, args):
        simple = {
            "int": int,
            "float": float,
            "bool": bool,
            "str": str,
            "datetime": datetime.datetime,
            "timedelta": datetime.timedelta,
        }
        if name in simple:
            if args:
                raise Failure(f"type {text!r}: {name} takes no parameters")
            return simple[name]
        if name == "List" and len(args) == 1:
            return typing.List[args[0]]
        if name == "Dict" and len(args) == 2 and args[0] is str:
            return typing.Dict[str, args[1]]
        if name == "Optional" and len(args) == 1:
            return typing.Optional[args[0]]
        if name in ("List", "Dict", "Optional"):
            raise Failure(f"type {text!r}: write List[T], Dict[str, T] or Optional[T]")
        module, _, attr = name.rpartition(".")
        if not module:
            raise Failure(f"type {text!r}: unknown type {name!r}")
        try:
            found = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise Failure(f"type {text!r}: cannot import {name}: {e}")
        if not (dataclasses.is_dataclass(found) or (isinstance(found, type) and issubclass(found, enum.Enum))):
            raise Failure(f"type {text!r}: {name} is neither a dataclass nor an Enum")
        if args:
            raise Failure(f"type {text!r}: {name} takes no parameters")
        return found

    tp, end = parse(0)
    if end != len(tokens):
        raise Failure(f"type {text!r}: unexpected {' '.join(tokens[end:])!r} after the type")
    return tp


def json_argument(text, what):
    """A JSON argument: the JSON text itself, or the path of a file holding it."""
    source = text
    if not text.lstrip().startswith(("{", "[")):
        try:
            with open(text) as f:
                source = f.read()
        except OSError as e:
            raise Failure(f"{what}: {text!r} is neither JSON nor a readable file: {e}")
    try:
        return json.loads(source)
    except json.JSONDecodeError as e:
        raise Failure(f"{what}: not JSON: {e}")


def parse_types(text):
    spec = json_argument(text, "TYPES")
    if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
        raise Failure('TYPES: write an object of input names to types, like {"x": "List[int]"}')
    return {name: parse_type(t) for name, t in spec.items()}


def from_json(tp, v, where):
    """A JSON value as the Python value of type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def wrong(expected):
        return Failure(f"{where}: expected {expected}, got {show(v)}")

    if origin is typing.Union:  # Optional[T]
        if v is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return from_json(inner[0], v, where)
    if origin is list:
        if not isinstance(v, list):
            raise wrong("a list")
        return [from_json(args[0], x, f"{where}[{i}]") for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            raise wrong("an object")
        return {k: from_json(args[1], x, f"{where}.{k}") for k, x in v.items()}
    if tp is bool:
        if not isinstance(v, bool):
            raise wrong("true or false")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise wrong("an integer")
        return v
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise wrong("a number")
        return float(v)
    if tp is str:
        if not isinstance(v, str):
            raise wrong("a string")
        return v
    if tp is datetime.datetime:
        if not isinstance(v, str):
            raise wrong("an ISO 8601 date and time")
        try:
            return datetime.datetime.fromisoformat(v)
        except ValueError as e:
            raise Failure(f"{where}: {e}")
    if tp is datetime.timedelta:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise wrong("a number of seconds")
        return datetime.timedelta(seconds=v)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(v)
        except ValueError:
            raise wrong(f"one of {[m.value for m in tp]}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise wrong(f"an object for {tp.__name__}")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        if set(v) != set(names):
            raise wrong(f"exactly the fields {names}")
        return tp(**{n: from_json(hints[n], v[n], f"{where}.{n}") for n in names})
    raise Failure(f"{where}: cannot convert to {tp}")


def to_json(tp, v, where):
    """A Python value of type `tp` as JSON: datetimes in ISO 8601, timedeltas in seconds (a float),
    enums as their value, dataclasses as objects."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        if v is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return to_json(inner[0], v, where)
    if origin is list:
        return [to_json(args[0], x, f"{where}[{i}]") for i, x in enumerate(v)]
    if origin is dict:
        return {k: to_json(args[1], x, f"{where}.{k}") for k, x in v.items()}
    if tp in (bool, int, str):
        if type(v) is not tp:
            raise Failure(f"{where}: flytekit returned {v!r} ({type(v).__name__}), not a {tp.__name__}")
        return v
    if tp is float:
        if not math.isfinite(v):
            raise Failure(f"{where}: {v} has no JSON form")
        return float(v)
    if tp is datetime.datetime:
        return v.isoformat()
    if tp is datetime.timedelta:
        return v.total_seconds()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return v.value
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return {f.name: to_json(hints[f.name], getattr(v, f.name), f"{where}.{f.name}") for f in dataclasses.fields(tp)}
    raise Failure(f"{where}: cannot convert {tp}")


def encode(types_text, values_text, out):
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine

    types = parse_types(types_text)
    values = json_argument(values_text, "VALUES")
    if not isinstance(values, dict) or set(values) != set(types):
        raise Failure(f"VALUES: give exactly the names of TYPES: {sorted(types)}")
    python = {k: from_json(types[k], values[k], k) for k in types}
    ctx = FlyteContextManager.current_context()
    try:
        literal_map = TypeEngine.dict_to_literal_map(ctx, python, types)
    except Exception as e:
        raise Failure(f"flytekit's TypeEngine cannot convert the values: {e!r}")
    with open(out, "wb") as f:
        f.write(literal_map.to_flyte_idl().SerializeToString())


def decode(types_text, path):
    from flyteidl.core import literals_pb2
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine
    from flytekit.models.literals import LiteralMap

    types = parse_types(types_text)
    message = literals_pb2.LiteralMap()
    try:
        with open(path, "rb") as f:
            message.ParseFromString(f.read())
    except OSError as e:
        raise Failure(f"{path}: {e}")
    except Exception as e:
        raise Failure(f"{path}: not a core.LiteralMap: {e}")
    names = set(message.literals)
    if names != set(types):
        raise Failure(f"{path}: holds {sorted(names)}, but TYPES declares {sorted(types)}")
    ctx = FlyteContextManager.current_context()
    try:
        python = TypeEngine.literal_map_to_kwargs(ctx, LiteralMap.from_flyte_idl(message), python_types=types)
    except Exception as e:
        raise Failure(f"{path}: flytekit's TypeEngine cannot read it as {types_text}: {e!r}")
    return {k: to_json(types[k], python[k], k) for k in types}


# ---------------------------------------------------------------------------------------------
# pyflyte package


def package(out, image):
    out = os.path.abspath(out)
    pyflyte = os.path.join(os.path.dirname(sys.executable), "pyflyte")
    cmd = [pyflyte, "--pkgs", "twins", "package", "--image", image, "--output", out, "--force", "--copy", "none"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    count = len(read_package(out))
    print(f"pyflyte package: {count} entities in {out}, {took:.2f} s")


# ---------------------------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(prog="reference.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("package", help="pyflyte package the twins")
    p.add_argument("out")
    p.add_argument("--image", default=DEFAULT_IMAGE)
    p = sub.add_parser("normalize", help="print a package as normalised JSON")
    p.add_argument("package")
    p = sub.add_parser("compare", help="diff two packages after normalising; exit 1 on a difference")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("load", help="load a package through flytekit's model classes")
    p.add_argument("package")
    p = sub.add_parser("edit", help="write a copy of a package with fields changed")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--set", nargs=3, action="append", default=[], metavar=("KEY", "PATH", "JSON"))
    p.add_argument("--rename-root", metavar="NAME")
    p.add_argument("--drop", action="append", default=[], metavar="KEY")
    p = sub.add_parser("encode", help="values (JSON) -> core.LiteralMap, by flytekit's TypeEngine")
    p.add_argument("types")
    p.add_argument("values")
    p.add_argument("out")
    p = sub.add_parser("decode", help="core.LiteralMap -> values (JSON), by flytekit's TypeEngine")
    p.add_argument("types")
    p.add_argument("literal_map")
    args = parser.parse_args(argv)

    try:
        if args.command == "package":
            package(args.out, args.image)
        elif args.command == "normalize":
            print(json.dumps(normalize_package(args.package), indent=2, sort_keys=True))
        elif args.command == "compare":
            lines, count = compare_packages(args.a, args.b)
            for line in lines:
                print(line)
            if lines:
                print(f"{len(lines)} difference(s) between {args.a} (A) and {args.b} (B)")
                return 1
            print(f"no difference in {count} entities")
        elif args.command == "load":
            counts = load_package(args.package)
            print(
                f"loaded {counts['task']} tasks, {counts['workflow']} workflows and "
                f"{counts['launch_plan']} launch plans through flytekit's model classes"
            )
        elif args.command == "edit":
            edit_package(args.src, args.dst, args.set, args.rename_root, args.drop)
        elif args.command == "encode":
            encode(args.types, args.values, args.out)
        elif args.command == "decode":
            print(json.dumps(decode(args.types, args.literal_map), indent=2, sort_keys=True))
    except Failure as e:
        print(f"reference.py {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
