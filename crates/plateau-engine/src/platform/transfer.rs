//! Images reach an engine of the site file without a registry: streamed
//! from this host's engine (`docker save` into `docker load`, through both
//! APIs), each only when the engine lacks it or holds another build of it
//! (image ids are content hashes: equal ids, equal images).

use futures_util::StreamExt;

use super::DockerEngine;
use crate::Error;

impl DockerEngine {
    /// Bring `images` to `to` as they are here; the names sent.
    pub async fn send_images(&self, to: &DockerEngine, images: &[String]) -> Result<Vec<String>, Error> {
        let mut sent = Vec::new();
        for image in images {
            let here = self
                .docker
                .inspect_image(image)
                .await
                .map_err(|_| Error::MissingImage { image: image.clone(), command: "plateau images build".into() })?;
            let there = to.docker.inspect_image(image).await.ok();
            if there.is_some_and(|t| t.id == here.id) {
                continue;
            }
            let fail = |message: String| Error::Engine(format!("sending {image} to another engine: {message}"));
            // A read error ends the stream early: the engine then refuses
            // the truncated archive, and says so below.
            let body = self.docker.export_images(&[image.as_str()]).filter_map(|chunk| async move { chunk.ok() });
            let options = bollard::query_parameters::ImportImageOptions { quiet: true, ..Default::default() };
            let mut loading = to.docker.import_image_stream(options, body, None);
            while let Some(item) = loading.next().await {
                if let Some(error) = item.map_err(|e| fail(e.to_string()))?.error {
                    return Err(fail(error));
                }
            }
            sent.push(image.clone());
        }
        Ok(sent)
    }
}
