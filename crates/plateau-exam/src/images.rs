//! The role images and the engine's capabilities: thin wrappers so that the
//! CLI and the console reach them through one layer, with progress events.

use std::path::Path;

use plateau_images::{BuildEvent, BuildOutcome, Builder, Catalog, ImageState};

use crate::error::Result;
use crate::progress::{Event, Progress};

/// One image of the catalogue and its state on the engine.
pub struct ImageRow {
    pub name: String,
    pub tag: String,
    pub state: ImageState,
}

/// Build images (all when `names` is empty); unchanged ones are not rebuilt.
pub async fn build_images(dir: &Path, names: &[String], progress: &dyn Progress) -> Result<Vec<BuildOutcome>> {
    let builder = Builder::connect(Catalog::load(dir)?).await?;
    Ok(builder.build(names, &mut reporter(progress)).await?)
}

/// Build a role's VM image (and the images it is made of) unless it is current.
pub async fn build_vm_image(dir: &Path, role: &str, progress: &dyn Progress) -> Result<BuildOutcome> {
    let builder = Builder::connect(Catalog::load(dir)?).await?;
    Ok(builder.build_vm(role, &mut reporter(progress)).await?)
}

/// Make a centre's own disk image a VM image (`plateau/vm-NAME`).
pub async fn import_vm_image(dir: &Path, name: &str, disk: &Path, progress: &dyn Progress) -> Result<BuildOutcome> {
    let builder = Builder::connect(Catalog::load(dir)?).await?;
    Ok(builder.import_vm(name, disk, &mut reporter(progress)).await?)
}

fn reporter(progress: &dyn Progress) -> impl FnMut(BuildEvent<'_>) + '_ {
    move |event: BuildEvent<'_>| match event {
        BuildEvent::UpToDate { image, tag } => progress.done(format!("up to date  {image:<12} {tag}")),
        BuildEvent::Started { image, .. } => progress.note(format!("building    {image}")),
        BuildEvent::Output { line, .. } => progress.event(Event::Output { line: line.to_string() }),
        BuildEvent::Finished { image, tag, seconds } => {
            progress.done(format!("built       {image:<12} {tag} in {seconds:.1} s"))
        }
    }
}

/// Every image of the catalogue and whether it is built at its current hash.
pub async fn list_images(dir: &Path) -> Result<Vec<ImageRow>> {
    let builder = Builder::connect(Catalog::load(dir)?).await?;
    let mut rows = Vec::new();
    for spec in &builder.known().await? {
        rows.push(ImageRow { name: spec.name.clone(), tag: spec.tag(), state: builder.state(spec).await? });
    }
    Ok(rows)
}

/// Remove images built from older contexts; the tags removed.
pub async fn prune_images(dir: &Path) -> Result<Vec<String>> {
    let builder = Builder::connect(Catalog::load(dir)?).await?;
    Ok(builder.prune_stale().await?)
}
