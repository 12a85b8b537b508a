"""User-facing errors: each says, in one sentence, what to change."""


class T5SumError(ValueError):
    """A mistake the user can fix (config, data, paths). The CLI prints it without a traceback."""


class DataSourceError(T5SumError):
    """A dataset could not be loaded or does not have the expected shape."""


class ModelSourceError(T5SumError):
    """A model or tokenizer could not be loaded."""


class ConfigError(T5SumError):
    """The composed configuration is inconsistent."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss; a checkpoint was written before stopping."""
