//! `plateau images build|list|prune` and `plateau doctor`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use plateau_exam::{ImageState, Progress};

use crate::render::Render;
use crate::status;

#[derive(Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    command: ImagesCommand,
    /// Folder holding the image contexts.
    #[arg(long, global = true, default_value = "images")]
    dir: PathBuf,
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build images (all when none is named); unchanged images are not rebuilt.
    Build {
        /// Image names, e.g. `dc dhcp`; their parent (`base`) comes along.
        images: Vec<String>,
        /// Only the images these scenarios' machines run (and the access
        /// relay's), e.g. `--for scenarios/tai-small.toml`: a first exam
        /// need not wait for every role's image.
        #[arg(long = "for", value_name = "SCENARIO")]
        scenarios: Vec<PathBuf>,
        /// Also build these roles' VM images (`plateau/vm-ROLE`: the role's
        /// image with a kernel, as a disk QEMU boots), e.g. `--vm workstation`.
        #[arg(long, value_name = "ROLE")]
        vm: Vec<String>,
        /// Print every line of build output instead of a progress line.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Make the centre's own disk image a VM image (`plateau/vm-NAME`) that
    /// scenarios name with `image`: a sysprepped Windows with WinRM on
    /// (see docs/windows.md). Plateau ships and downloads no Windows image.
    ImportVm {
        /// The image's name: `plateau/vm-NAME`.
        name: String,
        /// The disk image (qcow2, raw, vmdk, vhdx: what `qemu-img` reads).
        disk: PathBuf,
    },
    /// Show which images are built at their current content hash, stale or missing.
    List,
    /// Remove images built from older contexts.
    Prune,
}

pub async fn images(args: ImagesArgs) -> Result<u8> {
    match args.command {
        ImagesCommand::Build { mut images, scenarios, mut vm, verbose } => {
            for path in &scenarios {
                let scenario = crate::scenario_cmds::load(path)?
                    .map_err(|report| anyhow::anyhow!("{}", report.render(crate::scenario_cmds::color()).trim_end()))?;
                let (containers, vms) = images_for(&scenario);
                images.extend(containers);
                vm.extend(vms);
            }
            let render = Render::lines().verbose(verbose);
            render.stage("image build", 0);
            // `--vm ROLE` alone builds what that VM needs, not every image.
            let mut outcomes = match (images.is_empty(), vm.is_empty()) {
                (true, false) => Vec::new(),
                _ => plateau_exam::build_images(&args.dir, &images, &render).await?,
            };
            for role in &vm {
                outcomes.push(plateau_exam::build_vm_image(&args.dir, role, &render).await?);
            }
            drop(render);
            let rebuilt = outcomes.iter().filter(|o| o.rebuilt).count();
            println!("{} image(s): {rebuilt} built, {} up to date", outcomes.len(), outcomes.len() - rebuilt);
        }
        ImagesCommand::ImportVm { name, disk } => {
            let render = Render::lines();
            render.stage("vm import", 0);
            let outcome = plateau_exam::import_vm_image(&args.dir, &name, &disk, &render).await?;
            drop(render);
            let how = if outcome.rebuilt { "imported" } else { "already imported" };
            println!(
                "{how}: {} ({:.0} MB); name it in a scenario with `image = \"plateau/vm-{name}\"`",
                outcome.tag,
                outcome.size_bytes as f64 / 1e6
            );
        }
        ImagesCommand::List => list(&args.dir).await?,
        ImagesCommand::Prune => {
            for tag in plateau_exam::prune_images(&args.dir).await? {
                println!("removed {tag}");
            }
        }
    }
    Ok(status::OK)
}

async fn list(dir: &std::path::Path) -> Result<()> {
    let mut table = crate::render::table(&["image", "tag", "state", "size"]);
    let mut missing = 0;
    for row in plateau_exam::list_images(dir).await? {
        let (state, size) = match row.state {
            ImageState::Current { size_bytes } => ("built".to_string(), format!("{:.0} MB", size_bytes as f64 / 1e6)),
            ImageState::Stale { tags } => {
                missing += 1;
                (format!("stale (have {})", tags.join(", ")), "-".into())
            }
            ImageState::Missing => {
                missing += 1;
                ("missing".into(), "-".into())
            }
        };
        table.add_row([row.name, row.tag, state, size]);
    }
    println!("{table}");
    if missing > 0 {
        println!("{missing} image(s) to build: run `plateau images build`");
    }
    Ok(())
}

/// The images a scenario's machines run, by catalogue name (the access
/// relay's too), and its VM nodes' roles.
fn images_for(scenario: &plateau_scenario::Scenario) -> (Vec<String>, Vec<String>) {
    use plateau_scenario::model::Backend;
    let mut containers = vec!["access".to_string()];
    let mut vms = Vec::new();
    for node in &scenario.file().nodes {
        let image = plateau_scenario::image_for(node);
        let Some(name) = image.strip_prefix("plateau/") else { continue };
        let name = name.split(':').next().unwrap_or(name).to_string();
        match (node.backend, name.strip_prefix("vm-")) {
            (Backend::Vm, Some(role)) if node.image.is_none() => vms.push(role.to_string()),
            (Backend::Container, _) => containers.push(name),
            _ => {}
        }
    }
    containers.sort();
    containers.dedup();
    vms.sort();
    vms.dedup();
    (containers, vms)
}
