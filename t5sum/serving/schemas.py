"""The /score contract: `{"text": str}` -> `{"summary": str}`, `{"texts": [...]}` -> `{"summaries"}`."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)


class Parameters(BaseModel):
    """Per-request generation overrides; each is clamped to the server's configured ceiling."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: StrictInt | None = Field(None, ge=1)
    min_new_tokens: StrictInt | None = Field(None, ge=0)
    num_beams: StrictInt | None = Field(None, ge=1)
    length_penalty: StrictFloat | StrictInt | None = None
    no_repeat_ngram_size: StrictInt | None = Field(None, ge=0)
    early_stopping: StrictBool | None = None
    repetition_penalty: StrictFloat | StrictInt | None = Field(None, gt=0)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "#Person1#: Hi, how are you? #Person2#: Fine, thanks."}]},
    )

    text: StrictStr | None = Field(None, description="one document")
    texts: list[StrictStr] | None = Field(None, description="several documents, summarized together")
    parameters: Parameters | None = None

    @model_validator(mode="after")
    def exactly_one_input(self) -> ScoreRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('send exactly one of "text" (a string) or "texts" (a list of strings)')
        documents = [self.text] if self.text is not None else self.texts or []
        if not documents:
            raise ValueError('"texts" is empty: send at least one document')
        empty = [i for i, doc in enumerate(documents) if not doc.strip()]
        if empty:
            where = "text" if self.text is not None else f"texts at positions {empty}"
            raise ValueError(f"{where} empty or whitespace only: nothing to summarize")
        return self

    @property
    def documents(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class SummaryResponse(BaseModel):
    summary: str


class SummariesResponse(BaseModel):
    summaries: list[str]


class ErrorResponse(BaseModel):
    detail: str
