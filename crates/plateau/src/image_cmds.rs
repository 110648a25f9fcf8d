//! `plateau images build|list|prune`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use plateau_images::{BuildEvent, Builder, Catalog, ImageState};

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
        /// Print every line of build output instead of a progress line.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Show which images are built at their current content hash, stale or missing.
    List,
    /// Remove images built from older contexts.
    Prune,
}

pub async fn images(args: ImagesArgs) -> Result<u8> {
    let catalog = Catalog::load(&args.dir)?;
    let builder = Builder::connect(catalog).await?;
    match args.command {
        ImagesCommand::Build { images, verbose } => build(&builder, &images, verbose).await,
        ImagesCommand::List => list(&builder).await,
        ImagesCommand::Prune => {
            for tag in builder.prune_stale().await? {
                println!("removed {tag}");
            }
            Ok(status::OK)
        }
    }
}

async fn build(builder: &Builder, images: &[String], verbose: bool) -> Result<u8> {
    let bar = if verbose { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed} {wide_msg}")?);
    bar.enable_steady_tick(Duration::from_millis(120));
    // A hidden bar (verbose mode, or output not a terminal) swallows println.
    let say = |line: String| if bar.is_hidden() { println!("{line}") } else { bar.println(line) };
    let mut on_event = |event: BuildEvent<'_>| match event {
        BuildEvent::UpToDate { image, tag } => say(format!("up to date  {image:<12} {tag}")),
        BuildEvent::Started { image, .. } => {
            bar.set_prefix(image.to_string());
            bar.reset_elapsed();
        }
        BuildEvent::Output { image, line } => {
            if verbose {
                println!("[{image}] {line}");
            }
            bar.set_message(line.chars().take(100).collect::<String>());
        }
        BuildEvent::Finished { image, tag, seconds } => {
            bar.println(format!("built       {image:<12} {tag} in {seconds:.1} s"))
        }
    };
    let outcomes = builder.build(images, &mut on_event).await;
    bar.finish_and_clear();
    let outcomes = outcomes?;
    let rebuilt = outcomes.iter().filter(|o| o.rebuilt).count();
    println!("{} image(s): {rebuilt} built, {} up to date", outcomes.len(), outcomes.len() - rebuilt);
    Ok(status::OK)
}

async fn list(builder: &Builder) -> Result<u8> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(["image", "tag", "state", "size"]);
    let mut missing = 0;
    for spec in &builder.catalog().images {
        let (state, size) = match builder.state(spec).await? {
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
        table.add_row([spec.name.clone(), spec.tag(), state, size]);
    }
    println!("{table}");
    if missing > 0 {
        println!("{missing} image(s) to build: run `plateau images build`");
    }
    Ok(status::OK)
}

pub async fn doctor(json: bool) -> Result<u8> {
    let report = plateau_engine::doctor::run("plateau/base:latest").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(status::OK);
    }
    println!(
        "Docker engine {} (API {}), storage driver {}, cgroup {}",
        report.engine_version, report.api_version, report.storage_driver, report.cgroup_version
    );
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header([
        "capability",
        "here",
        "seen",
        "what it means",
    ]);
    for f in &report.findings {
        table.add_row([
            f.name.clone(),
            if f.available { "yes" } else { "no" }.to_string(),
            f.detail.clone(),
            f.consequence.clone(),
        ]);
    }
    println!("{table}");
    Ok(status::OK)
}
