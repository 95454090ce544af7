//! The human form of a [`Plan`]: one block per batch, argv as a JSON array so that spaces,
//! quotes and empty elements stay visible.

use std::fmt::Write as _;

use super::{Action, BatchPlan, ContainerPlan, Destination, Plan};

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::ReceiveFile => "receive-file",
        Action::ReceiveDir => "receive-dir",
        Action::MountDir => "mount-dir",
    }
}

fn stream(stream: Option<&String>) -> String {
    stream
        .cloned()
        .unwrap_or_else(|| "captured by red (outside /cc/outputs)".into())
}

/// Render a plan for people.
#[must_use]
pub fn render_human(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} batch{} (argv mode: {})",
        plan.batches.len(),
        if plan.batches.len() == 1 { "" } else { "es" },
        plan.mode.name()
    );
    for batch in &plan.batches {
        let _ = writeln!(out, "\nbatch {}", batch.index);
        let _ = writeln!(out, "  argv: {}", json(&batch.argv));
        render_container(&mut out, &batch.container);
        render_inputs(&mut out, batch);
        render_outputs(&mut out, batch);
        let _ = writeln!(out, "  stdout: {}", stream(batch.stdout.as_ref()));
        let _ = writeln!(out, "  stderr: {}", stream(batch.stderr.as_ref()));
    }
    out
}

/// A batch's `container:` block: image, limits, user, network and mounts.
fn render_container(out: &mut String, c: &ContainerPlan) {
    let _ = writeln!(out, "  container:");
    let _ = writeln!(out, "    engine:      {}", c.engine);
    let _ = writeln!(out, "    image:       {}", c.image);
    if let Some(auth) = &c.image_auth {
        let _ = writeln!(out, "    image auth:  {}", json(auth));
    }
    let _ = writeln!(
        out,
        "    ram:         {}",
        c.ram_mb
            .map_or_else(|| "unlimited".into(), |mb| format!("{mb} MB, no swap"))
    );
    let _ = writeln!(
        out,
        "    gpus:        {}",
        c.gpus.as_ref().map_or_else(|| "none".into(), json)
    );
    let _ = writeln!(
        out,
        "    user:        {}",
        if c.user == "invoking" {
            "the uid:gid of whoever runs red"
        } else {
            c.user.as_str()
        }
    );
    let _ = writeln!(out, "    working dir: {}", c.working_dir);
    let _ = writeln!(out, "    network:     {}", c.network);
    let _ = writeln!(out, "    mounts:");
    for mount in &c.mounts {
        let _ = writeln!(
            out,
            "      {} <- {} ({})",
            mount.target,
            mount.source,
            if mount.read_only {
                "read-only"
            } else {
                "read-write"
            }
        );
    }
}

/// A batch's `inputs:` block: how each input arrives and with which access.
fn render_inputs(out: &mut String, batch: &BatchPlan) {
    let _ = writeln!(
        out,
        "  inputs:{}",
        if batch.inputs.is_empty() { " none" } else { "" }
    );
    for input in &batch.inputs {
        let _ = writeln!(
            out,
            "    {}: {} with `{}` -> {}",
            input.name,
            action_name(input.action),
            input.connector,
            input.target
        );
        let _ = writeln!(out, "      access: {}", json(&input.access));
    }
}

/// A batch's `outputs:` block: each output's glob and where it goes.
fn render_outputs(out: &mut String, batch: &BatchPlan) {
    let _ = writeln!(
        out,
        "  outputs:{}",
        if batch.outputs.is_empty() {
            " none"
        } else {
            ""
        }
    );
    for output in &batch.outputs {
        let destination = match &output.destination {
            Destination::Directory { path } => format!("copied to {path}/"),
            Destination::Connector {
                command,
                action,
                access,
                ..
            } => format!("{action} with `{command}`, access {}", json(access)),
            Destination::Discarded => "checked, not kept (no output connector)".into(),
        };
        let _ = writeln!(
            out,
            "    {}: {}{} glob `{}` -> {}",
            output.name,
            output.class,
            if output.optional { "?" } else { "" },
            output.glob,
            destination
        );
    }
}
