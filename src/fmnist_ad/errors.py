"""The errors that mean "bad input, here is the fix" (as opposed to bugs): stages print them
as one message and exit 2 instead of a traceback.

Every such error derives from :class:`UserError`, which lives in this import-free module so
that a stage can catch them all without importing the modules that raise them elsewhere
(torch and Lightning take seconds to import, and most stages need neither).
"""


class UserError(Exception):
    """Bad input (a param, a file, a checkpoint) with a message that names the fix."""


class MissingInputError(UserError, FileNotFoundError):
    """An input the pipeline makes is missing; the message names the stage that makes it.

    Any other ``FileNotFoundError`` is a bug and keeps its traceback."""


#: what a stage reports as a one-paragraph message (exit 2) instead of a traceback
USER_ERRORS: tuple[type[BaseException], ...] = (UserError,)
