//! What a job is created with: the file's names and the options the user chose, as the body of
//! `POST /api/predict` that every front-end version reads (docs/kiosk.md, "What the front end
//! receives").

/// A model served by the Kiosk's TensorFlow Serving: `name:version` on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The model's name.
    pub name: String,
    /// Its version (digits).
    pub version: String,
}

impl Model {
    /// Read `NAME:VERSION` (the version a whole number), as kiosk-client takes `--model`.
    ///
    /// # Errors
    /// A message naming the form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let form = "give `NAME:VERSION`, e.g. `NuclearSegmentation:0` (the version a whole number)";
        let (name, version) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not a model: {form}"))?;
        if name.is_empty()
            || version.is_empty()
            || !version.bytes().all(|b| b.is_ascii_digit())
            || name.contains(':')
        {
            return Err(format!("`{text}` is not a model: {form}"));
        }
        Ok(Self {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.version)
    }
}

/// What the user chooses for every job of a run, beyond its file; each is sent empty when not
/// given, which the Kiosk reads as "the job type's default" (or "detect").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobOptions {
    /// Rescale factor (empty: detect).
    pub scale: Option<String>,
    /// Channels, comma-separated.
    pub channels: Option<String>,
    /// The model (none: the job type's own).
    pub model: Option<Model>,
    /// The pre-processing function (none: the job type's own).
    pub preprocess: Option<String>,
    /// The post-processing function (none: the job type's own).
    pub postprocess: Option<String>,
    /// The data type label, `0`, `1` or `2` (none: detect).
    pub label: Option<String>,
}

/// What a new job is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRequest {
    /// The queue (`mesmer`, `segmentation`, …).
    pub job_type: String,
    /// The original file name (its basename; `.zip` selects the zip queue).
    pub image_name: String,
    /// The bucket key the upload answered.
    pub uploaded_name: String,
    /// What the user chose for every job.
    pub options: JobOptions,
}

impl JobRequest {
    /// The JSON body. Scale and channels go in both parameter styles (`dataRescale`/`channels`
    /// up to front end 0.9, `jobForm{scale, selectedChannels}` from 0.10), so every front-end
    /// version reads them; model, functions and label have one name in every version.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let options = &self.options;
        let (scale, channels) = (text(&options.scale), text(&options.channels));
        let (model_name, model_version) = options
            .model
            .as_ref()
            .map(|m| (m.name.clone(), m.version.clone()))
            .unwrap_or_default();
        serde_json::json!({
            "jobType": self.job_type,
            "imageName": self.image_name,
            "uploadedName": self.uploaded_name,
            "modelName": model_name,
            "modelVersion": model_version,
            "preprocessFunction": text(&options.preprocess),
            "postprocessFunction": text(&options.postprocess),
            "dataRescale": scale,
            "dataLabel": text(&options.label),
            "channels": channels,
            "jobForm": {
                "scale": scale,
                "selectedChannels": channels,
                "dimensionOrder": "",
                "segmentationType": "",
            },
        })
    }
}
