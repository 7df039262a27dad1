"""The one exception type for bad input that a user can fix; the CLI prints it as one line."""


class PgrlError(ValueError):
    """Bad input (env id, space, hyperparameter, run directory, checkpoint).

    The message says what was wrong and what to do; the CLI prints it and exits with status 2.
    """
