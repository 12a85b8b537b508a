"""The one prompt builder, shared by training, evaluation and inference (imports nothing heavy)."""

from __future__ import annotations

from t5sum.errors import ConfigError

DOCUMENT_FIELD = "{document}"


def validate_template(template: str) -> None:
    if template.count(DOCUMENT_FIELD) != 1:
        raise ConfigError(
            f"Prompt template {template!r} must contain '{DOCUMENT_FIELD}' exactly once; "
            "fix `model.prompt_template` (e.g. 'summarize: {document}')."
        )


def build_prompt(template: str, document: str) -> str:
    """Fill the template. str.replace, not str.format, so braces inside documents are safe."""
    return template.replace(DOCUMENT_FIELD, document)
