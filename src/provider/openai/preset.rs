//! The OpenAI-speaking provider kinds, as one table of data: how each
//! authenticates, where its endpoints are, and the few fields it names
//! differently or refuses.
//!
//! Base URLs are not here: they are [`ProviderKind::default_base`] or the
//! route file's `base`.

use crate::plan::ProviderKind;
use crate::provider::rules::Action;

/// How the provider key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key as the value of this header (Azure: `api-key`).
    Header(&'static str),
}

/// Where the endpoints are under the base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlShape {
    /// `{base}/chat/completions`, `{base}/embeddings`; the model in the body.
    Plain,
    /// Azure OpenAI: `base` is the resource endpoint
    /// (`https://<resource>.openai.azure.com`), the model is the deployment:
    /// `{base}/openai/deployments/{model}/chat/completions?api-version=…`.
    /// A base that ends in `/openai/v1` is Azure's v1 API instead, which is
    /// [`UrlShape::Plain`] (model in the body, no `api-version`).
    AzureDeployment,
}

/// Everything that differs between OpenAI-speaking kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    pub kind: ProviderKind,
    pub auth: Auth,
    pub url: UrlShape,
    /// Local servers run without a key; a call without one sends no auth header.
    pub key_optional: bool,
    /// The field a canonical request's `max_tokens` is sent as.
    pub max_tokens_field: &'static str,
    /// Whether to ask for usage on streams (`stream_options.include_usage`).
    pub stream_usage: bool,
    /// Whether the kind takes `top_k` (OpenAI itself refuses it).
    pub top_k: bool,
    /// Changes every request to this kind needs (applied after the body is
    /// built, and on the fast path).
    pub actions: &'static [Action],
}

/// The `api-version` sent to Azure when the provider names none: the
/// latest generally available version of the data-plane inference API.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// Mistral validates bodies strictly (422 `extra_forbidden`): it calls the
/// seed `random_seed` and knows neither `max_completion_tokens`,
/// `stream_options` (it sends usage on streams anyway), `metadata` nor `user`.
const MISTRAL: &[Action] = &[
    Action::Rename("seed", "random_seed"),
    Action::Rename("max_completion_tokens", "max_tokens"),
    Action::Drop("stream_options"),
    Action::Drop("metadata"),
    Action::Drop("user"),
];

const fn preset(kind: ProviderKind) -> Preset {
    Preset {
        kind,
        auth: Auth::Bearer,
        url: UrlShape::Plain,
        key_optional: false,
        max_tokens_field: "max_tokens",
        stream_usage: true,
        top_k: false,
        actions: &[],
    }
}

const fn local(kind: ProviderKind) -> Preset {
    Preset {
        key_optional: true,
        top_k: true,
        ..preset(kind)
    }
}

/// One row per OpenAI-speaking kind.
pub static PRESETS: [Preset; 13] = [
    Preset {
        key_optional: true,
        ..preset(ProviderKind::OpenaiCompatible)
    },
    // `max_tokens` is deprecated there in favour of `max_completion_tokens`,
    // which every model takes.
    Preset {
        max_tokens_field: "max_completion_tokens",
        ..preset(ProviderKind::Openai)
    },
    Preset {
        auth: Auth::Header("api-key"),
        url: UrlShape::AzureDeployment,
        ..preset(ProviderKind::Azure)
    },
    Preset {
        top_k: true,
        ..preset(ProviderKind::Openrouter)
    },
    preset(ProviderKind::Groq),
    Preset {
        stream_usage: false,
        actions: MISTRAL,
        ..preset(ProviderKind::Mistral)
    },
    Preset {
        top_k: true,
        ..preset(ProviderKind::Together)
    },
    preset(ProviderKind::Deepseek),
    Preset {
        top_k: true,
        ..preset(ProviderKind::Fireworks)
    },
    local(ProviderKind::Ollama),
    local(ProviderKind::Vllm),
    local(ProviderKind::Lmstudio),
    local(ProviderKind::Localai),
];

/// The preset of `kind` (a kind that does not speak OpenAI gets the
/// generic OpenAI-compatible one).
pub fn preset_for(kind: ProviderKind) -> &'static Preset {
    PRESETS
        .iter()
        .find(|p| p.kind == kind)
        .unwrap_or(&PRESETS[0])
}
